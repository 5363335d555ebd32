// The one piece of bun:test these tests use, so `tsc` checks them without Bun's types installed.
declare module "bun:test" {
  export function test(name: string, fn: () => unknown, timeoutMs?: number): void;
}

/**
 * The runtime's built-in modules where it offers them without an import:
 * Node ≥ 20.16, Bun and Deno expose them through `process.getBuiltinModule`,
 * asked for by bare id so that no `node:` string lands in edge bundles. This
 * is feature detection, like looking for `CompressionStream`; callers keep a
 * portable path for runtimes (workerd, browsers) that have none.
 */

/** A built-in module by id, or `undefined` where the runtime has none or a sandbox refuses it. */
export function builtinModule<T>(id: "crypto" | "zlib"): T | undefined {
  try {
    const process = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    return process?.getBuiltinModule?.(id) as T | undefined;
  } catch {
    return undefined;
  }
}


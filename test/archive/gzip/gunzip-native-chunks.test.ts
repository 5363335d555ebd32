/** The native gunzip gathers small input chunks, so tiny chunks do not cost a thread-pool round trip each. */
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, test, vi } from "vitest";
import { createGunzipStream } from "../../../src/archive/gzip/gzip.ts";
import { collect, streamOf } from "../helpers.ts";

interface Zlib {
  createGunzip(...args: unknown[]): { write(...args: unknown[]): boolean };
}
const getBuiltinModule = process.getBuiltinModule.bind(process);
afterEach(() => {
  vi.restoreAllMocks();
});

/** Counts the writes into the runtime's zlib inflater, each of which is one trip to the thread pool. */
function countWrites(): () => number {
  let writes = 0;
  const zlib = getBuiltinModule("zlib") as unknown as Zlib;
  const counting: Zlib = {
    createGunzip(...args) {
      const inflater = zlib.createGunzip(...args);
      const write = inflater.write.bind(inflater);
      inflater.write = (...w: unknown[]) => {
        writes++;
        return write(...w);
      };
      return inflater;
    },
  };
  vi.spyOn(process, "getBuiltinModule").mockImplementation(((id: string) =>
    id === "zlib" ? counting : getBuiltinModule(id)) as typeof process.getBuiltinModule);
  return () => writes;
}

describe('createGunzipStream({ engine: "native" }) with small chunks', () => {
  test.each([
    { title: "7-byte chunks are gathered into 256 KiB writes, and decode to the same bytes", size: 300_000, chunk: 7 },
    { title: "a large chunk is written in 256 KiB pieces, its rest gathered with what follows", size: 700_000, chunk: 300_000 },
  ])("$title", async ({ size, chunk }) => {
    const input = new Uint8Array(randomBytes(size));
    const packed = new Uint8Array(gzipSync(input));
    const writes = countWrites();
    const out = await collect(streamOf(packed, chunk).pipeThrough(createGunzipStream({ engine: "native" })));
    expect(Buffer.from(out).equals(input)).toBe(true);
    expect(writes()).toBe(Math.ceil(packed.length / (256 << 10)));
  });
});

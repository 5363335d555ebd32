/**
 * The native decoder inflates the members our writer makes (each records its
 * own length) two at a time, and hands anything else to the sequential
 * decoder. These tests read real zlib and GNU gzip output beside ours, count
 * the inflaters really running at once, and feed it lying length fields.
 */
import { spawnSync } from "node:child_process";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createGunzipStream, createGzipStream } from "../../../src/archive/gzip/gzip.ts";
import { concatBytes } from "../../../src/util/bytes.ts";
import { InvalidArchiveError } from "../../../src/util/errors.ts";
import { collect, pseudoRandom, sha256, streamOf } from "../helpers.ts";

const MiB = 1 << 20;
const getBuiltinModule = process.getBuiltinModule.bind(process);
afterEach(() => {
  vi.restoreAllMocks();
});

/** Text that deflates ~4× (so members really inflate), `size` bytes. */
function text(size: number, seed = 1): Uint8Array {
  const words = ["weight", "bias", "layer", "kernel", "token", "vocab", "embedding", "attention", "norm"];
  const random = pseudoRandom(size, seed);
  let s = "";
  for (let i = 0; s.length < size; i++) s += words[random[i % random.length] % words.length] + (random[(i * 31) % random.length] & 1 ? " " : "\n");
  return new TextEncoder().encode(s.slice(0, size));
}

async function ours(input: Uint8Array): Promise<Uint8Array> {
  return collect(streamOf(input, 1 << 20).pipeThrough(createGzipStream({ engine: "native" })));
}

async function gunzip(packed: Uint8Array, chunk = 100_003, parallel = true): Promise<Uint8Array> {
  return collect(streamOf(packed, chunk).pipeThrough(createGunzipStream({ engine: "native", parallel })));
}

/** Offsets and lengths of the members of `packed`, from their "ML" fields. */
function members(packed: Uint8Array): { at: number; size: number }[] {
  const out: { at: number; size: number }[] = [];
  const view = new DataView(packed.buffer, packed.byteOffset, packed.length);
  for (let at = 0; at < packed.length; ) {
    expect([packed[at], packed[at + 1], packed[at + 3], packed[at + 12], packed[at + 13]]).toEqual([0x1f, 0x8b, 4, 0x4d, 0x4c]);
    const size = view.getUint32(at + 16, true);
    out.push({ at, size });
    at += size;
  }
  return out;
}

/** Counts the inflates on the runtime's zlib (streams and one-shot calls) that run at the same time, at most. */
function countConcurrentInflaters(): () => number {
  const zlib = getBuiltinModule("zlib") as typeof import("node:zlib");
  let running = 0;
  let most = 0;
  const counting = {
    ...zlib,
    createGunzip(options?: import("node:zlib").ZlibOptions) {
      const inflater = zlib.createGunzip(options);
      most = Math.max(most, ++running);
      inflater.once("close", () => running--);
      return inflater;
    },
    gunzip(bytes: Uint8Array, options: import("node:zlib").ZlibOptions, callback: (...args: unknown[]) => void) {
      most = Math.max(most, ++running);
      zlib.gunzip(bytes, options, (...args: unknown[]) => {
        running--;
        callback(...args);
      });
    },
  };
  vi.spyOn(process, "getBuiltinModule").mockImplementation(((id: string) =>
    id === "zlib" ? counting : getBuiltinModule(id)) as typeof process.getBuiltinModule);
  return () => most;
}

describe("createGunzipStream: our members in parallel", () => {
  it("every member records its own length, and the lengths tile the file", async () => {
    const input = text(10 * MiB);
    const packed = await ours(input);
    const found = members(packed);
    expect(found.length).toBe(3); // 4 MiB blocks
    expect(found.reduce((n, m) => n + m.size, 0)).toBe(packed.length);
    // GNU gzip reads the extra field as any gzip reader does: by skipping it.
    const gnu = spawnSync("/usr/bin/gzip", ["-dc"], { input: packed, maxBuffer: 64 * MiB });
    expect(gnu.status).toBe(0);
    expect(sha256(gnu.stdout)).toBe(sha256(input));
  });

  it("inflates three members at once and passes the bytes on in order, whatever the chunking", async () => {
    const input = text(14 * MiB, 3);
    const packed = await ours(input);
    for (const chunk of [7, 65_536, 1_000_003, packed.length]) {
      const most = countConcurrentInflaters();
      const out = await gunzip(packed, chunk);
      expect(sha256(out), `chunk ${chunk}`).toBe(sha256(input));
      expect(most(), `chunk ${chunk}`).toBe(3);
      vi.restoreAllMocks();
    }
    // The sequential decoder, for comparison: one inflater.
    const most = countConcurrentInflaters();
    expect(sha256(await gunzip(packed, 65_536, false))).toBe(sha256(input));
    expect(most()).toBe(1);
  });

  it("hands the rest to the sequential decoder at a member without a length: ours then zlib's, and zlib's then ours", async () => {
    const a = text(9 * MiB, 5);
    const b = text(3 * MiB, 6);
    const plain = new Uint8Array(gzipSync(b));
    for (const [packed, expected] of [
      [concatBytes([await ours(a), plain]), concatBytes([a, b])],
      [concatBytes([plain, await ours(a)]), concatBytes([b, a])],
    ] as const) {
      for (const chunk of [1000, 1 << 20]) expect(sha256(await gunzip(packed, chunk))).toBe(sha256(expected));
    }
  });

  it("accepts zero padding after the last member and refuses anything else there", async () => {
    const input = text(5 * MiB, 7);
    const packed = await ours(input);
    expect(sha256(await gunzip(concatBytes([packed, new Uint8Array(10_240)])))).toBe(sha256(input));
    const garbage = concatBytes([packed, new Uint8Array(100), Uint8Array.of(1)]);
    await expect(gunzip(garbage)).rejects.toThrow(/unexpected data after the last gzip member/);
  });

  it("refuses a stream cut anywhere, with InvalidArchiveError", async () => {
    const packed = await ours(text(9 * MiB, 8));
    const bounds = members(packed).map((m) => m.at);
    for (const cut of [5, 15, 25, bounds[1] - 3, bounds[1] + 4, bounds[1] + 19, bounds[2] + 1000, packed.length - 1]) {
      const error = await gunzip(packed.subarray(0, cut)).catch((e: unknown) => e);
      expect(error, `cut at ${cut}`).toBeInstanceOf(InvalidArchiveError);
      expect((error as Error).message, `cut at ${cut}`).toMatch(/truncated gzip stream/);
    }
  });

  it("a length field that lies is refused or decodes to the true bytes, never to other bytes", async () => {
    const input = text(9 * MiB, 9);
    const packed = await ours(input);
    const [first, second] = members(packed);
    const lying = (size: number) => {
      const copy = packed.slice();
      new DataView(copy.buffer).setUint32(first.at + 16, size, true);
      return copy;
    };
    const outcome = (bytes: Uint8Array) => gunzip(bytes).then(sha256, (e: unknown) => e);
    const refusedOrTrue = (result: unknown, size: number) => {
      if (typeof result === "string") expect(result, `size ${size}`).toBe(sha256(input));
      else expect(result, `size ${size}`).toBeInstanceOf(InvalidArchiveError);
    };
    // Shorter than the member: the last four bytes before the cut are read as the
    // size it inflates to. When that is more than ours ever are, the member goes to
    // the sequential decoder, which ignores the field: the true bytes.
    for (const size of [first.size - 1, first.size - 100_000, 40]) refusedOrTrue(await outcome(lying(size)), size);
    // The same cuts with a plausible size before them: inflated in parallel and refused.
    for (const size of [first.size - 1, first.size - 100_000, 40]) {
      const bytes = lying(size);
      new DataView(bytes.buffer).setUint32(size - 4, 1 << 20, true);
      expect(await outcome(bytes), `size ${size}`).toBeInstanceOf(InvalidArchiveError);
    }
    // Longer: bytes of the next member are inflated as if they belonged to this one.
    for (const size of [first.size + 1, first.size + 1000, first.size + second.size]) refusedOrTrue(await outcome(lying(size)), size);
    expect(await outcome(lying(first.size + second.size))).toBeInstanceOf(InvalidArchiveError); // two members' output, one's trailer
    // Below the smallest member, or above what we ever write: decoded sequentially, correctly.
    for (const size of [0, 12, 64 * MiB, 0xffffffff]) expect(await outcome(lying(size)), `size ${size}`).toBe(sha256(input));
  });

  it("a member whose trailer understates what it inflates to is refused before the excess is kept", async () => {
    const input = text(4 * MiB, 10);
    const packed = await ours(input);
    expect(members(packed).length).toBe(1);
    const understated = packed.slice();
    new DataView(understated.buffer).setUint32(understated.length - 4, 1000, true); // ISIZE
    await expect(gunzip(understated)).rejects.toThrow(/length mismatch/);
  });

  it("flipped bits inside a member are refused with InvalidArchiveError", async () => {
    const packed = await ours(text(9 * MiB, 11));
    const [, second] = members(packed);
    const flipped = packed.slice();
    flipped[second.at + 5000] ^= 0x10;
    await expect(gunzip(flipped)).rejects.toThrow(InvalidArchiveError);
  });
});

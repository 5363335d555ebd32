/**
 * The zlib deflater that writes gzip members into the caller's buffers
 * (src/archive/deflate-native.ts): members decode to their input with
 * node:zlib and GNU gzip, land in the given buffer, and stay correct when
 * the buffer is too small, when the deflater is reused, and at every level.
 */
import { spawnSync } from "node:child_process";
import { crc32, gunzipSync, inflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createArchive } from "../../../src/archive/create-archive.ts";
import { hasNativeDeflater, memberCapacity, nativeDeflater, nativeGzipper } from "../../../src/archive/gzip/deflate-native.ts";
import { BLOCK_BYTES } from "../../../src/archive/gzip/gzip-block.ts";
import { concatBytes } from "../../../src/util/bytes.ts";
import { collect, collectOwnBuffer, noise, normalWeights, sha256, streamOf, text } from "../../support/bytes.ts";
import { readAll } from "../helpers.ts";

/** Text unlike any other call's, so a member that reused stale output would not decode to it. */
function vocabulary(bytes: number, seed: number): Uint8Array {
  let s = "";
  for (let i = 0; s.length < bytes; i++) s += `{"id":${i},"token":"t${(i * seed) % 7919}"},\n`;
  return text(s.slice(0, bytes));
}

describe("nativeGzipper and nativeDeflater", () => {
  it("exists on Node", () => {
    expect(hasNativeDeflater).toBe(true);
  });

  it("writes each member into the given buffer, and reuse gives correct members block after block", async () => {
    const deflater = nativeGzipper(6)!;
    const output = new Uint8Array(memberCapacity(BLOCK_BYTES));
    try {
      for (const seed of [31, 977, 4099]) {
        const input = vocabulary(1 << 20, seed);
        const parts = await deflater.member(input, output, 0);
        for (const part of parts) expect(part.buffer, "a part outside the given buffer").toBe(output.buffer);
        const member = concatBytes(parts);
        expect(member.length).toBeLessThan(input.length / 3);
        expect(sha256(gunzipSync(member))).toBe(sha256(input));
        const gnu = spawnSync("/usr/bin/gzip", ["-dc"], { input: member, maxBuffer: 1 << 26 });
        expect(gnu.status).toBe(0);
        expect(sha256(gnu.stdout)).toBe(sha256(input));
      }
    } finally {
      deflater.close();
    }
  });

  it("deflates raw into the given buffer from the given offset (the adaptive probe's use)", async () => {
    const deflater = nativeDeflater(1)!;
    try {
      const input = vocabulary(64 << 10, 977);
      const output = new Uint8Array(memberCapacity(input.length)).fill(0xee);
      const parts = await deflater.deflate(input, output, 100);
      expect(parts.every((part) => part.buffer === output.buffer)).toBe(true);
      expect(parts[0].byteOffset).toBe(100);
      expect(output.subarray(0, 100).every((byte) => byte === 0xee)).toBe(true);
      expect(sha256(inflateRawSync(concatBytes(parts)))).toBe(sha256(input));
    } finally {
      deflater.close();
    }
  });

  it("stays correct when the output buffer is too small (zlib continues in memory of its own)", async () => {
    const deflater = nativeGzipper(6)!;
    try {
      const input = noise(256 << 10); // does not compress
      const output = new Uint8Array(64 << 10);
      const parts = await deflater.member(input, output, 0);
      expect(parts.some((part) => part.buffer !== output.buffer)).toBe(true);
      expect(sha256(gunzipSync(concatBytes(parts)))).toBe(sha256(input));
    } finally {
      deflater.close();
    }
  });

  it("honours the level", async () => {
    const input = vocabulary(1 << 20, 31);
    const sizes: number[] = [];
    for (const level of [1, 9]) {
      const deflater = nativeGzipper(level)!;
      const parts = await deflater.member(input, new Uint8Array(memberCapacity(input.length)), 0);
      deflater.close();
      sizes.push(concatBytes(parts).length);
      expect(sha256(gunzipSync(concatBytes(parts)))).toBe(sha256(input));
    }
    expect(sizes[1]).toBeLessThan(sizes[0]);
  });

  it("writes our gzip header (mtime, XFL, OS 255), not zlib's, and zlib's CRC-32 and size", async () => {
    const input = vocabulary(100_000, 977);
    for (const [level, xfl] of [[0, 0], [1, 4], [6, 0], [9, 2]]) {
      const gzipper = nativeGzipper(level)!;
      try {
        const member = concatBytes(await gzipper.member(input, new Uint8Array(memberCapacity(input.length)), 0x5f5e1234));
        expect([...member.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 4]); // FLG = FEXTRA
        // One "ML" subfield that holds the member's own length.
        expect([...member.subarray(10, 16)]).toEqual([8, 0, 0x4d, 0x4c, 4, 0]);
        expect(new DataView(member.buffer, member.byteOffset).getUint32(16, true)).toBe(member.length);
        expect(new DataView(member.buffer, member.byteOffset).getUint32(4, true)).toBe(0x5f5e1234);
        expect([member[8], member[9]]).toEqual([xfl, 255]);
        const trailer = new DataView(member.buffer, member.byteOffset + member.length - 8);
        expect(trailer.getUint32(0, true)).toBe(crc32(input));
        expect(trailer.getUint32(4, true)).toBe(input.length);
        expect(sha256(gunzipSync(member))).toBe(sha256(input));
      } finally {
        gzipper.close();
      }
    }
  });

  it("stores at level 0: the member is the input in stored blocks, a few bytes larger", async () => {
    const input = noise(BLOCK_BYTES);
    const gzipper = nativeGzipper(0)!;
    try {
      const output = new Uint8Array(memberCapacity(input.length));
      const parts = await gzipper.member(input, output, 0);
      expect(parts.every((part) => part.buffer === output.buffer)).toBe(true);
      const member = concatBytes(parts);
      expect(member.length).toBeGreaterThan(input.length);
      expect(member.length).toBeLessThan(input.length + 1024);
      expect(sha256(gunzipSync(member))).toBe(sha256(input));
    } finally {
      gzipper.close();
    }
  });

  it("refuses to run after close", async () => {
    const deflater = nativeGzipper(6)!;
    deflater.close();
    const input = vocabulary(1000, 31);
    await expect(deflater.member(input, new Uint8Array(memberCapacity(1000)), 0)).rejects.toThrow(/closed/);
  });
});

describe("createArchive with the native engine", () => {
  // Three deflated blocks and a stored one: pooled output buffers are reused before the reader is done.
  const vocab = vocabulary(3 * BLOCK_BYTES + 12_345, 31);
  // Three blocks of weights, stored as views of their block buffers, which must not be refilled before they are read;
  // the text's buffers are refilled as soon as zlib has deflated them.
  const weights = noise(3 * BLOCK_BYTES);
  const input = {
    files: [
      { path: "vocab.json", body: vocab },
      { path: "weights.bin", body: weights },
    ],
  };

  it("gives the same files to default readers, which keep every chunk, and to BYOB readers", async () => {
    for (const read of [collect, (s: ReadableStream<Uint8Array>) => collectOwnBuffer(s, 65_536)]) {
      const archive = await read(createArchive(input, { engine: "native" }));
      expect(archive.length).toBeLessThan(vocab.length / 3 + weights.length * 1.01);
      const entries = await readAll(streamOf(archive));
      expect(sha256(entries.find((e) => e.path === "vocab.json")!.bytes)).toBe(sha256(vocab));
      expect(sha256(entries.find((e) => e.path === "weights.bin")!.bytes)).toBe(sha256(weights));
    }
  });

  it("hands members out in order when younger blocks finish first (slow level-9 text between fast Huffman-coded weights)", async () => {
    // Each file fills its own block: text takes level 9's matching, float weights
    // only Huffman coding, several times faster, so blocks settle out of order.
    const files = [0, 1, 2, 3].flatMap((i) => [
      { path: `text-${i}.json`, body: vocabulary(BLOCK_BYTES, 7 + i) },
      { path: `weights-${i}.bin`, body: normalWeights(BLOCK_BYTES) },
    ]);
    const archive = await collectOwnBuffer(createArchive({ files }, { engine: "native", level: 9 }), 65_536);
    const entries = await readAll(streamOf(archive));
    expect(entries.map((e) => e.path)).toEqual(expect.arrayContaining(files.map((f) => f.path)));
    for (const file of files) expect(sha256(entries.find((e) => e.path === file.path)!.bytes)).toBe(sha256(file.body));
    const gnu = spawnSync("gzip", ["-dc"], { input: archive, maxBuffer: 64 << 20 });
    expect(gnu.status).toBe(0);
    expect(gnu.stdout.length).toBeGreaterThan(files.length * BLOCK_BYTES);
  });
});

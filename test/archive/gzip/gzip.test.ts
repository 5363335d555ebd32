import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { constants, crc32, deflateRawSync, gunzipSync } from "node:zlib";
import { normalWeights, streamOfParts as streamOf } from "../../support/bytes.ts";
import { concatBytes } from "../../../src/util/bytes.ts";
import { describe, expect, it } from "vitest";
import { InvalidArchiveError } from "../../../src/util/errors.ts";
import { BLOCK_SIZE, createGunzipStream, createGzipStream, type GzipOptions } from "../../../src/archive/gzip/gzip.ts";

const GZIP = "/usr/bin/gzip";

/** Float32 values like trained weights: small, random mantissas. Deflate saves ~8 % on them at best. */
function floatNoise(bytes: number): Uint8Array {
  const f = new Float32Array(bytes / 4);
  for (let i = 0; i < f.length; i++) f[i] = (Math.random() - 0.5) * 0.2;
  return new Uint8Array(f.buffer);
}

/** JSON text, e.g. a tokenizer or config: compresses ~5×. */
function jsonText(bytes: number): Uint8Array {
  let s = "";
  for (let i = 0; s.length < bytes; i++) s += JSON.stringify({ id: i, token: `tok${(i * 7919) % 5000}`, score: i % 100 }) + ",\n";
  return new TextEncoder().encode(s.slice(0, bytes));
}

/** Streams `bytes` in uneven chunks, as a file or network read would. */
function source(bytes: Uint8Array, chunk = 100_003): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let pos = 0; pos < bytes.length; pos += chunk) parts.push(bytes.subarray(pos, pos + chunk));
  return streamOf(parts);
}


async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const gzip = (bytes: Uint8Array, options?: GzipOptions) => collect(source(bytes).pipeThrough(createGzipStream(options)));
const DECODERS = ["fflate", "native"] as const;
type Decoder = (typeof DECODERS)[number];
const gunzipWith = (bytes: Uint8Array, chunk: number | undefined, engine?: Decoder) =>
  collect(source(bytes, chunk).pipeThrough(createGunzipStream({ engine })));

function gnuGunzip(bytes: Uint8Array): Buffer {
  const run = spawnSync(GZIP, ["-dc"], { input: bytes, maxBuffer: 1 << 30 });
  expect(run.status, run.stderr.toString()).toBe(0);
  return run.stdout;
}

const inputs: Record<string, Uint8Array> = {
  // Two blocks and a bit, mixing weights and text inside blocks.
  mixed: concat(floatNoise(BLOCK_SIZE), jsonText(BLOCK_SIZE / 2), floatNoise(BLOCK_SIZE / 2 + 4), jsonText(1000)),
  text: jsonText(300_000),
  // Several deflated blocks: the native engine reuses its output buffers between them.
  "text-blocks": jsonText(2 * BLOCK_SIZE + 5000),
  empty: new Uint8Array(0),
};

function concat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(parts);
}

describe("createGzipStream / createGunzipStream", () => {
  const variants: GzipOptions[] = [
    { engine: "fflate" },
    { engine: "native" },
    { engine: "auto" },
    { engine: "fflate", adaptive: false },
    { engine: "native", adaptive: false },
    { engine: "fflate", level: 1 },
    { engine: "native", level: 1 },
    { engine: "fflate", level: 0 },
  ];
  for (const options of variants) {
    for (const [name, input] of Object.entries(inputs)) {
      it(`round-trips ${name} input with ${JSON.stringify(options)}; gzip -dc and node:zlib read it`, async () => {
        const packed = await gzip(input, options);
        for (const engine of DECODERS) expect(Buffer.from(await gunzipWith(packed, undefined, engine)).equals(input), engine).toBe(true);
        expect(gnuGunzip(packed).equals(input)).toBe(true);
        expect(gunzipSync(packed).equals(input)).toBe(true);
      });
    }
  }

  it("adaptive Huffman-codes float weights on native zlib, stores them elsewhere, and still compresses text", async () => {
    const noise = floatNoise(BLOCK_SIZE);
    for (const options of [{ engine: "fflate" }, { engine: "native", deterministic: true }] as const) {
      const stored = await gzip(noise, options);
      expect(stored.length, JSON.stringify(options)).toBeGreaterThanOrEqual(noise.length);
      expect(stored.length, JSON.stringify(options)).toBeLessThan(noise.length * 1.001);
    }
    const huffman = await gzip(noise, { engine: "native" });
    expect(huffman.length).toBeLessThan(noise.length * 0.97);
    expect(Buffer.from(gunzipSync(huffman)).equals(noise)).toBe(true);
    const deflated = await gzip(noise, { engine: "fflate", adaptive: false });
    expect(deflated.length).toBeLessThan(noise.length * 0.97);
    const text = jsonText(BLOCK_SIZE);
    expect((await gzip(text)).length).toBeLessThan(text.length * 0.4);
  });

  it("a float32 N(0, 0.02) block is not stored raw on native zlib, and gunzip reads it back", async () => {
    const weights = normalWeights(BLOCK_SIZE);
    const packed = await gzip(weights, { engine: "native" });
    expect(packed.length).toBeLessThan(weights.length * 0.97);
    const gunzipped = spawnSync(GZIP, ["-dc"], { input: packed, maxBuffer: 2 * BLOCK_SIZE });
    expect(gunzipped.status).toBe(0);
    expect(Buffer.from(gunzipped.stdout).equals(weights)).toBe(true);
  });

  it("a block that LZ77 matching barely helps (skewed random bytes, deflates to ~0.8) is Huffman-coded alone; text still gets level 6", async () => {
    // Bytes from a skewed distribution with no repeats beyond chance: Huffman coding is
    // the whole gain (like the quantized weights of real models), matching adds < 2 %.
    const skewed = new Uint8Array(BLOCK_SIZE);
    const random = randomBytes(BLOCK_SIZE);
    for (let i = 0; i < skewed.length; i++) skewed[i] = Math.min(random[i], random[(i * 7919) % BLOCK_SIZE]) >> 1;
    const raw = (packed: Uint8Array) => Buffer.from(packed.subarray(20, packed.length - 8)); // one member: header 20 (with its length field), trailer 8
    const packed = await gzip(skewed, { engine: "native" });
    expect(packed.length).toBeLessThan(skewed.length * 0.9); // not stored
    // Huffman-only with memLevel 9 (HUFFMAN_MEM_LEVEL in deflate-native.ts): its default of 8 cuts other blocks.
    expect(raw(packed).equals(deflateRawSync(skewed, { level: 6, memLevel: 9, strategy: constants.Z_HUFFMAN_ONLY }))).toBe(true);
    expect(raw(packed).equals(deflateRawSync(skewed, { level: 6, strategy: constants.Z_HUFFMAN_ONLY }))).toBe(false);
    expect(raw(packed).equals(deflateRawSync(skewed, { level: 6, memLevel: 9 }))).toBe(false);
    expect(Buffer.from(gunzipSync(packed)).equals(skewed)).toBe(true);
    const text = jsonText(BLOCK_SIZE);
    expect(raw(await gzip(text, { engine: "native" })).equals(deflateRawSync(text, { level: 6 }))).toBe(true);
  });

  it("deterministic output is byte-identical across runs and carries mtime 0", async () => {
    const input = inputs.mixed;
    const a = await gzip(input, { deterministic: true });
    await new Promise((r) => setTimeout(r, 1100)); // a wall-clock mtime would now differ
    const b = await gzip(input, { deterministic: true });
    expect(Buffer.from(a).equals(b)).toBe(true);
    expect(Array.from(a.subarray(4, 8))).toEqual([0, 0, 0, 0]);
  });

  it("validates options with messages that say what to pass", () => {
    expect(() => createGzipStream({ level: 11 })).toThrow(/0 \(store\) to 9/);
    expect(() => createGzipStream({ engine: "zopfli" as "fflate" })).toThrow(/"auto", "fflate" or "native"/);
    expect(() => createGunzipStream({ engine: "zlib-ng" as "fflate" })).toThrow(/"auto", "fflate" or "native"/);
  });
});

for (const engine of DECODERS) {
  describe(`createGunzipStream({ engine: "${engine}" })`, () => {
    const gunzip = (bytes: Uint8Array, chunk?: number) => gunzipWith(bytes, chunk, engine);

    it("decodes whatever the chunk boundaries are, down to 1-byte chunks", async () => {
      const input = concat(jsonText(20_000), floatNoise(8_000));
      const packed = concat(await gzip(input, { engine: "fflate" }), await gzip(input, { engine: "native", adaptive: false }));
      for (const chunk of [1, 7, 4096]) {
        expect(Buffer.from(await gunzip(packed, chunk)).equals(concat(input, input))).toBe(true);
      }
    });

    it("reads a multi-member file made by cat a.gz b.gz", async () => {
      const a = jsonText(50_000);
      const b = randomBytes(30_000);
      const gzA = spawnSync(GZIP, ["-c"], { input: a }).stdout;
      const gzB = spawnSync(GZIP, ["-c", "-9"], { input: b }).stdout;
      expect(Buffer.from(await gunzip(concat(gzA, gzB))).equals(concat(a, b))).toBe(true);
    });

    it("reads output of /usr/bin/gzip, including the FNAME header field", async () => {
      const input = concat(jsonText(400_000), floatNoise(400_000));
      const packed = spawnSync(GZIP, ["-c", "-6"], { input }).stdout;
      expect(Buffer.from(await gunzip(packed, 65_536)).equals(input)).toBe(true);
      // FNAME set: gzip -N keeps the name, written by gzip when compressing a named file
      const named = Buffer.concat([packed.subarray(0, 3), Buffer.from([8]), packed.subarray(4, 10), Buffer.from("model.tar\0"), packed.subarray(10)]);
      expect(Buffer.from(await gunzip(named)).equals(input)).toBe(true);
    });

    it("inflates a member whose Huffman block refers back into the stored block before it", async () => {
      // Hand-built member (RFC 1951): a stored block of `a`, then a fixed-Huffman
      // block holding one 258-byte match at distance 20000, i.e. a copy of a[0, 258).
      const a = randomBytes(20_000);
      const expected = concat(a, a.subarray(0, 258));
      const bits: number[] = [];
      const put = (value: number, n: number) => { for (let i = 0; i < n; i++) bits.push((value >> i) & 1); }; // LSB first
      const putCode = (code: number, n: number) => { for (let i = n - 1; i >= 0; i--) bits.push((code >> i) & 1); }; // Huffman codes MSB first
      put(1, 1); // BFINAL
      put(1, 2); // BTYPE 01: fixed Huffman
      putCode(0b11000000 + (285 - 280), 8); // length symbol 285 = 258
      putCode(28, 5); // distance code 28: 16385 + 13 extra bits
      put(20_000 - 16_385, 13);
      putCode(0, 7); // end of block (256)
      const huffman = new Uint8Array(Math.ceil(bits.length / 8));
      bits.forEach((bit, i) => (huffman[i >> 3] |= bit << (i & 7)));
      const header = Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
      const stored = Uint8Array.from([0, a.length & 0xff, a.length >> 8, ~a.length & 0xff, (~a.length >> 8) & 0xff]);
      const trailer = new Uint8Array(8);
      new DataView(trailer.buffer).setUint32(0, crc32(expected), true);
      new DataView(trailer.buffer).setUint32(4, expected.length, true);
      const packed = concat(header, stored, a, huffman, trailer);
      expect(gunzipSync(packed).equals(expected)).toBe(true); // the hand-built member is valid
      for (const chunk of [7, 1000, 1 << 20]) expect(Buffer.from(await gunzip(packed, chunk)).equals(expected)).toBe(true);
    });

    it("tolerates zero padding after the last member", async () => {
      const input = jsonText(10_000);
      const packed = concat(await gzip(input), new Uint8Array(10_240));
      expect(Buffer.from(await gunzip(packed)).equals(input)).toBe(true);
    });

    it("rejects non-zero garbage after the last member as corrupt", async () => {
      const packed = concat(await gzip(jsonText(10_000)), new TextEncoder().encode("garbage"));
      await expect(gunzip(packed)).rejects.toThrow(/corrupt gzip data/);
    });

    it("errors with InvalidArchiveError 'truncated' wherever the stream is cut", async () => {
      const packed = await gzip(inputs.mixed, { engine: "fflate" });
      for (const cut of [0, 5, 10, 11, 1000, BLOCK_SIZE / 2, packed.length - 8, packed.length - 1]) {
        const err = await gunzip(packed.subarray(0, cut)).catch((e: unknown) => e);
        expect(err, `cut at ${cut}`).toBeInstanceOf(InvalidArchiveError);
        expect((err as Error).message, `cut at ${cut}`).toMatch(/^truncated gzip stream/);
      }
    });

    it("errors with InvalidArchiveError 'corrupt' on flipped bytes in data or trailer", async () => {
      for (const options of [{ engine: "fflate" }, { engine: "native" }] as const) {
        const packed = await gzip(inputs.text, options);
        for (const at of [20, Math.floor(packed.length / 2), packed.length - 6, packed.length - 2]) {
          const bad = packed.slice();
          bad[at] ^= 0x55;
          const err = await gunzip(bad).catch((e: unknown) => e);
          expect(err, `flip at ${at}`).toBeInstanceOf(InvalidArchiveError);
          expect((err as Error).message).toMatch(/corrupt gzip data|truncated gzip stream/);
        }
      }
      // A stored block's bytes are only covered by the CRC: flipping one must still be caught.
      const stored = await gzip(randomBytes(100_000));
      stored[5000] ^= 1;
      await expect(gunzip(stored)).rejects.toThrow(/corrupt gzip data \(CRC-32 mismatch/);
    });

    it("checks what follows the last member however it is chunked: zeros pass, data after zeros does not", async () => {
      const input = jsonText(10_000);
      const member = await gzip(input);
      const padded = concat(member, new Uint8Array(1_200_000));
      for (const chunk of [1000, 65_536, 1 << 20]) expect(Buffer.from(await gunzip(padded, chunk)).equals(input), `chunk ${chunk}`).toBe(true);
      const smuggled = concat(padded, new TextEncoder().encode("x"));
      for (const chunk of [1000, 65_536, 1 << 20]) await expect(gunzip(smuggled, chunk), `chunk ${chunk}`).rejects.toThrow(/corrupt gzip data/);
    });

    it("rejects input that is not gzip at all", async () => {
      await expect(gunzip(new TextEncoder().encode("hello, not gzip"))).rejects.toThrow(InvalidArchiveError);
    });
  });
}

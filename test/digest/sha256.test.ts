import { createHash, randomBytes } from "node:crypto";
import { streamOfParts as streamOf } from "../support/bytes.ts";
import { describe, expect, it } from "vitest";
import { createDigestStream, Sha256 } from "../../src/digest/sha256.ts";
import { compactSha256, createCompactSha256 } from "../../src/digest/sha256-compact.ts";
import type { Sha256Core } from "../../src/digest/sha256-hasher.ts";

/** The unrolled compression function (uploads) and the compact one (small read-only bundles) must agree everywhere. */
const HASHERS: [string, () => Sha256Core][] = [["unrolled", () => new Sha256()], ["compact", compactSha256]];

function nodeHex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Feeds `bytes` in random-sized chunks, including empty ones. */
function hashInPieces(newHash: () => Sha256Core, bytes: Uint8Array, maxPiece: number): string {
  const h = newHash();
  let pos = 0;
  while (pos < bytes.length) {
    const n = Math.floor(Math.random() * (maxPiece + 1));
    h.update(bytes.subarray(pos, pos + n));
    pos += n;
  }
  return h.hexDigest();
}


describe.each(HASHERS)("Sha256 (%s)", (_name, newHash) => {
  it("matches the FIPS 180-4 example digests", () => {
    expect(newHash().hexDigest()).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(newHash().update(new TextEncoder().encode("abc")).hexDigest()).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });

  it("matches node:crypto at every padding boundary and random sizes", () => {
    const data = randomBytes(300_000);
    const sizes = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4096, 65_537];
    for (let i = 0; i < 20; i++) sizes.push(Math.floor(Math.random() * data.length));
    for (const size of sizes) {
      const bytes = data.subarray(7, 7 + size); // odd offset: not 4-byte aligned
      expect(newHash().update(bytes).hexDigest(), `size ${size}`).toBe(nodeHex(bytes));
      expect(hashInPieces(newHash, bytes, 70), `size ${size} in pieces`).toBe(nodeHex(bytes));
      expect(hashInPieces(newHash, bytes, 5000), `size ${size} in big pieces`).toBe(nodeHex(bytes));
    }
  });

  it("returns the raw 32-byte digest", () => {
    const bytes = randomBytes(1234);
    expect(Buffer.from(newHash().update(bytes).digest())).toEqual(createHash("sha256").update(bytes).digest());
  });

  it("refuses updates after digest() rather than returning a wrong hash", () => {
    const h = newHash();
    h.digest();
    expect(() => h.update(new Uint8Array(1))).toThrow(TypeError);
  });
});

describe("createDigestStream", () => {
  it("passes bytes through unchanged and reports size and sha256", async () => {
    const data = randomBytes(1_000_003);
    let result: { size: number; sha256: string } | undefined;
    const chunks: Uint8Array[] = [];
    for (let pos = 0; pos < data.length; pos += 65_521) chunks.push(data.subarray(pos, pos + 65_521));
    const out = await new Response(
      streamOf(chunks).pipeThrough(createDigestStream((r) => (result = r))),
    ).arrayBuffer();
    expect(Buffer.from(out).equals(data)).toBe(true);
    expect(result).toEqual({ size: data.length, sha256: nodeHex(data) });
  });

  it("reports size 0 and the empty digest for an empty stream", async () => {
    let result: { size: number; sha256: string } | undefined;
    await new Response(streamOf([]).pipeThrough(createDigestStream((r) => (result = r)))).arrayBuffer();
    expect(result).toEqual({ size: 0, sha256: nodeHex(new Uint8Array(0)) });
  });
});

describe("createSha256", () => {
  it("uses the runtime's native SHA-256 on Node and agrees with the TypeScript one", async () => {
    const { createSha256, Sha256 } = await import("../../src/digest/sha256.ts");
    const { createHash, randomBytes } = await import("node:crypto");
    const bytes = new Uint8Array(randomBytes(1_000_003));
    const hasher = createSha256();
    expect(hasher).not.toBeInstanceOf(Sha256); // native on Node 20.16+
    hasher.update(bytes.subarray(0, 12345));
    hasher.update(bytes.subarray(12345));
    const expected = createHash("sha256").update(bytes).digest("hex");
    expect(hasher.hexDigest()).toBe(expected);
    expect(new Sha256().update(bytes).hexDigest()).toBe(expected);
  });
});

describe("createCompactSha256", () => {
  it("uses the runtime's native SHA-256 on Node, and agrees with node:crypto", async () => {
    const bytes = new Uint8Array(randomBytes(300_007));
    const hasher = createCompactSha256();
    expect(hasher).not.toHaveProperty("blocks"); // not the portable core
    hasher.update(bytes.subarray(0, 999));
    hasher.update(bytes.subarray(999));
    expect(await hasher.hexDigest()).toBe(nodeHex(bytes));
  });
});

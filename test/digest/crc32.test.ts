import { randomBytes } from "node:crypto";
import { crc32 as zlibCrc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { crc32, portableCrc32 } from "../../src/digest/crc32.ts";

describe("crc32", () => {
  it("the portable loop matches zlib's CRC-32 across sizes and continued over splits", () => {
    for (const size of [0, 1, 7, 8, 9, 63, 64, 1000, 65_537]) {
      const bytes = new Uint8Array(randomBytes(size));
      const expected = zlibCrc32(bytes);
      expect(portableCrc32(bytes)).toBe(expected);
      const cut = size >> 1;
      expect(portableCrc32(bytes.subarray(cut), portableCrc32(bytes.subarray(0, cut)))).toBe(expected);
      expect(crc32(bytes.subarray(cut), crc32(bytes.subarray(0, cut)))).toBe(expected);
    }
  });

  it("knows the check value of the gzip polynomial", () => {
    const check = new TextEncoder().encode("123456789");
    expect(portableCrc32(check)).toBe(0xcbf43926);
    expect(crc32(check)).toBe(0xcbf43926);
  });
});

/**
 * CRC-32 as gzip uses it (RFC 1952 §8, the ISO 3309 / ITU-T V.42 polynomial
 * 0xEDB88320 in reflected form), computed slicing-by-8: eight table lookups
 * per 8 input bytes instead of one per byte, about 4× the speed of the
 * byte-wise loop in V8. Needed because stored gzip members are written and
 * verified in JavaScript, where no native CRC is available.
 */
import { builtinModule } from "../util/builtin.ts";

const TABLES: Int32Array = (() => {
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  // Table k maps a byte to its CRC contribution k bytes further down the stream.
  for (let n = 0; n < 256; n++) {
    let c = t[n];
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff] ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
})();

type Crc32 = (bytes: Uint8Array, crc?: number) => number;

/**
 * The runtime's native CRC-32 where it offers one without an import
 * (`zlib.crc32` through `process.getBuiltinModule`: Node ≥ 20.15, Bun, Deno):
 * about 3 GB/s against ~400 MB/s for the table-driven loop below. Feature
 * detection, as for `CompressionStream`; edge bundles stay neutral.
 */
const nativeCrc32: Crc32 | undefined = (() => {
  const crc = builtinModule<{ crc32?: Crc32 }>("zlib")?.crc32;
  return typeof crc === "function" ? crc : undefined;
})();

/**
 * Continues a CRC-32 over `bytes`. Start with `crc = 0`; the result is the
 * unsigned value stored in a gzip trailer.
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  return nativeCrc32 ? nativeCrc32(bytes, crc) : portableCrc32(bytes, crc);
}

/** The table-driven CRC-32 (exported for tests: it is what runtimes without a native one use). */
export function portableCrc32(bytes: Uint8Array, crc = 0): number {
  const t = TABLES;
  let c = ~crc;
  let i = 0;
  const n = bytes.length;
  const end8 = n - (n & 7);
  for (; i < end8; i += 8) {
    const lo = c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    c =
      t[1792 + (lo & 0xff)] ^
      t[1536 + ((lo >>> 8) & 0xff)] ^
      t[1280 + ((lo >>> 16) & 0xff)] ^
      t[1024 + (lo >>> 24)] ^
      t[768 + bytes[i + 4]] ^
      t[512 + bytes[i + 5]] ^
      t[256 + bytes[i + 6]] ^
      t[bytes[i + 7]];
  }
  for (; i < n; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

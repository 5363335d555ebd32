/**
 * Byte layout of single gzip members (RFC 1952, https://www.rfc-editor.org/rfc/rfc1952)
 * and of deflate stored blocks (RFC 1951 §3.2.4, https://www.rfc-editor.org/rfc/rfc1951#section-3.2.4).
 *
 * The block-parallel gzip writer emits one member per input block; a file of
 * concatenated members is still one valid gzip file (RFC 1952 §2.2).
 */
/** RFC 1952 §2.3.1: ID1, ID2 and CM = 8 (deflate). */
const ID1 = 0x1f;
const ID2 = 0x8b;
const CM_DEFLATE = 8;
/** RFC 1952 §2.3.1 OS field: 255 = unknown. Fixed so output never depends on the host. */
const OS_UNKNOWN = 255;

/** Length of the 10-byte header {@link writeHeader} writes (no optional fields). */
export const HEADER_SIZE = 10;
/** CRC32 + ISIZE (RFC 1952 §2.3.1). */
export const TRAILER_SIZE = 8;

/**
 * Writes a 10-byte member header at `out[at]`. `mtime` is Unix seconds (0 =
 * "no time", RFC 1952 §2.3.1); `level` sets XFL (2 = best, 4 = fastest).
 */
export function writeHeader(out: Uint8Array, at: number, mtime: number, level: number): void {
  out[at] = ID1;
  out[at + 1] = ID2;
  out[at + 2] = CM_DEFLATE;
  out[at + 3] = 0; // FLG: no FTEXT/FHCRC/FEXTRA/FNAME/FCOMMENT
  writeU32LE(out, at + 4, mtime);
  out[at + 8] = level >= 9 ? 2 : level === 1 ? 4 : 0;
  out[at + 9] = OS_UNKNOWN;
}

/** Writes CRC32 and ISIZE (input length mod 2^32) little-endian at `out[at]`. */
export function writeTrailer(out: Uint8Array, at: number, crc: number, size: number): void {
  writeU32LE(out, at, crc);
  writeU32LE(out, at + 4, size >>> 0);
}

/** Wraps raw deflate data into a gzip member, given the input's CRC-32 and length. */
export function wrapDeflate(deflated: Uint8Array, crc: number, size: number, mtime: number, level: number): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + deflated.length + TRAILER_SIZE);
  writeHeader(out, 0, mtime, level);
  out.set(deflated, HEADER_SIZE);
  writeTrailer(out, HEADER_SIZE + deflated.length, crc, size);
  return out;
}

/**
 * Parses a member header at the start of `bytes`. Returns its length, `0` if
 * more bytes are needed, or `-1` if the bytes are not a gzip deflate header.
 */
export function parseHeader(bytes: Uint8Array): number {
  const n = bytes.length;
  if (n >= 1 && bytes[0] !== ID1) return -1;
  if (n >= 2 && bytes[1] !== ID2) return -1;
  if (n >= 3 && bytes[2] !== CM_DEFLATE) return -1;
  if (n < HEADER_SIZE) return 0;
  const flags = bytes[3];
  if (flags & 0xe0) return -1; // RFC 1952 §2.3.1.2: reserved bits must be zero
  let at = HEADER_SIZE;
  if (flags & 4) {
    // FEXTRA: XLEN then XLEN bytes
    if (n < at + 2) return 0;
    at += 2 + (bytes[at] | (bytes[at + 1] << 8));
  }
  for (const bit of [8, 16]) {
    // FNAME, FCOMMENT: zero-terminated strings
    if (flags & bit) {
      while (at < n && bytes[at] !== 0) at++;
      if (at >= n) return 0;
      at++;
    }
  }
  if (flags & 2) at += 2; // FHCRC
  return at <= n ? at : 0;
}

/** Reads a little-endian unsigned 32-bit integer. */
export function readU32LE(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

function writeU32LE(out: Uint8Array, at: number, v: number): void {
  out[at] = v & 0xff;
  out[at + 1] = (v >>> 8) & 0xff;
  out[at + 2] = (v >>> 16) & 0xff;
  out[at + 3] = (v >>> 24) & 0xff;
}

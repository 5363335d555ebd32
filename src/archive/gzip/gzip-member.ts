/**
 * Byte layout of single gzip members (RFC 1952, https://www.rfc-editor.org/rfc/rfc1952)
 * and of deflate stored blocks (RFC 1951 §3.2.4, https://www.rfc-editor.org/rfc/rfc1951#section-3.2.4).
 *
 * The block-parallel gzip writer emits one member per input block; a file of
 * concatenated members is still one valid gzip file (RFC 1952 §2.2).
 *
 * Every member we write carries its own compressed length in an extra field
 * (RFC 1952 §2.3.1.1: subfield "ML", 4 bytes little-endian; BGZF in genomics
 * does the same with 16 bits). A reader can then cut the stream into members
 * without inflating it, and inflate several at once on several cores; every
 * gzip reader (GNU gzip and tar, Python's gzip and tarfile) skips the field.
 */
/** RFC 1952 §2.3.1: ID1, ID2 and CM = 8 (deflate). */
const ID1 = 0x1f;
const ID2 = 0x8b;
const CM_DEFLATE = 8;
/** RFC 1952 §2.3.1 OS field: 255 = unknown. Fixed so output never depends on the host. */
const OS_UNKNOWN = 255;

/** Length of a header without optional fields (what zlib and `CompressionStream` write). */
export const PLAIN_HEADER_SIZE = 10;
/** Length of the header {@link writeHeader} writes: 10 bytes, XLEN, and the "ML" subfield (4 + 4 bytes). */
export const HEADER_SIZE = PLAIN_HEADER_SIZE + 2 + 8;
/** RFC 1952 §2.3.1 FLG bit 2. */
const FEXTRA = 4;
/** Subfield id of a member's compressed length ("ML": modelstore, length). */
const LENGTH_SI1 = 0x4d;
const LENGTH_SI2 = 0x4c;
/** CRC32 + ISIZE (RFC 1952 §2.3.1). */
export const TRAILER_SIZE = 8;

/**
 * Writes a {@link HEADER_SIZE}-byte member header at `out[at]` for a member of
 * `memberSize` bytes in all (header and trailer included). `mtime` is Unix
 * seconds (0 = "no time", RFC 1952 §2.3.1); `level` sets XFL (2 = best, 4 = fastest).
 */
export function writeHeader(out: Uint8Array, at: number, mtime: number, level: number, memberSize: number): void {
  out[at] = ID1;
  out[at + 1] = ID2;
  out[at + 2] = CM_DEFLATE;
  out[at + 3] = FEXTRA; // FLG: no FTEXT/FHCRC/FNAME/FCOMMENT
  writeU32LE(out, at + 4, mtime);
  out[at + 8] = level >= 9 ? 2 : level === 1 ? 4 : 0;
  out[at + 9] = OS_UNKNOWN;
  out[at + 10] = 8; // XLEN: one subfield of 4 bytes
  out[at + 11] = 0;
  out[at + 12] = LENGTH_SI1;
  out[at + 13] = LENGTH_SI2;
  out[at + 14] = 4;
  out[at + 15] = 0;
  writeU32LE(out, at + 16, memberSize);
}

/**
 * The member's compressed length from its "ML" subfield, when `bytes` starts
 * with a header whose only optional field is an extra field holding one;
 * `undefined` for any other header (other writers' members, our index
 * members). `bytes` must hold at least {@link HEADER_SIZE} bytes.
 */
export function recordedMemberSize(bytes: Uint8Array): number | undefined {
  if (bytes[0] !== ID1 || bytes[1] !== ID2 || bytes[2] !== CM_DEFLATE || bytes[3] !== FEXTRA) return undefined;
  if (bytes[10] !== 8 || bytes[11] !== 0 || bytes[12] !== LENGTH_SI1 || bytes[13] !== LENGTH_SI2 || bytes[14] !== 4 || bytes[15] !== 0) return undefined;
  return readU32LE(bytes, 16);
}

/**
 * A member that zlib or `CompressionStream` wrote (split over `parts`, with a
 * plain 10-byte header) with our header in place of theirs.
 * @throws Error when the parts do not start with a plain gzip header
 */
export function reheadMember(parts: Uint8Array[], mtime: number, level: number): Uint8Array[] {
  assertPlainHeader(parts[0]);
  const out: Uint8Array[] = [];
  let skip = PLAIN_HEADER_SIZE;
  let total = 0;
  for (const part of parts) {
    const drop = Math.min(skip, part.length);
    skip -= drop;
    if (drop < part.length) out.push(drop ? part.subarray(drop) : part);
    total += part.length - drop;
  }
  if (skip > 0) throw new Error("zlib's gzip member is shorter than its header.");
  const header = new Uint8Array(HEADER_SIZE);
  writeHeader(header, 0, mtime, level, HEADER_SIZE + total);
  out.unshift(header);
  return out;
}

/** Writes CRC32 and ISIZE (input length mod 2^32) little-endian at `out[at]`. */
export function writeTrailer(out: Uint8Array, at: number, crc: number, size: number): void {
  writeU32LE(out, at, crc);
  writeU32LE(out, at + 4, size >>> 0);
}

/**
 * Like {@link reheadMember}, without a copy or a new array when zlib wrote the
 * member into `output` from `output[HEADER_SIZE - PLAIN_HEADER_SIZE]` on: our
 * longer header then goes over zlib's and the room left before it.
 */
export function reheadMemberInPlace(parts: Uint8Array[], output: Uint8Array, mtime: number, level: number): Uint8Array[] {
  const first = parts[0];
  const room = HEADER_SIZE - PLAIN_HEADER_SIZE;
  if (!first || first.buffer !== output.buffer || first.byteOffset !== output.byteOffset + room || first.length < PLAIN_HEADER_SIZE) {
    return reheadMember(parts, mtime, level);
  }
  assertPlainHeader(first);
  parts[0] = output.subarray(0, room + first.length);
  writeHeader(output, 0, mtime, level, parts.reduce((n, part) => n + part.length, 0));
  return parts;
}

function assertPlainHeader(first: Uint8Array | undefined): void {
  if (!first || first.length < 4 || first[0] !== ID1 || first[1] !== ID2 || first[3] !== 0) {
    throw new Error("zlib wrote an unexpected gzip header.");
  }
}

/** Wraps raw deflate data into a gzip member, given the input's CRC-32 and length. */
export function wrapDeflate(deflated: Uint8Array, crc: number, size: number, mtime: number, level: number): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + deflated.length + TRAILER_SIZE);
  writeHeader(out, 0, mtime, level, out.length);
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
  if (n < PLAIN_HEADER_SIZE) return 0;
  const flags = bytes[3];
  if (flags & 0xe0) return -1; // RFC 1952 §2.3.1.2: reserved bits must be zero
  let at = PLAIN_HEADER_SIZE;
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

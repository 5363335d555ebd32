/**
 * One input block of the block-parallel gzip writer, laid out so that it can
 * become a stored gzip member in place, without a copy.
 *
 * Deflate stored blocks (RFC 1951 §3.2.4, https://www.rfc-editor.org/rfc/rfc1951#section-3.2.4)
 * hold at most 65535 bytes behind a 5-byte header. The buffer leaves room for
 * the 10-byte gzip header (RFC 1952 §2.3), a 5-byte gap before every 65535-byte
 * segment and the 8-byte trailer, so storing a block only writes those few
 * bytes. Incompressible blocks (float weights, the bulk of a model) then cost
 * one allocation and one CRC pass: the buffer itself is handed downstream.
 */
import { crc32 } from "./crc32.js";
import { HEADER_SIZE, TRAILER_SIZE, writeHeader, writeTrailer } from "./gzip-member.js";

/** Bytes per stored deflate block: LEN is 16 bits. */
export const SEGMENT = 0xffff;
const STRIDE = SEGMENT + 5;
/** Segments per block: 64 × 65535 = 4 MiB - 64 bytes of input per gzip member. */
export const SEGMENTS_PER_BLOCK = 64;
/** Input bytes per full block. */
export const BLOCK_BYTES = SEGMENT * SEGMENTS_PER_BLOCK;

/** An input block being filled, then either stored in place or handed to a compressor. */
export class GzipBlock {
  readonly buffer = new Uint8Array(HEADER_SIZE + SEGMENTS_PER_BLOCK * STRIDE + TRAILER_SIZE);
  /** Input bytes held. */
  length = 0;

  get full(): boolean {
    return this.length === BLOCK_BYTES;
  }

  /** Copies as much of `bytes` as fits; returns how many bytes were taken. */
  fill(bytes: Uint8Array): number {
    let taken = 0;
    while (taken < bytes.length && this.length < BLOCK_BYTES) {
      const inSegment = this.length % SEGMENT;
      const at = HEADER_SIZE + Math.floor(this.length / SEGMENT) * STRIDE + 5 + inSegment;
      const n = Math.min(SEGMENT - inSegment, bytes.length - taken);
      this.buffer.set(bytes.subarray(taken, taken + n), at);
      taken += n;
      this.length += n;
    }
    return taken;
  }

  /** The input as views, one per segment (at least one, possibly empty). */
  segments(): Uint8Array<ArrayBuffer>[] {
    const out: Uint8Array<ArrayBuffer>[] = [];
    for (let start = 0; start < this.length || out.length === 0; start += SEGMENT) {
      const at = HEADER_SIZE + (start / SEGMENT) * STRIDE + 5;
      out.push(this.buffer.subarray(at, at + Math.min(SEGMENT, this.length - start)));
    }
    return out;
  }

  /** CRC-32 of the input (RFC 1952 §8). */
  crc(): number {
    let c = 0;
    for (const s of this.segments()) c = crc32(s, c);
    return c;
  }

  /** The input as one contiguous array, copied into `scratch` (for deflaters that need that). */
  contiguous(scratch: Uint8Array): Uint8Array {
    let at = 0;
    for (const s of this.segments()) {
      scratch.set(s, at);
      at += s.length;
    }
    return scratch.subarray(0, at);
  }

  /** Writes the gzip header, stored-block headers and trailer in place; returns the member. */
  storeInPlace(mtime: number): Uint8Array {
    const segments = this.segments();
    writeHeader(this.buffer, 0, mtime, 0);
    let end = HEADER_SIZE;
    segments.forEach((s, i) => {
      const at = s.byteOffset - 5;
      this.buffer[at] = i === segments.length - 1 ? 1 : 0; // BFINAL, BTYPE 00 = stored
      this.buffer[at + 1] = s.length & 0xff;
      this.buffer[at + 2] = s.length >>> 8;
      this.buffer[at + 3] = ~s.length & 0xff; // NLEN = one's complement of LEN
      this.buffer[at + 4] = (~s.length >>> 8) & 0xff;
      end = s.byteOffset + s.length;
    });
    writeTrailer(this.buffer, end, this.crc(), this.length);
    return this.buffer.subarray(0, end + TRAILER_SIZE);
  }
}

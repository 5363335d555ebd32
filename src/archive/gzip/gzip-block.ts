/**
 * One input block of the block-parallel gzip writer. The block keeps views of
 * the input chunks instead of copying them, so an incompressible block (float
 * weights, the bulk of a model) becomes a stored gzip member made of those
 * same views plus a few header bytes: no allocation and no copy per byte,
 * which matters for both speed and peak memory (every freshly allocated
 * buffer is garbage the engine frees late).
 *
 * Stored blocks: RFC 1951 §3.2.4 (https://www.rfc-editor.org/rfc/rfc1951#section-3.2.4),
 * at most 65535 bytes each behind a 5-byte header. Member framing: RFC 1952 §2.3.
 */
import { crc32 } from "../../digest/crc32.ts";
import { HEADER_SIZE, TRAILER_SIZE, writeHeader, writeTrailer } from "./gzip-member.ts";

/** Input bytes per gzip member. */
export const BLOCK_BYTES = 4 << 20;
/** Bytes per stored deflate block: LEN is 16 bits. */
const STORED_MAX = 0xffff;

/** An input block being collected, then stored as is or handed to a compressor. */
export class GzipBlock {
  /** Views of the input, in order. The producer must not reuse a chunk's memory after enqueueing it (Streams semantics). */
  readonly parts: Uint8Array[] = [];
  /** Input bytes held. */
  length = 0;

  get full(): boolean {
    return this.length === BLOCK_BYTES;
  }

  /** Takes as much of `bytes` as fits (as a view); returns how many bytes were taken. */
  add(bytes: Uint8Array): number {
    const n = Math.min(bytes.length, BLOCK_BYTES - this.length);
    if (n > 0) {
      this.parts.push(n === bytes.length ? bytes : bytes.subarray(0, n));
      this.length += n;
    }
    return n;
  }

  /** Copies up to `out.length` input bytes starting at input offset `from`; returns the filled view. */
  read(from: number, out: Uint8Array): Uint8Array {
    let at = 0;
    let skip = from;
    for (const p of this.parts) {
      if (skip >= p.length) {
        skip -= p.length;
        continue;
      }
      const piece = p.subarray(skip, skip + out.length - at);
      out.set(piece, at);
      at += piece.length;
      skip = 0;
      if (at === out.length) break;
    }
    return out.subarray(0, at);
  }

  /** CRC-32 of the input (RFC 1952 §8). */
  crc(): number {
    let c = 0;
    for (const p of this.parts) c = crc32(p, c);
    return c;
  }

  /**
   * The input as one view when its parts lie back to back in one buffer (as
   * createArchive fills its pooled blocks); `undefined` otherwise.
   */
  adjacent(): Uint8Array | undefined {
    const first = this.parts[0];
    if (!first) return new Uint8Array(0);
    let end = first.byteOffset + first.length;
    for (let i = 1; i < this.parts.length; i++) {
      const p = this.parts[i];
      if (p.buffer !== first.buffer || p.byteOffset !== end) return undefined;
      end += p.length;
    }
    return new Uint8Array(first.buffer, first.byteOffset, this.length);
  }

  /** The whole input as one contiguous array in `scratch` (for deflaters that need that). */
  contiguous(scratch: Uint8Array): Uint8Array {
    return this.read(0, scratch.subarray(0, this.length));
  }

  /**
   * The block as a stored gzip member: the input views with a 5-byte header
   * every 65535 bytes, a 10-byte gzip header and an 8-byte trailer.
   */
  storedMember(mtime: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    const header = new Uint8Array(HEADER_SIZE + 5);
    const storedBlocks = Math.max(1, Math.ceil(this.length / STORED_MAX));
    writeHeader(header, 0, mtime, 0, HEADER_SIZE + 5 * storedBlocks + this.length + TRAILER_SIZE);
    let blockHeader = header.subarray(HEADER_SIZE);
    let left = this.length;
    let inBlock = Math.min(STORED_MAX, left);
    writeStoredHeader(blockHeader, inBlock, left === inBlock);
    out.push(header);
    for (const p of this.parts) {
      let pos = 0;
      while (pos < p.length) {
        if (inBlock === 0) {
          inBlock = Math.min(STORED_MAX, left);
          blockHeader = new Uint8Array(5);
          writeStoredHeader(blockHeader, inBlock, left === inBlock);
          out.push(blockHeader);
        }
        const n = Math.min(inBlock, p.length - pos);
        out.push(p.subarray(pos, pos + n));
        pos += n;
        inBlock -= n;
        left -= n;
      }
    }
    const trailer = new Uint8Array(TRAILER_SIZE);
    writeTrailer(trailer, 0, this.crc(), this.length);
    out.push(trailer);
    return out;
  }
}

function writeStoredHeader(out: Uint8Array, len: number, final: boolean): void {
  out[0] = final ? 1 : 0; // BFINAL, BTYPE 00 = stored, then padding to the byte boundary
  out[1] = len & 0xff;
  out[2] = len >>> 8;
  out[3] = ~len & 0xff; // NLEN: one's complement of LEN
  out[4] = (~len >>> 8) & 0xff;
}

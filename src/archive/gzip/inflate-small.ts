/**
 * Inflating a small file's few whole members on the main thread with fflate.
 * The runtime's zlib sets up a new native handle for every one-shot call: for
 * a sub-KiB member that set-up was ~27 µs of a ~260 µs `openFile` through a
 * cached index on the file system, where fflate's inflate takes a few.
 */
import { inflateSync } from "fflate";
import { SMALL_MEMBER_BYTES, type IndexMember } from "../index/archive-index.ts";
import { crc32 } from "../../digest/crc32.ts";
import { corrupt } from "./gzip-errors.ts";
import { parseHeader, readU32LE, TRAILER_SIZE } from "./gzip-member.ts";
import { wrongSize } from "./inflated-size.ts";

/** Bytes a member may have beyond what it inflates to: header, trailer, stored-block headers. */
const MEMBER_OVERHEAD = 1 << 10;

/** Whether {@link inflateSmall} takes `members`: small, and none larger than its output could make it. */
export function smallEnough(members: readonly IndexMember[], usize: number): boolean {
  // Larger outputs are faster on zlib, whose per-byte speed outweighs its set-up.
  return usize <= SMALL_MEMBER_BYTES && members.every((m) => m.size <= m.usize + MEMBER_OVERHEAD);
}

/**
 * The decompressed bytes of `members`, held back to back in `bytes`: exactly
 * `usize` bytes, each member's size, CRC-32 and length checked. Only for
 * members {@link smallEnough} says: fflate writes each member into its place
 * in one buffer, with one byte of room past it, and a member's compressed size
 * bounds its work.
 * @throws IntegrityError when a member inflates to other than its index's size; InvalidArchiveError when it is corrupt
 */
export function inflateSmall(bytes: Uint8Array, members: readonly IndexMember[], usize: number, what: string): Uint8Array {
  // One byte of room past each member's bytes (the next member's first, or this spare one
  // at the end): a member that fills it inflates to more than its index gives.
  const out = new Uint8Array(usize + 1);
  let filled = 0;
  let at = 0;
  for (const { size, usize: expected } of members) {
    const member = bytes.subarray(at, at + size);
    at += size;
    const header = parseHeader(member);
    if (header <= 0 || member.length < header + TRAILER_SIZE) throw corrupt("bad gzip member header");
    if (filled + expected > usize) throw wrongSize(what, String(filled + expected), usize);
    let inflated: Uint8Array;
    try {
      inflated = inflateSync(member.subarray(header, member.length - TRAILER_SIZE), { out: out.subarray(filled, filled + expected + 1) });
    } catch (error) {
      throw corrupt((error as Error)?.message ?? String(error), error);
    }
    if (inflated.length !== expected) throw wrongSize(what, inflated.length > expected ? "more than that" : String(filled + inflated.length), usize);
    if (crc32(inflated) !== readU32LE(member, member.length - 8)) throw corrupt("CRC-32 mismatch");
    if (readU32LE(member, member.length - 4) !== expected % 2 ** 32) throw corrupt("length mismatch");
    filled += expected;
  }
  if (filled !== usize) throw wrongSize(what, String(filled), usize);
  return out.subarray(0, usize);
}

/**
 * The table of contents that makes an archive seekable: for every tar entry
 * its path, type, size, mode, SHA-256 and where its bytes are (the gzip member
 * its data starts in and the offset inside that member's decompressed bytes),
 * plus the compressed byte range and decompressed size of every member.
 *
 * It travels inside the archive, after the last tar member, as gzip members
 * that decompress to nothing: the JSON sits in their FEXTRA field (RFC 1952
 * §2.3.1.1, https://www.rfc-editor.org/rfc/rfc1952#page-8), which every gzip
 * reader skips. So the decompressed tar is byte for byte what it would be
 * without an index: GNU tar, Python's tarfile and the Python modelstore read
 * it unchanged and extract no extra file (eStargz, which inspired this, adds a
 * tar entry instead). The metadata document records where the index is and its
 * SHA-256 (`archive.index`), so a reader finds it with one ranged read and
 * trusts it only if the hash matches.
 *
 * The JSON is `{ "version": 2, "members": [size, usize, size, usize, ...],
 * "entries": [...] }`: members are listed as pairs, each starting where the one
 * before it ends, so their offsets are not written (a third of the bytes of a
 * large model's index, and most of its parsing time). Version 1, written before,
 * listed `{ offset, size, usize }` objects; it is still read.
 */
import { concatBytes } from "../../util/bytes.ts";
import { IntegrityError, InvalidArchiveError } from "../../util/errors.ts";
import { archivePathProblem } from "../path-problem.ts";

/** Where the index is inside the archive, as the metadata document records it. */
export interface ArchiveIndexLocation {
  /** Byte offset of the first index member in the archive. */
  offset: number;
  /** Bytes of the index members (they run to the end of the archive). */
  length: number;
  /** Lowercase hex SHA-256 of those bytes. */
  sha256: string;
}

/** One gzip member of the archive. */
export interface IndexMember {
  /** Compressed byte offset in the archive. */
  offset: number;
  /** Compressed bytes. */
  size: number;
  /** Decompressed (tar) bytes. */
  usize: number;
}

/** One tar entry of the archive. */
export interface IndexEntry {
  path: string;
  type: "file" | "directory";
  /** Data bytes (0 for directories). */
  size: number;
  /** Unix permission bits. */
  mode: number;
  /** Lowercase hex SHA-256 of the data (files only). */
  sha256?: string;
  /** Index into {@link ArchiveIndex.members} of the member the data starts in. */
  member: number;
  /** Offset of the data's first byte inside that member's decompressed bytes. */
  offset: number;
}

/** The parsed table of contents, whichever version it was written in. */
export interface ArchiveIndex {
  members: IndexMember[];
  entries: IndexEntry[];
}

/**
 * Members that decompress to at most this many bytes: a small file's own
 * member, or the archive's first or last. The writer stores them, since Huffman
 * tables cost a reader more to build than such a member takes to copy (~12 µs
 * in fflate for a 2.5 KiB member, against well under one stored), and the reader
 * inflates them whole on the main thread (inflate-small.ts). An archive grows by
 * a few KiB at most: members are only this small at file boundaries.
 */
export const SMALL_MEMBER_BYTES = 8 << 10;

/** Subfield id of the index in FEXTRA ("MS", modelstore); RFC 1952 §2.3.1.1 lets applications pick one. */
const SI1 = 0x4d;
const SI2 = 0x53;
/** XLEN is 16 bits and the subfield header takes 4 of them. */
const CHUNK = 0xffff - 4;
/** An index larger than this is refused rather than buffered (~300,000 entries). */
export const MAX_INDEX_BYTES = 64 << 20;

/**
 * The index as gzip members that decompress to nothing: header with FEXTRA,
 * an empty final fixed-Huffman deflate block (`03 00`), CRC-32 0, ISIZE 0.
 */
export function encodeIndexMembers(index: ArchiveIndex): Uint8Array {
  return indexMembersOf(JSON.stringify({ version: 2, members: index.members.flatMap((m) => [m.size, m.usize]), entries: index.entries }));
}

/** `text` (an index's JSON) in the FEXTRA fields of gzip members that decompress to nothing. */
export function indexMembersOf(text: string): Uint8Array {
  const json = new TextEncoder().encode(text);
  const count = Math.max(1, Math.ceil(json.length / CHUNK));
  const out = new Uint8Array(json.length + count * (10 + 2 + 4 + 2 + 8));
  let at = 0;
  for (let i = 0; i < count; i++) {
    const piece = json.subarray(i * CHUNK, (i + 1) * CHUNK);
    out.set([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 255], at); // FLG = FEXTRA, mtime 0, OS unknown
    at += 10;
    const xlen = piece.length + 4;
    out.set([xlen & 0xff, xlen >> 8, SI1, SI2, piece.length & 0xff, piece.length >> 8], at);
    at += 6;
    out.set(piece, at);
    at += piece.length;
    out.set([3, 0, 0, 0, 0, 0, 0, 0, 0, 0], at);
    at += 10;
  }
  return out;
}

/** Reads the JSON back out of {@link encodeIndexMembers}' bytes and checks it against an archive of `archiveSize` bytes. */
export function decodeIndexMembers(bytes: Uint8Array, location: ArchiveIndexLocation, archiveSize: number, what: string): ArchiveIndex {
  const pieces: Uint8Array[] = [];
  let at = 0;
  const bad = (why: string) => new InvalidArchiveError(`${what}: its index ${why}. Read it without the index (store.openArchive) or upload it again.`);
  while (at < bytes.length) {
    if (bytes.length - at < 26 || bytes[at] !== 0x1f || bytes[at + 1] !== 0x8b || bytes[at + 2] !== 8 || bytes[at + 3] !== 4) throw bad("is not a run of gzip members with an extra field");
    const xlen = bytes[at + 10] | (bytes[at + 11] << 8);
    const length = bytes[at + 14] | (bytes[at + 15] << 8);
    if (bytes[at + 12] !== SI1 || bytes[at + 13] !== SI2 || length + 4 !== xlen || at + 16 + length + 10 > bytes.length) throw bad("has a malformed extra field");
    pieces.push(bytes.subarray(at + 16, at + 16 + length));
    at += 16 + length;
    if (bytes[at] !== 3 || bytes.subarray(at + 1, at + 10).some((b) => b !== 0)) throw bad("member is not empty");
    at += 10;
  }
  let parsed: unknown;
  try {
    const json = concatBytes(pieces);
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
  } catch (error) {
    throw new InvalidArchiveError(`${what}: its index is not JSON. Read it without the index (store.openArchive) or upload it again.`, { cause: error });
  }
  return validateIndex(parsed, location, archiveSize, what);
}

const isInt = (v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): v is number => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Checks a parsed index against the archive it claims to describe, so that a
 * hostile one cannot send a read out of bounds or serve one file's bytes as
 * another's: members must tile the archive up to the index exactly, entries
 * must lie inside the decompressed bytes, in order and without overlapping,
 * with unique valid paths. Refused with `INVALID_ARCHIVE`.
 */
export function validateIndex(value: unknown, location: ArchiveIndexLocation, archiveSize: number, what: string): ArchiveIndex {
  const bad = (why: string) => new InvalidArchiveError(`${what}: its index ${why}. Read it without the index (store.openArchive) or upload it again.`);
  const v2 = isObject(value) && value.version === 2;
  if (!isObject(value) || (value.version !== 1 && !v2) || !Array.isArray(value.members) || !Array.isArray(value.entries) || (v2 && value.members.length % 2)) {
    throw bad("is not a version 1 or 2 table of contents");
  }
  if (location.offset + location.length !== archiveSize) throw bad("does not end where the archive ends");
  const members: IndexMember[] = [];
  const starts: number[] = []; // decompressed offset of each member
  let compressed = 0;
  let decompressed = 0;
  const listed = value.members as unknown[];
  for (let i = 0; i < (v2 ? listed.length / 2 : listed.length); i++) {
    // Version 2 lists [size, usize] pairs, each member starting where the one before it ends.
    const m = v2 ? { offset: compressed, size: listed[2 * i], usize: listed[2 * i + 1] } : listed[i];
    // 18 bytes is the smallest gzip member (header, an empty block, trailer).
    if (!isObject(m) || !isInt(m.offset) || !isInt(m.size, 18) || !isInt(m.usize)) throw bad(`lists member ${i} without a whole offset, size (18 bytes or more) and decompressed size`);
    if (m.offset !== compressed) throw bad(`has member ${members.length} at byte ${m.offset}, where ${compressed} was expected (members overlap or leave gaps)`);
    compressed += m.size;
    if (compressed > location.offset) throw bad(`has member ${members.length} running past the data (byte ${compressed} of ${location.offset})`);
    members.push({ offset: m.offset, size: m.size, usize: m.usize });
    starts.push(decompressed);
    decompressed += m.usize;
  }
  if (compressed !== location.offset) throw bad(`has members that end at byte ${compressed}, not where the index starts (${location.offset})`);
  const entries: IndexEntry[] = [];
  const paths = new Set<string>();
  let end = 0;
  for (const e of value.entries as unknown[]) {
    if (!isObject(e) || typeof e.path !== "string" || archivePathProblem(e.path) !== undefined) throw bad("lists an entry without a valid path");
    const { path } = e;
    if (paths.has(path)) throw bad(`lists "${path}" twice`);
    paths.add(path);
    if (e.type !== "file" && e.type !== "directory") throw bad(`gives "${path}" an unknown type`);
    if (!isInt(e.size) || !isInt(e.mode, 0, 0o7777) || !isInt(e.member, 0, members.length - 1) || !isInt(e.offset)) throw bad(`gives "${path}" a size, mode, member or offset out of range`);
    if (e.type === "file" ? typeof e.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(e.sha256) : e.sha256 !== undefined || e.size !== 0) throw bad(`gives "${path}" a wrong sha256 or size for its type`);
    if (e.offset > members[e.member].usize) throw bad(`puts "${path}" past the end of its member`);
    const start = starts[e.member] + e.offset;
    if (start < end) throw bad(`has "${path}" overlapping the entry before it`);
    end = start + e.size;
    if (end > decompressed) throw bad(`has "${path}" running past the end of the archive`);
    entries.push({ path, type: e.type, size: e.size, mode: e.mode, ...(e.type === "file" ? { sha256: e.sha256 as string } : {}), member: e.member, offset: e.offset });
  }
  return { members, entries };
}

/**
 * The compressed byte range holding bytes `start` to `end` (exclusive) of
 * `entry`'s data, how many decompressed bytes of it come before `start`, the
 * decompressed size of its members, and which members they are (`first` to `last`).
 */
export function entryRange(index: ArchiveIndex, entry: IndexEntry, start = 0, end = entry.size): { offset: number; length: number; skip: number; usize: number; first: number; last: number } {
  let first = entry.member;
  let skip = entry.offset + start;
  while (skip >= index.members[first].usize && first + 1 < index.members.length) {
    skip -= index.members[first].usize;
    first++;
  }
  let last = first;
  let usize = index.members[last].usize;
  let available = usize - skip;
  while (available < end - start && last + 1 < index.members.length) {
    last++;
    available += index.members[last].usize;
    usize += index.members[last].usize;
  }
  if (available < end - start) throw new IntegrityError(`The index places "${entry.path}" past the end of the archive.`);
  const from = index.members[first];
  const stop = index.members[last];
  return { offset: from.offset, length: stop.offset + stop.size - from.offset, skip, usize, first, last };
}

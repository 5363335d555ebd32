/**
 * The 512-byte tar header: POSIX ustar encoding and decoding (octal fields,
 * name/prefix split, checksum), and the header blocks of one entry, with a
 * PAX `x` header in front when ustar cannot hold a path, size or time.
 *
 * Specs: POSIX.1-2017 `pax`, "ustar Interchange Format"
 * (https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html#tag_20_92_13_06),
 * and GNU tar's header layout for the `ustar  ` variant and base-256 numbers
 * (https://www.gnu.org/software/tar/manual/html_node/Standard.html).
 */
import { InvalidArchiveError, InvalidArgumentError } from "../../util/errors.ts";
import { encodePaxRecords } from "./pax.ts";

/** Size of a tar block; headers and padded bodies are whole blocks. */
export const BLOCK_SIZE = 512;

/** Largest value of the 12-byte octal size/mtime fields: 11 octal digits (8 GiB - 1). */
export const USTAR_MAX_OCTAL_11 = 8 ** 11 - 1;

/** Typeflags this library writes or interprets (POSIX ustar and GNU extensions). */
export const TypeFlag = {
  file: "0",
  oldFile: "\0", // pre-POSIX writers leave the flag NUL
  hardlink: "1",
  symlink: "2",
  directory: "5",
  contiguous: "7", // POSIX: treat as a regular file
  paxLocal: "x",
  paxGlobal: "g",
  gnuLongName: "L",
  gnuLongLink: "K",
  gnuDumpDir: "D", // GNU incremental: a directory whose data lists its contents
  gnuSparse: "S", // old GNU sparse file: refused, see tar-metadata.ts sparseError
} as const;

/** The fields of one ustar header, as numbers and strings. */
export interface TarHeader {
  /** Path (the `name` field, or `prefix/name` after decoding). */
  name: string;
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of data following the header (before padding). */
  size: number;
  /** Modification time, whole seconds since the Unix epoch. */
  mtime: number;
  /** One character, see {@link TypeFlag}. */
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
}

/** A decoded header: the fields plus which dialect wrote it. */
export interface DecodedTarHeader extends TarHeader {
  /** `"ustar"` (POSIX), `"gnu"` (`ustar  ` magic, no prefix field) or `"v7"` (no magic). */
  format: "ustar" | "gnu" | "v7";
}

const encoder = new TextEncoder();
const decoder = new TextDecoder(); // non-fatal: legacy Latin-1 names decode with U+FFFD rather than fail

// Field offsets and lengths, POSIX ustar layout.
const NAME = [0, 100] as const;
const MODE = [100, 8] as const;
const UID = [108, 8] as const;
const GID = [116, 8] as const;
const SIZE = [124, 12] as const;
const MTIME = [136, 12] as const;
const CHKSUM = [148, 8] as const;
const TYPEFLAG = 156;
const LINKNAME = [157, 100] as const;
const MAGIC = [257, 8] as const; // magic (6) + version (2)
const UNAME = [265, 32] as const;
const GNAME = [297, 32] as const;
const PREFIX = [345, 155] as const;

/** True if `s` is 7-bit ASCII: only such names go into ustar fields untouched. */
export function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

/** Bytes of `size` rounded up to whole blocks, minus `size`: the zero padding after a body. */
export function paddingFor(size: number): number {
  const rest = size % BLOCK_SIZE;
  return rest === 0 ? 0 : BLOCK_SIZE - rest;
}

/**
 * Splits an ASCII path into ustar `prefix` (<= 155 bytes) and `name` (<= 100 bytes)
 * at a `/`, as POSIX ustar allows; `null` when no split fits (then PAX `path` is needed).
 */
export function splitUstarPath(path: string): { name: string; prefix: string } | null {
  if (path.length <= NAME[1]) return { name: path, prefix: "" };
  // The last usable slash leaves a name of at most 100 bytes; search from there leftwards.
  for (let i = path.lastIndexOf("/", path.length - 2); i > 0; i = path.lastIndexOf("/", i - 1)) {
    const name = path.slice(i + 1);
    if (name.length > NAME[1]) return null; // moving left only makes the name longer
    if (i <= PREFIX[1]) return { name, prefix: path.slice(0, i) };
  }
  return null;
}

function writeString(block: Uint8Array, [offset, length]: readonly [number, number], value: string): void {
  const bytes = encoder.encode(value);
  if (bytes.length > length) {
    throw new InvalidArgumentError(
      `Tar header field of ${length} bytes cannot hold "${value}" (${bytes.length} bytes). Use a PAX record for it.`,
    );
  }
  block.set(bytes, offset);
}

function writeOctal(block: Uint8Array, [offset, length]: readonly [number, number], value: number): void {
  // length - 1 zero-padded digits and a NUL terminator, as GNU tar and POSIX writers do.
  const digits = value.toString(8).padStart(length - 1, "0");
  if (!Number.isSafeInteger(value) || value < 0 || digits.length > length - 1) {
    throw new InvalidArgumentError(
      `Tar header value ${value} does not fit a ${length}-byte octal field. Use a PAX record for it.`,
    );
  }
  writeString(block, [offset, length - 1], digits);
}

function checksum(block: Uint8Array): { unsigned: number; signed: number } {
  // The checksum field itself counts as eight spaces (POSIX ustar "chksum").
  let unsigned = 8 * 0x20;
  let signed = 8 * 0x20;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    if (i >= CHKSUM[0] && i < CHKSUM[0] + CHKSUM[1]) continue;
    const b = block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b; // some historic writers summed signed chars
  }
  return { unsigned, signed };
}

/**
 * Encodes one 512-byte ustar header. Every field must fit: callers put what
 * does not into PAX records first (see {@link encodeEntryHeader}).
 */
export function encodeUstarHeader(header: TarHeader & { prefix?: string }): Uint8Array {
  const block = new Uint8Array(BLOCK_SIZE);
  writeString(block, NAME, header.name);
  writeOctal(block, MODE, header.mode & 0o7777);
  writeOctal(block, UID, header.uid);
  writeOctal(block, GID, header.gid);
  writeOctal(block, SIZE, header.size);
  writeOctal(block, MTIME, header.mtime);
  block[TYPEFLAG] = header.typeflag.charCodeAt(0);
  writeString(block, LINKNAME, header.linkname);
  block.set(encoder.encode("ustar\x0000"), MAGIC[0]);
  writeString(block, UNAME, header.uname);
  writeString(block, GNAME, header.gname);
  writeOctal(block, [329, 8], 0); // devmajor
  writeOctal(block, [337, 8], 0); // devminor
  writeString(block, PREFIX, header.prefix ?? "");
  // Six octal digits, NUL, space: the traditional layout every reader accepts.
  writeString(block, CHKSUM, checksum(block).unsigned.toString(8).padStart(6, "0") + "\0 ");
  return block;
}

function readString(block: Uint8Array, [offset, length]: readonly [number, number]): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return decoder.decode(end === -1 ? field : field.subarray(0, end));
}

/**
 * Reads an octal or GNU base-256 number field. Only `mtime` may be negative
 * (GNU tar writes times before 1970 in base-256); a negative size would make
 * the reader count bytes backwards, so every other field refuses one.
 */
function readNumber(
  block: Uint8Array,
  [offset, length]: readonly [number, number],
  what: string,
  at: number,
  signed = false,
): number {
  const field = block.subarray(offset, offset + length);
  if (field[0]! & 0x80) {
    // GNU base-256: high bit set, big-endian two's complement in the rest (used for sizes >= 8 GiB).
    let value = field[0] === 0xff ? -1 : field[0]! & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + field[i]!;
    if (!Number.isSafeInteger(value)) {
      throw new InvalidArchiveError(`Tar header at byte ${at} has a ${what} too large to represent; the archive is corrupt or not supported.`);
    }
    if (value < 0 && !signed) {
      throw new InvalidArchiveError(
        `Tar header at byte ${at} has a negative ${what} (${value}); the archive is corrupt or hostile. Re-download or re-create it.`,
      );
    }
    return value;
  }
  let i = 0;
  while (i < length && (field[i] === 0x20 || field[i] === 0)) i++; // leading spaces or NULs
  let value = 0;
  for (; i < length; i++) {
    const c = field[i]!;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) {
      throw new InvalidArchiveError(
        `Tar header at byte ${at} has a non-octal ${what} field; the input is corrupt or not a tar archive.`,
      );
    }
    value = value * 8 + (c - 0x30);
  }
  return value;
}

/**
 * Decodes one header block, verifying its checksum. Returns `null` for an
 * all-zero block (the end-of-archive marker). `at` is the block's byte offset,
 * used in error messages.
 */
export function decodeTarHeader(block: Uint8Array, at = 0): DecodedTarHeader | null {
  if (block.length !== BLOCK_SIZE) {
    throw new InvalidArchiveError(`Tar header at byte ${at} is ${block.length} bytes, not ${BLOCK_SIZE}; the archive is truncated.`);
  }
  if (block.every((b) => b === 0)) return null;
  const stored = readNumber(block, CHKSUM, "checksum", at);
  const sums = checksum(block);
  if (stored !== sums.unsigned && stored !== sums.signed) {
    throw new InvalidArchiveError(
      `Tar header at byte ${at} has a bad checksum (stored ${stored}, computed ${sums.unsigned}): ` +
        "the archive is corrupt or this is not a tar archive. Re-download or re-create it.",
    );
  }
  const magic = readString(block, [MAGIC[0], 6]);
  const gnu = magic === "ustar " && block[MAGIC[0] + 6] === 0x20;
  const format = gnu ? "gnu" : magic === "ustar" ? "ustar" : "v7";
  let name = readString(block, NAME);
  // GNU's header reuses the prefix area for atime/ctime, so only POSIX ustar has a prefix.
  const prefix = format === "ustar" ? readString(block, PREFIX) : "";
  if (prefix) name = `${prefix}/${name}`;
  return {
    name,
    mode: readNumber(block, MODE, "mode", at),
    uid: readNumber(block, UID, "uid", at),
    gid: readNumber(block, GID, "gid", at),
    size: readNumber(block, SIZE, "size", at),
    mtime: readNumber(block, MTIME, "mtime", at, true),
    typeflag: String.fromCharCode(block[TYPEFLAG]!),
    linkname: readString(block, LINKNAME),
    uname: format === "v7" ? "" : readString(block, UNAME),
    gname: format === "v7" ? "" : readString(block, GNAME),
    format,
  };
}

/** What {@link encodeEntryHeader} needs to describe one entry. */
export interface EntryHeaderInput {
  /** `/`-separated path; directories may omit the trailing `/`, it is added. */
  path: string;
  type: "file" | "directory" | "symlink" | "hardlink";
  size: number;
  mode: number;
  mtime: Date;
  linkTarget?: string;
}

function asciiFallback(s: string, max: number): string {
  // What non-PAX readers see when the real value lives in a PAX record.
  const ascii = s.replace(/[^\x20-\x7e]/g, "_");
  return encoder.encode(ascii).length <= max ? ascii : ascii.slice(ascii.length - max);
}

/**
 * Encodes the header blocks for one entry: a ustar header, preceded by a PAX
 * `x` header and its padded records when a path, link, size or mtime does not
 * fit ustar (long or non-ASCII paths, sizes >= 8 GiB, times before 1970 or after 2242).
 */
export function encodeEntryHeader(entry: EntryHeaderInput): Uint8Array {
  const typeflag = { file: "0", directory: "5", symlink: "2", hardlink: "1" }[entry.type];
  const path = entry.type === "directory" && !entry.path.endsWith("/") ? `${entry.path}/` : entry.path;
  const pax: Record<string, string> = {};
  let split = isAscii(path) ? splitUstarPath(path) : null;
  if (!split) {
    pax.path = path;
    const base = path.slice(path.lastIndexOf("/", path.length - 2) + 1);
    split = { name: asciiFallback(base, NAME[1]), prefix: "" };
  }
  let linkname = entry.linkTarget ?? "";
  if (!isAscii(linkname) || linkname.length > LINKNAME[1]) {
    pax.linkpath = linkname;
    linkname = asciiFallback(linkname, LINKNAME[1]);
  }
  let size = entry.size;
  if (size > USTAR_MAX_OCTAL_11) {
    pax.size = String(size);
    size = 0; // readers that honour PAX use the record; the field cannot hold it
  }
  // Tar keeps whole seconds; sub-second precision is dropped rather than costing a PAX header per entry.
  let mtime = Math.floor(entry.mtime.getTime() / 1000);
  if (!Number.isSafeInteger(mtime)) {
    throw new InvalidArgumentError(`Entry "${entry.path}" has an invalid mtime. Pass a valid Date.`);
  }
  if (mtime < 0 || mtime > USTAR_MAX_OCTAL_11) {
    pax.mtime = String(mtime);
    mtime = mtime < 0 ? 0 : USTAR_MAX_OCTAL_11;
  }
  const header = encodeUstarHeader({
    ...split,
    mode: entry.mode,
    uid: 0,
    gid: 0,
    size,
    mtime,
    typeflag,
    linkname,
    uname: "",
    gname: "",
  });
  if (Object.keys(pax).length === 0) return header;

  const records = encodePaxRecords(pax);
  const paxHeader = encodeUstarHeader({
    name: asciiFallback(`PaxHeaders/${split.name}`, NAME[1]),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: records.length,
    mtime,
    typeflag: TypeFlag.paxLocal,
    linkname: "",
    uname: "",
    gname: "",
  });
  const out = new Uint8Array(BLOCK_SIZE + records.length + paddingFor(records.length) + BLOCK_SIZE);
  out.set(paxHeader, 0);
  out.set(records, BLOCK_SIZE);
  out.set(header, out.length - BLOCK_SIZE);
  return out;
}

/**
 * The metadata a tar reader carries between headers: PAX `x` (next entry) and
 * `g` (all later entries) records and GNU long names (`L`/`K`), read into
 * memory under one limit, and the checked values taken from them.
 *
 * Specs: POSIX.1-2017 `pax` (https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html),
 * GNU tar formats (https://www.gnu.org/software/tar/manual/html_node/Standard.html).
 */
import { InvalidArchiveError } from "../../util/errors.ts";
import type { ChunkReader } from "./chunk-reader.ts";
import { parsePaxRecords } from "./pax.ts";
import { paddingFor, TypeFlag, type DecodedTarHeader } from "./tar-header.ts";

/**
 * Metadata held in memory at once (pending `x`/`L`/`K` data plus the global
 * `g` records) is refused beyond this: one record or a pile of them, each
 * under the limit, would otherwise let a small gzipped archive allocate
 * without bound (a 419 KiB archive of 400 distinct 1 MiB `g` keys held 400 MiB).
 */
export const MAX_METADATA_SIZE = 1024 * 1024;

/** Seconds either side of 1970 that a JavaScript `Date` can hold (ECMA-262 §21.4.1.1: ±8.64e15 ms). */
const MAX_MTIME_SECONDS = 8.64e12;

const decoder = new TextDecoder();

function truncated(at: number): InvalidArchiveError {
  return new InvalidArchiveError(
    `The archive is truncated: the input ended inside a metadata entry (at byte ${at}). Re-download or re-create the archive.`,
  );
}

function cString(data: Uint8Array): string {
  const end = data.indexOf(0);
  return decoder.decode(end === -1 ? data : data.subarray(0, end));
}

function recordBytes(records: Record<string, string>): number {
  let n = 0;
  for (const key in records) n += key.length + records[key]!.length;
  return n;
}

/** True for the typeflags whose data is metadata for the entries after them. */
export function isMetadataType(flag: string): boolean {
  return flag === TypeFlag.paxLocal || flag === TypeFlag.paxGlobal || flag === TypeFlag.gnuLongName || flag === TypeFlag.gnuLongLink;
}

/** PAX records and GNU long names collected since the last entry, plus the global records. */
export class TarMetadata {
  #globals: Record<string, string> = {};
  #globalBytes = 0;
  #pax: Record<string, string> = {};
  #longName: string | undefined;
  #longLink: string | undefined;
  #pendingBytes = 0;

  /** Reads one metadata entry's data (see {@link isMetadataType}) and keeps what it says. */
  async read(input: ChunkReader, header: DecodedTarHeader, at: number): Promise<void> {
    // A `g` header may replace global values rather than add to them, so only its
    // size after merging counts; until then it is bounded by the limit alone.
    const global = header.typeflag === TypeFlag.paxGlobal;
    this.#checkLimit(header.size + (global ? 0 : this.#globalBytes), header, at);
    const data = await input.readExact(header.size);
    const padding = paddingFor(header.size);
    if (data.length < header.size || (await input.skip(padding)) < padding) throw truncated(input.position);
    switch (header.typeflag) {
      case TypeFlag.paxLocal:
        Object.assign(this.#pax, parsePaxRecords(data, at));
        this.#pendingBytes += data.length;
        break;
      case TypeFlag.paxGlobal:
        Object.assign(this.#globals, parsePaxRecords(data, at));
        // Recounted, not added: a writer that repeats the same `g` header replaces its values.
        this.#globalBytes = recordBytes(this.#globals);
        this.#checkLimit(this.#globalBytes, header, at);
        break;
      case TypeFlag.gnuLongName:
        this.#longName = cString(data);
        this.#pendingBytes += data.length;
        break;
      default:
        this.#longLink = cString(data);
        this.#pendingBytes += data.length;
    }
  }

  /** Throws if `adding` more bytes next to the pending ones passes {@link MAX_METADATA_SIZE}. */
  #checkLimit(adding: number, header: DecodedTarHeader, at: number): void {
    const held = this.#pendingBytes;
    if (adding <= MAX_METADATA_SIZE - held) return;
    throw new InvalidArchiveError(
      `Tar metadata entry (type "${header.typeflag}") at byte ${at} brings the metadata held for the next entry to ${adding + held} bytes, ` +
        `over the ${MAX_METADATA_SIZE}-byte limit. The archive is corrupt or hostile: re-create it with fewer or shorter PAX records.`,
    );
  }

  /** The metadata that applies to the entry whose header is at `at`; clears the per-entry part. */
  take(header: DecodedTarHeader, at: number): EntryMetadata {
    const pax = { ...this.#globals, ...this.#pax };
    const path = paxString(pax, "path") ?? this.#longName ?? header.name;
    const out: EntryMetadata = {
      path,
      size: paxNumber(pax, "size", /^\d+$/, at) ?? header.size,
      mtime: paxNumber(pax, "mtime", /^-?\d+(\.\d+)?$/, at) ?? header.mtime,
      linkTarget: paxString(pax, "linkpath") ?? this.#longLink ?? header.linkname,
    };
    this.#pax = {};
    this.#longName = this.#longLink = undefined;
    this.#pendingBytes = 0;
    if (Object.keys(pax).some((key) => key.startsWith("GNU.sparse."))) {
      // Sparse format 1.0 keeps the real name here; `path` is GNUSparseFile.<pid>/<name>.
      throw sparseError(paxString(pax, "GNU.sparse.name") ?? path);
    }
    if (Math.abs(out.mtime) > MAX_MTIME_SECONDS) {
      throw new InvalidArchiveError(
        `Tar entry "${path}" at byte ${at} has an mtime of ${out.mtime} seconds, outside the range a Date can hold; the archive is corrupt.`,
      );
    }
    return out;
  }
}

/** Path, size, time and link of one entry after its PAX records and GNU long names are applied. */
export interface EntryMetadata {
  path: string;
  size: number;
  /** Seconds since the Unix epoch, possibly fractional (PAX). */
  mtime: number;
  linkTarget: string;
}

/**
 * The error for GNU sparse files (old GNU typeflag `S`, PAX `GNU.sparse.*`):
 * their data is a map of holes plus fragments, not the file, and reading them
 * as plain files would write the map under a made-up name or lose the entry.
 */
export function sparseError(path: string): InvalidArchiveError {
  return new InvalidArchiveError(
    `Tar entry "${path}" is a GNU sparse file, which this reader does not support. Re-create the archive without -S/--sparse.`,
  );
}

function paxNumber(pax: Record<string, string>, key: string, pattern: RegExp, at: number): number | undefined {
  const raw = pax[key];
  if (raw === undefined || raw === "") return undefined; // "" deletes a global value (POSIX pax)
  const value = Number(raw);
  if (!pattern.test(raw) || !Number.isFinite(value) || Math.abs(value) > Number.MAX_SAFE_INTEGER) {
    throw new InvalidArchiveError(`PAX record ${key}="${raw}" before the header at byte ${at} is not a valid number; the archive is corrupt.`);
  }
  return value;
}

function paxString(pax: Record<string, string>, key: string): string | undefined {
  const raw = pax[key];
  return raw === undefined || raw === "" ? undefined : raw;
}

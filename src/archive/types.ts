/** Types shared by the archive writer (`createArchive`) and reader (`readArchive`). */
import type { ArchiveIndexLocation } from "./index/archive-index.ts";

/** The bytes of one archive entry. A stream needs a declared `size` (tar headers come first). */
export type ArchiveBody = Uint8Array | Blob | ReadableStream<Uint8Array>;

/** Iterable or async iterable: callers may pass arrays or generators that read lazily. */
export type EntrySource<T> = Iterable<T> | AsyncIterable<T>;

/** One file to put in an archive. */
export interface ArchiveInputEntry {
  /** Relative `/`-separated path inside the archive, e.g. `"weights/layer-1.bin"`. No `..`, no leading `/`. */
  path: string;
  /** The content. */
  body: ArchiveBody;
  /** Size in bytes. Required when `body` is a stream; checked against the bytes actually read. */
  size?: number;
  /** Unix permission bits. @default 0o644 */
  mode?: number;
  /** Modification time. @default the time the archive is created (or the deterministic time) */
  mtime?: Date;
}

/** What `createArchive` packs. */
export interface ArchiveInput {
  /** Model files, stored at the top level of the archive. */
  files: EntrySource<ArchiveInputEntry>;
  /** Extra files, stored under `extras/`. */
  extras?: EntrySource<ArchiveInputEntry>;
}

/** gzip engine: `"fflate"` (portable, level honoured) or `"native"` (`CompressionStream`, faster where present). */
export type CompressionEngine = "auto" | "fflate" | "native";

/** Options for `createArchive`. */
export interface CreateArchiveOptions {
  /**
   * Deflate level 0-9. Setting it selects the fflate engine unless `engine` says otherwise.
   * @default 6
   */
  level?: number;
  /** @default "auto": native `CompressionStream` where the runtime has it, else fflate */
  engine?: CompressionEngine;
  /**
   * Spend no deflate effort on blocks that do not compress (float weights): such
   * blocks are stored. Costs a few % of size on weights, saves most of the time.
   * @default true
   */
  adaptive?: boolean;
  /**
   * Same inputs give the same bytes: every mtime becomes this date (or the Unix
   * epoch when `true`), the gzip header carries no time, and the fflate engine is used.
   * @default false
   */
  deterministic?: boolean | Date;
  /** Versions of key libraries to record in `runtime-info.json`, e.g. `{ onnxruntime: "1.20.0" }`. */
  dependencies?: Record<string, string>;
  /** Aborts archive creation; the stream errors with `AbortedError`. */
  signal?: AbortSignal;
  /**
   * Called once the table of contents (appended to every archive as gzip members
   * that decompress to nothing; see archive/index/archive-index.ts) is written,
   * with where it is and its SHA-256: what `archive.index` in the metadata records.
   */
  onIndex?: (location: ArchiveIndexLocation) => void;
}

/** Kinds of tar entries `readArchive` reports. Other types are skipped. */
export type ArchiveEntryType = "file" | "directory" | "symlink" | "hardlink";

/** One entry read from an archive. Read `body` or call `skip()` before asking for the next entry. */
export interface ArchiveEntry {
  /** Path as stored (PAX `path` and GNU long names applied), without a trailing `/` for directories. */
  path: string;
  type: ArchiveEntryType;
  /** Size of the body in bytes (0 for non-files). */
  size: number;
  /** Unix permission bits. */
  mode: number;
  /** Modification time. */
  mtime: Date;
  /** Link target for `symlink` and `hardlink` entries. */
  linkTarget?: string;
  /** The entry's bytes, streamed from the archive. Readable once. */
  body: ReadableStream<Uint8Array>;
  /** Discards the body without buffering it. Safe to call after the body was read. */
  skip(): Promise<void>;
}

/** Options for `readArchive`. */
export interface ReadArchiveOptions {
  /** `"auto"` sniffs the gzip magic bytes. @default "auto" */
  compression?: "auto" | "gzip" | "none";
  /** Aborts reading; the iterator throws `AbortedError`. */
  signal?: AbortSignal;
}

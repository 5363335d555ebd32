/**
 * The store's side of seekable archives: reading a model's table of contents
 * (cached per model, so a second file costs one ranged read) and serving one
 * file or the file list from it. Archives without an index (older uploads,
 * the Python library's) are left to the scanning path by returning `undefined`.
 */
import type { ReadBackend } from "../backends/backend.ts";
import type { ArchiveIndex, ArchiveIndexLocation } from "../archive/index/archive-index.ts";
import { readEntry, readIndex, type FileRange, type IndexReadEngine, type RangeReader } from "../archive/index/read-entry.ts";
import type { ReadOptions } from "./options.ts";
import type { ModelMetadata } from "../metadata/document.ts";

/** Indexes kept per store; each is a few hundred bytes per file. */
const CACHED_INDEXES = 32;

/** One file as the index (or a scan) lists it. */
export interface ModelFile {
  path: string;
  size: number;
  /** Lowercase hex SHA-256 of the file's bytes. */
  sha256: string;
  /** Unix permission bits. */
  mode: number;
}

/** Options for `openFile`. */
export interface OpenFileOptions extends ReadOptions {
  /**
   * Only these bytes of the file: `length` (to the end when omitted) from
   * `offset`. Through the index only the members holding them are read, each
   * checked by its CRC-32 (the file's sha256 needs the whole file).
   * @default the whole file, its sha256 checked
   */
  range?: FileRange;
}

/** The index location a document records, when it records one. */
export function indexLocation(metadata: ModelMetadata): ArchiveIndexLocation | undefined {
  const index = metadata.archive?.index;
  return index && typeof index === "object" ? index : undefined;
}

/** Reads and caches archive indexes, keyed by archive key and index hash. */
export class ArchiveIndexCache {
  private readonly cache = new Map<string, Promise<ArchiveIndex>>();

  constructor(
    private readonly backend: ReadBackend,
    private readonly engine: IndexReadEngine,
  ) {}

  /** The model's index, or `undefined` when its archive has none. */
  async indexOf(metadata: ModelMetadata, key: string, what: string, signal?: AbortSignal): Promise<ArchiveIndex | undefined> {
    const location = indexLocation(metadata);
    if (!location || !metadata.archive) return undefined;
    const cacheKey = `${key}\n${location.sha256}\n${location.offset}`;
    let index = this.cache.get(cacheKey);
    if (!index) {
      index = readIndex(this.engine, this.reader(key, signal), location, metadata.archive.size, what);
      this.cache.set(cacheKey, index);
      index.catch(() => this.cache.delete(cacheKey)); // a failed read is tried again next time
      if (this.cache.size > CACHED_INDEXES) this.cache.delete(this.cache.keys().next().value!);
    }
    return index;
  }

  /** One file through the index: `null` when the index lists no such file, `undefined` when there is no index. */
  async openFile(metadata: ModelMetadata, key: string, path: string, what: string, options: OpenFileOptions): Promise<ReadableStream<Uint8Array> | null | undefined> {
    const index = await this.indexOf(metadata, key, what, options.signal);
    if (!index) return undefined;
    const entry = index.entries.find((e) => e.type === "file" && e.path === path);
    return entry ? readEntry(this.engine, this.reader(key, options.signal), index, entry, what, options.range) : null;
  }

  private reader(key: string, signal?: AbortSignal): RangeReader {
    return (offset, length) => this.backend.get(key, { range: { offset, length }, signal });
  }
}

/** The files an index lists, in archive order. */
export function filesOfIndex(index: ArchiveIndex): ModelFile[] {
  return index.entries.filter((e) => e.type === "file").map((e) => ({ path: e.path, size: e.size, sha256: e.sha256!, mode: e.mode }));
}

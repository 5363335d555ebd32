/**
 * The Backend contract: the only thing the store knows about storage.
 * Every backend (memory, file system, S3, ...) implements it and passes
 * the one contract suite in `test/backends/contract.ts`.
 *
 * Keys are `/`-separated strings such as
 * `operatorai-model-store/refunds/versions/<id>.json`. Backends know nothing
 * of models; they store bytes under keys.
 */

/** Options every call accepts. */
export interface BaseOptions {
  /** Aborts the call; checked between parts and entries. */
  signal?: AbortSignal;
}

/** What a backend knows about one stored object. */
export interface ObjectInfo {
  /** The full key. */
  key: string;
  /** Size in bytes. */
  size: number;
  /**
   * An opaque version tag that changes whenever the object's bytes change;
   * pass it back as `ifMatch` for compare-and-swap. Compare only for equality.
   */
  etag: string;
  /** Last modification time as an ISO-8601 string, when the backend knows it. */
  lastModified?: string;
}

/** Options for {@link Backend.get}. */
export interface GetOptions extends BaseOptions {
  /**
   * Read only `length` bytes from `offset` (the rest of the object when `length`
   * is omitted). A range past the end yields the bytes that exist, possibly none.
   */
  range?: { offset: number; length?: number };
}

/** Options for {@link Backend.put}. */
export interface PutOptions extends BaseOptions {
  /** The body's size in bytes when known; lets network backends pick a single PUT. */
  size?: number;
  /** MIME type. @default "application/octet-stream" */
  contentType?: string;
  /**
   * `"*"`: create-only. The put fails with `AlreadyExistsError` if the key exists.
   * Atomic when {@link BackendCapabilities.conditionalWrites} is true; otherwise
   * emulated by a check before the write, which racing writers can both pass.
   */
  ifNoneMatch?: "*";
  /**
   * Compare-and-swap: the put fails with `ConflictError` unless the object's
   * current etag equals this (and fails the same way if the object is missing).
   * Atomic when {@link BackendCapabilities.conditionalWrites} is true; otherwise emulated.
   */
  ifMatch?: string;
}

/** Options for {@link Backend.list}. */
export interface ListOptions extends BaseOptions {
  /** Stop after this many keys. @default unlimited */
  limit?: number;
}

/** Options for {@link Backend.signedUrl}. */
export interface SignedUrlOptions extends BaseOptions {
  /** Seconds the URL stays valid, from now: at least 1, at most 604,800 (7 days, SigV4's limit). */
  expiresIn: number;
}

/** Options for {@link Backend.collectGarbage}. */
export interface CollectGarbageOptions extends BaseOptions {
  /** Only leftovers last touched before this instant: younger ones may belong to a write still running. */
  before: Date;
  /** Report without removing anything. @default false */
  dryRun?: boolean;
}

/** Something an interrupted write left behind, found (and removed unless a dry run) by {@link Backend.collectGarbage}. */
export interface Leftover {
  /** `"temp-file"` and `"lock-file"` (file system), `"multipart-upload"` (S3), `"uncommitted-blocks"` (Azure). */
  kind: "temp-file" | "lock-file" | "multipart-upload" | "uncommitted-blocks";
  /** The key the interrupted write was for. */
  key: string;
  /** Bytes it holds, where known. */
  size?: number;
  /** When it was last written (a temp file) or started (a multipart upload), ISO-8601. */
  lastModified?: string;
}

/** What a backend can guarantee; the store adapts to it. */
export interface BackendCapabilities {
  /**
   * True when `ifNoneMatch: "*"` and `ifMatch` are enforced atomically by the
   * backend. When false the backend checks first and then writes, which leaves a
   * small race window; the store narrows it by reading back (see the README).
   */
  conditionalWrites: boolean;
}

/**
 * Where an object lives, as recorded in model metadata's `storage` field, in the
 * Python modelstore's terms: `{ type: "aws:s3", bucket, prefix }` for buckets,
 * `{ type: "file_system", root, path }` for local files.
 */
export interface StorageLocation {
  type: string;
  bucket?: string;
  /** The Azure container (`azure:blob-storage`). */
  container?: string;
  prefix?: string;
  root?: string;
  path?: string;
}

/** A storage backend: bytes under keys, on Web standard types. */
export interface Backend {
  /** Short name used in errors and metadata: `"memory"`, `"fs"`, `"s3"`. */
  readonly name: string;
  /** What this backend guarantees. May change after the first request (e.g. S3 servers that answer 501). */
  readonly capabilities: BackendCapabilities;
  /** Streams an object, or resolves `null` when the key does not exist. */
  get(key: string, options?: GetOptions): Promise<ReadableStream<Uint8Array> | null>;
  /** Stores an object atomically: readers see the old object or the whole new one, never a part. */
  put(key: string, body: Uint8Array | ReadableStream<Uint8Array>, options?: PutOptions): Promise<ObjectInfo>;
  /** Describes an object, or resolves `null` when the key does not exist. */
  head(key: string, options?: BaseOptions): Promise<ObjectInfo | null>;
  /** Removes an object. Removing a missing key is not an error. */
  delete(key: string, options?: BaseOptions): Promise<void>;
  /** Every object whose key starts with `prefix`, in lexicographic key order; pagination is hidden. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo>;
  /**
   * One level below `prefix` (which should end in `/`): the distinct next path
   * segments, each returned as `prefix + segment + "/"` for "folders" (common prefixes).
   * Used to list domains.
   */
  listPrefixes(prefix: string, options?: BaseOptions): AsyncIterable<string>;
  /**
   * Settles {@link capabilities} that are only found out on first use (S3 probes
   * whether its server enforces conditional writes) and resolves them. Backends
   * whose capabilities are fixed omit it.
   */
  resolveCapabilities?(options?: BaseOptions): Promise<BackendCapabilities>;
  /**
   * Finds what interrupted writes left below `prefix` that no key shows (the
   * file system's temp and lock files, S3's incomplete multipart uploads), last
   * touched before `options.before`, and removes each unless `dryRun`. Backends
   * whose writes leave nothing behind omit it.
   */
  collectGarbage?(prefix: string, options: CollectGarbageOptions): AsyncIterable<Leftover>;
  /**
   * A URL that lets anyone holding it GET `key` without credentials until it expires
   * (S3's presigned URL, Azure's SAS). The URL is a bearer credential: never log it.
   * Backends that cannot sign one omit it.
   */
  signedUrl?(key: string, options: SignedUrlOptions): Promise<string>;
  /**
   * Describes where `key` lives, for model metadata.
   * @default `{ type: name, prefix: key }`
   */
  locate?(key: string): StorageLocation;
  /**
   * The key a recorded location points at. Throws `InvalidArgumentError` when the
   * location belongs to another store (another bucket, another backend type).
   * @default `location.prefix`
   */
  keyOf?(location: StorageLocation): string;
}

/**
 * What reading models needs of a storage: get, head, list, and where keys live
 * in metadata. Every {@link Backend} is one; so are read-only ones such as `s3Reader`.
 */
export type ReadBackend = Pick<Backend, "name" | "get" | "head" | "list" | "locate" | "keyOf">;

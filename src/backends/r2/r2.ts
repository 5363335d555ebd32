/**
 * Cloudflare R2 through a Worker's bucket binding (`env.MODELS`): no keys in
 * code, no signing, no HTTP of our own. The binding's `onlyIf` gives real
 * create-only and compare-and-swap puts; archives larger than one part go up
 * as a multipart upload, parts `concurrency` at a time, aborted on failure so
 * nothing becomes visible.
 * @see https://developers.cloudflare.com/r2/api/workers/workers-api-reference/
 */
import { AbortedError, AlreadyExistsError, BackendError, ConflictError, IntegrityError, InvalidArgumentError, NotSupportedError } from "../../util/errors.ts";
import { abortedUpload, PartReader } from "../../util/part-reader.ts";
import { abortableStream } from "../../util/streams.ts";
import type { Backend, BaseOptions, GetOptions, ListOptions, ObjectInfo, PutOptions, StorageLocation } from "../backend.ts";
import type { R2BucketBinding, R2ObjectInfo } from "./r2-binding.ts";

export type { R2BucketBinding } from "./r2-binding.ts";

const MiB = 1024 * 1024;
/** R2 refuses parts under 5 MiB (all but the last) and more than 10,000 of them. */
const MIN_PART_SIZE = 5 * MiB;
const MAX_PARTS = 10_000;
/** R2 lists at most 1,000 keys per call. */
const LIST_PAGE = 1000;

/** The `type` recorded in metadata for archives stored through an R2 binding. */
export const R2_STORAGE_TYPE = "r2";

/** Options for {@link r2Backend}. */
export interface R2BackendOptions {
  /** The bucket binding: `env.MODELS` in a Worker, or Miniflare's `getR2Bucket()` in tests. */
  bucket: R2BucketBinding;
  /** The bucket's name, recorded in metadata so a model's location says which bucket it is in. */
  bucketName?: string;
  /** Bodies over one part go multipart, in parts of this size (uniform, as R2 requires). @default 8 MiB, at least 5 MiB */
  partSize?: number;
  /** Parts uploaded at once; memory stays near `partSize × (concurrency + 1)`. @default 4 */
  concurrency?: number;
}

/** The R2 backend: a Backend with locate/keyOf for the locations it records. */
export interface R2Backend extends Backend {
  locate(key: string): StorageLocation;
  keyOf(location: StorageLocation): string;
}

/**
 * A {@link Backend} over a Workers R2 bucket binding (name `"r2"`).
 * Signed URLs need R2's S3 API and its keys: use `s3Backend` on
 * `https://<account>.r2.cloudflarestorage.com` for those.
 */
export function r2Backend(options: R2BackendOptions): R2Backend {
  const { bucket, bucketName } = options;
  if (!bucket || typeof bucket.get !== "function" || typeof bucket.put !== "function" || typeof bucket.list !== "function") {
    throw new InvalidArgumentError("r2Backend() needs an R2 bucket binding: r2Backend({ bucket: env.MODELS }), with MODELS bound in wrangler.toml ([[r2_buckets]]).");
  }
  const partSize = options.partSize ?? 8 * MiB;
  const concurrency = options.concurrency ?? 4;
  if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE) throw new InvalidArgumentError(`partSize must be a whole number of bytes, at least 5 MiB (R2's smallest part), not ${partSize}.`);
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new InvalidArgumentError(`concurrency must be a whole number of at least 1, not ${concurrency}.`);

  /** Calls the binding; its failures (network, R2 errors) become BackendError with the operation and key. */
  async function call<T>(operation: string, key: string | undefined, run: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    checkSignal(signal);
    try {
      return await run();
    } catch (error) {
      if (error instanceof BackendError || error instanceof AbortedError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new BackendError(`R2 ${operation}${key === undefined ? "" : ` of "${key}"`} failed: ${message}`, { backend: "r2", operation, key }, { cause: error });
    }
  }

  async function putWhole(key: string, bytes: Uint8Array, options: PutOptions): Promise<ObjectInfo> {
    const onlyIf = options.ifNoneMatch === "*" ? { etagDoesNotMatch: "*" } : options.ifMatch !== undefined ? { etagMatches: unquote(options.ifMatch) } : undefined;
    const stored = await call("put", key, () => bucket.put(key, bytes, { onlyIf, httpMetadata: { contentType: options.contentType ?? "application/octet-stream" } }), options.signal);
    if (stored) return info(stored);
    if (options.ifNoneMatch === "*") throw new AlreadyExistsError(`Cannot create "${key}": it already exists in the R2 bucket. Pick a new key or drop ifNoneMatch.`);
    throw new ConflictError(`Cannot update "${key}": it changed or is gone since etag ${options.ifMatch} was read. Read it again and retry.`);
  }

  /** Parts (`read` first, then the rest of `parts`), `concurrency` at a time; the upload is aborted on any failure, so nothing is visible. */
  async function putMultipart(key: string, read: Uint8Array[], parts: PartReader, options: PutOptions): Promise<ObjectInfo> {
    const upload = await call("createMultipartUpload", key, () => bucket.createMultipartUpload(key, { httpMetadata: { contentType: options.contentType ?? "application/octet-stream" } }), options.signal);
    const uploaded: { partNumber: number; etag: string }[] = [];
    let size = 0;
    try {
      const inFlight = new Set<Promise<void>>();
      let failure: unknown;
      const send = (partNumber: number, part: Uint8Array) => {
        const job = call("uploadPart", key, () => upload.uploadPart(partNumber, part), options.signal).then(
          (done) => {
            uploaded.push({ partNumber: done.partNumber, etag: done.etag });
            parts.release(part);
          },
          (error) => void (failure ??= error),
        );
        const tracked = job.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
      };
      let partNumber = 0;
      for (;;) {
        while (inFlight.size >= concurrency) await Promise.race(inFlight);
        if (failure) throw failure;
        checkSignal(options.signal);
        // The parts read to decide on multipart go first.
        const part = read.shift() ?? (await parts.next());
        if (!part) break;
        if (++partNumber > MAX_PARTS) {
          throw new InvalidArgumentError(`Cannot put "${key}": it needs more than ${MAX_PARTS} parts of ${partSize} bytes. Pass a larger partSize to r2Backend().`);
        }
        size += part.byteLength;
        send(partNumber, part);
      }
      await Promise.all(inFlight);
      if (failure) throw failure;
      if (options.size !== undefined && options.size !== size) throw sizeMismatch(key, size, options.size);
      checkSignal(options.signal);
      uploaded.sort((a, b) => a.partNumber - b.partNumber);
      return info(await call("completeMultipartUpload", key, () => upload.complete(uploaded), options.signal));
    } catch (error) {
      await parts.cancel(error);
      await upload.abort().catch(() => undefined);
      if (options.signal?.aborted && !(error instanceof AbortedError)) throw abortedUpload(options.signal);
      throw error;
    }
  }

  return {
    name: "r2",
    capabilities: { conditionalWrites: true },

    async get(key: string, options: GetOptions = {}): Promise<ReadableStream<Uint8Array> | null> {
      checkKey(key);
      const range = options.range;
      if (range) checkRange(range);
      // R2 refuses empty ranges and ranges that start past the end, which the contract reads as
      // empty: only then is the object looked up, so an ordinary ranged read stays one request.
      const emptyIfPastEnd = async (error?: unknown) => {
        const head = await call("head", key, () => bucket.head(key), options.signal);
        if (head && error !== undefined && range!.offset < head.size) throw error;
        return head && emptyStream();
      };
      if (range?.length === 0) return emptyIfPastEnd();
      let object;
      try {
        object = await call("get", key, () => bucket.get(key, range && { range: range.length === undefined ? { offset: range.offset } : { offset: range.offset, length: range.length } }), options.signal);
      } catch (error) {
        if (!range || range.offset === 0) throw error;
        return emptyIfPastEnd(error);
      }
      if (!object) return null;
      // The binding's body takes no signal: the reader sees the abort between (and during) reads.
      return abortableStream(object.body, options.signal);
    },

    async put(key: string, body: Uint8Array | ReadableStream<Uint8Array>, options: PutOptions = {}): Promise<ObjectInfo> {
      checkKey(key);
      if (options.ifNoneMatch !== undefined && options.ifMatch !== undefined) {
        throw new InvalidArgumentError("Pass either ifNoneMatch or ifMatch to put(), not both: a write cannot be create-only and compare-and-swap at once.");
      }
      if (options.ifNoneMatch !== undefined && options.ifNoneMatch !== "*") {
        throw new InvalidArgumentError(`ifNoneMatch accepts only "*" (create-only), not ${JSON.stringify(options.ifNoneMatch)}.`);
      }
      checkSignal(options.signal);
      if (body instanceof Uint8Array) {
        if (options.size !== undefined && options.size !== body.byteLength) throw sizeMismatch(key, body.byteLength, options.size);
        // A private copy: the caller may reuse its buffer once put() returns, and R2 gets exact bytes.
        if (body.byteLength <= partSize) return putWhole(key, body.slice(), options);
        body = new ReadableStream({ start: (controller) => (controller.enqueue(body as Uint8Array), controller.close()) });
      }
      const parts = new PartReader(body, partSize, options.signal, concurrency + 1);
      let first: Uint8Array | null;
      let second: Uint8Array | null;
      try {
        first = (await parts.next()) ?? new Uint8Array(0);
        second = first.byteLength < partSize ? null : await parts.next();
      } catch (error) {
        await parts.cancel(error);
        throw error;
      }
      if (!second) {
        if (options.size !== undefined && options.size !== first.byteLength) throw sizeMismatch(key, first.byteLength, options.size);
        return putWhole(key, first.slice(), options);
      }
      if (options.ifNoneMatch !== undefined || options.ifMatch !== undefined) {
        await parts.cancel();
        throw new NotSupportedError(
          `Cannot put "${key}" conditionally: it is larger than one part (${partSize} bytes), and R2's multipart uploads take no conditions. Raise partSize or write it without ifNoneMatch/ifMatch.`,
        );
      }
      return putMultipart(key, [first, second], parts, options);
    },

    async head(key: string, options: BaseOptions = {}): Promise<ObjectInfo | null> {
      checkKey(key);
      const object = await call("head", key, () => bucket.head(key), options.signal);
      return object ? info(object) : null;
    },

    async delete(key: string, options: BaseOptions = {}): Promise<void> {
      checkKey(key);
      await call("delete", key, () => bucket.delete(key), options.signal);
    },

    async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
      let cursor: string | undefined;
      let remaining = options.limit ?? Infinity;
      while (remaining > 0) {
        const page = await call("list", prefix, () => bucket.list({ prefix, cursor, limit: Math.min(LIST_PAGE, remaining) }), options.signal);
        for (const object of page.objects) {
          if (remaining-- <= 0) return;
          yield info(object);
        }
        if (!page.truncated || !page.cursor) return;
        cursor = page.cursor;
      }
    },

    async *listPrefixes(prefix: string, options: BaseOptions = {}): AsyncIterable<string> {
      let cursor: string | undefined;
      for (;;) {
        const page = await call("list", prefix, () => bucket.list({ prefix, cursor, delimiter: "/", limit: LIST_PAGE }), options.signal);
        for (const folder of page.delimitedPrefixes ?? []) yield folder;
        if (!page.truncated || !page.cursor) return;
        cursor = page.cursor;
      }
    },

    locate(key: string): StorageLocation {
      return { type: R2_STORAGE_TYPE, ...(bucketName ? { bucket: bucketName } : {}), prefix: key };
    },

    keyOf(location: StorageLocation): string {
      if (location.type !== R2_STORAGE_TYPE || (bucketName !== undefined && location.bucket !== undefined && location.bucket !== bucketName) || !location.prefix) {
        throw new InvalidArgumentError(
          `This model's archive is stored at ${JSON.stringify(location)}, not in this R2 bucket${bucketName ? ` ("${bucketName}")` : ""}. Open a store on that location to read it.`,
        );
      }
      return location.prefix;
    },
  };
}

function info(object: R2ObjectInfo): ObjectInfo {
  return {
    key: object.key,
    size: object.size,
    etag: object.httpEtag ?? `"${object.etag}"`,
    lastModified: object.uploaded instanceof Date ? object.uploaded.toISOString() : new Date(object.uploaded).toISOString(),
  };
}

/** R2's conditions compare bare etags; ours carry HTTP's quotes. */
function unquote(etag: string): string {
  return etag.replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

function checkSignal(signal?: AbortSignal): void {
  if (signal?.aborted) throw new AbortedError("The R2 request was aborted by its AbortSignal; an interrupted upload leaves nothing visible.", { cause: signal.reason });
}

function checkKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) {
    throw new InvalidArgumentError(`Invalid key ${JSON.stringify(key)}: keys are non-empty strings such as "domain/versions/id.json".`);
  }
}

function checkRange(range: NonNullable<GetOptions["range"]>): void {
  const { offset, length } = range;
  if (!Number.isSafeInteger(offset) || offset < 0 || (length !== undefined && (!Number.isSafeInteger(length) || length < 0))) {
    throw new InvalidArgumentError(`Invalid range ${JSON.stringify(range)}: offset and length must be non-negative integers.`);
  }
}

function sizeMismatch(key: string, actual: number, expected: number): IntegrityError {
  return new IntegrityError(`Cannot put "${key}": the body has ${actual} bytes but size says ${expected}. Pass the body's real size or omit size; nothing was stored.`);
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (controller) => controller.close() });
}

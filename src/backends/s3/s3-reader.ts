/**
 * The read half of the S3 backend: GetObject (ranged or parallel), HeadObject,
 * ListObjectsV2 and where keys live in metadata. `s3Reader` is this alone, for
 * readers (edge workers, services) that never write: it leaves the upload path
 * (multipart, conditional-write probes, MD5) out of their bundles. The full
 * backend (s3.ts) extends it.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/Welcome.html
 */
import { InvalidArgumentError, throwIfAborted } from "../../util/errors.ts";
import type { BaseOptions, GetOptions, ListOptions, ObjectInfo, ReadBackend, StorageLocation } from "../backend.ts";
import { isEmptyRange, normalizeEtag } from "../http-wire.ts";
import { emptyStream, objectBody, rangeHeader, type ObjectReads } from "./s3-get.ts";
import { s3Error, parseErrorXml } from "./s3-errors.ts";
import { listPages } from "./s3-list.ts";
import { resolveS3Options, type ResolvedS3Options, type S3BackendOptions } from "./s3-options.ts";
import { checkKey, S3Transport } from "./s3-transport.ts";

/**
 * The `storage.type` values of S3-compatible buckets the Python modelstore writes, each with
 * `{bucket, prefix}`: `aws:s3`, `minio:<endpoint>`, and `google:cloud-storage` (read here through GCS's S3 interoperability).
 */
function isBucketStorageType(type: string): boolean {
  return type === STORAGE_TYPE || type === "google:cloud-storage" || type.startsWith("minio:");
}

/** The metadata `storage.type` of S3 locations, as the Python modelstore writes it. */
const STORAGE_TYPE = "aws:s3";

function infoFromHeaders(key: string, headers: Headers, size: number): ObjectInfo {
  const modified = headers.get("last-modified");
  const date = modified ? new Date(modified) : undefined;
  return {
    key,
    size,
    etag: normalizeEtag(headers.get("etag") ?? ""),
    ...(date && !Number.isNaN(date.getTime()) ? { lastModified: date.toISOString() } : {}),
  };
}

/** An S3 bucket, read only: what {@link s3Reader} returns. */
export interface S3Reader extends ReadBackend {
  readonly name: "s3";
  /** The bucket the keys are in. */
  readonly bucket: string;
  locate(key: string): StorageLocation;
  keyOf(location: StorageLocation): string;
  /** ListObjectsV2 with `delimiter=/`: the key prefixes one level below `prefix`. */
  listPrefixes(prefix: string, options?: BaseOptions): AsyncIterable<string>;
}

/**
 * An S3 bucket for reading only (get, head, list), with the same options as
 * `s3Backend`; pass it to `ModelReader`. Bundles without the upload path.
 * @throws InvalidArgumentError on bad options
 */
export function s3Reader(options: S3BackendOptions): S3Reader {
  return new S3Reads(resolveS3Options(options));
}

/** S3's reads over one bucket; the full backend adds the writes. */
export class S3Reads implements S3Reader {
  readonly name = "s3" as const;
  readonly bucket: string;
  /** Exposed to tests (backoff) and to the bench; not part of the public type. */
  readonly transport: S3Transport;
  /**
   * The bucket was seen to exist, or cannot be checked with these credentials: either way a
   * 404 is read as a missing key from then on (a bucket is not deleted under a running store).
   */
  protected bucketChecked = false;
  private readonly reads: ObjectReads;

  /** `inParts`: how whole objects larger than a part are read in parallel (the full backend's); without it, one GET each. */
  constructor(
    readonly options: ResolvedS3Options,
    inParts?: ObjectReads["inParts"],
  ) {
    this.bucket = options.bucket;
    this.transport = new S3Transport(options);
    this.reads = {
      transport: this.transport,
      options,
      getObject: (key, range, signal, etag) => this.getObject(key, range, signal, etag),
      inParts,
    };
  }

  /**
   * GetObject, with a `Range` header for ranged reads; 404 → null, 416 → no bytes.
   * With `downloadConcurrency` above 1, a whole object larger than one part is
   * read as that many ranged GETs at a time (s3-parallel-get.ts): the first
   * asks for the first part and learns the size and ETag from the answer.
   * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
   */
  async get(key: string, options: GetOptions = {}): Promise<ReadableStream<Uint8Array> | null> {
    checkKey(key);
    throwIfAborted(options.signal);
    const { range } = options;
    // A zero-length range cannot be expressed in HTTP; only existence matters.
    if (isEmptyRange(key, range)) return (await this.head(key, options)) ? emptyStream() : null;
    return objectBody(this.reads, key, range, options.signal);
  }

  /** One GetObject answer: null for a missing key, no body past the end (416). */
  private async getObject(key: string, range: GetOptions["range"], signal: AbortSignal | undefined, etag?: string): Promise<Response | null> {
    const headers: Record<string, string> = {};
    if (range) headers.range = rangeHeader(range.offset, range.length);
    if (etag) headers["if-match"] = etag;
    const response = await this.transport.send({ method: "GET", operation: "GetObject", key, headers, signal, accept: [404, 416] });
    if (response.status === 404) {
      await this.throwIfBucketMissing(response, "GetObject", key);
      return null;
    }
    this.bucketChecked = true;
    if (response.status === 416) {
      // Past the end: the bytes that exist there are none.
      await response.body?.cancel().catch(() => {});
      return new Response(null, { status: 204 });
    }
    return response;
  }

  /**
   * HeadObject; 404 → null. A HEAD answer has no body to tell a missing key
   * from a missing bucket, so the first 404 is followed by one HeadBucket.
   * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
   */
  async head(key: string, options: BaseOptions = {}): Promise<ObjectInfo | null> {
    checkKey(key);
    throwIfAborted(options.signal);
    const response = await this.transport.send({ method: "HEAD", operation: "HeadObject", key, signal: options.signal, accept: [404] });
    if (response.status === 404) {
      if (!this.bucketChecked) await this.checkBucket(key, options.signal);
      return null;
    }
    this.bucketChecked = true;
    return infoFromHeaders(key, response.headers, Number(response.headers.get("content-length") ?? 0));
  }

  /**
   * HeadBucket: throws NoSuchBucket when the bucket is missing. A 403 (the
   * credentials lack s3:ListBucket) proves nothing either way; it is let pass
   * and not asked again, so such credentials pay for one extra request only.
   * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html
   */
  private async checkBucket(key: string, signal?: AbortSignal): Promise<void> {
    const response = await this.transport.send({ method: "HEAD", operation: "HeadBucket", signal, accept: [403, 404] });
    if (response.status === 404) {
      throw s3Error({ operation: "HeadObject", bucket: this.bucket, key }, 404, { code: "NoSuchBucket", message: "The specified bucket does not exist." });
    }
    this.bucketChecked = true;
  }

  /** ListObjectsV2, every page. @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html */
  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    throwIfAborted(options.signal);
    for await (const page of listPages(this.transport, prefix, options)) {
      yield* page.objects;
    }
  }

  /** ListObjectsV2 with `delimiter=/`: the CommonPrefixes. @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_CommonPrefix.html */
  async *listPrefixes(prefix: string, options: BaseOptions = {}): AsyncIterable<string> {
    throwIfAborted(options.signal);
    for await (const page of listPages(this.transport, prefix, { delimiter: "/", signal: options.signal })) {
      yield* page.prefixes;
    }
  }

  locate(key: string): StorageLocation {
    return { type: this.options.dialect === "gcs" ? "google:cloud-storage" : STORAGE_TYPE, bucket: this.bucket, prefix: key };
  }

  keyOf(location: StorageLocation): string {
    if (!isBucketStorageType(location.type) || location.bucket !== this.bucket || !location.prefix) {
      throw new InvalidArgumentError(
        `This model's archive is stored at ${JSON.stringify(location)}, not in S3 bucket "${this.bucket}". Open a store on that location to read it.`,
      );
    }
    return location.prefix;
  }

  /** A 404 that names a missing bucket, not a missing key, throws `NoSuchBucket`. */
  protected async throwIfBucketMissing(response: Response, operation: "GetObject" | "DeleteObject", key: string): Promise<void> {
    const parsed = parseErrorXml(await response.text().catch(() => ""));
    if (parsed.code === "NoSuchBucket") throw s3Error({ operation, bucket: this.bucket, key }, 404, parsed);
  }
}

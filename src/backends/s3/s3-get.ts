/**
 * The body of an S3 GetObject as the backend hands it out: one answer made
 * resumable (s3-body.ts), or, with `downloadConcurrency` above 1, a whole
 * object larger than one part read as that many ranged GETs at a time
 * (s3-parallel-get.ts), all pinned to one version by `If-Match`.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
 */
import type { BackendError } from "../../util/errors.ts";
import type { GetOptions } from "../backend.ts";
import { resumableBody } from "./s3-body.ts";
import { cutOffError } from "./s3-errors.ts";
import type { ResolvedS3Options } from "./s3-options.ts";
import { parallelBody } from "./s3-parallel-get.ts";
import type { S3Transport } from "./s3-transport.ts";
import { emptyStream, rangeHeader } from "../http-wire.ts";

export { emptyStream, rangeHeader } from "../http-wire.ts";

type Range = GetOptions["range"];

/** What reading an object needs from the backend. */
export interface ObjectReads {
  transport: S3Transport;
  options: ResolvedS3Options;
  /** One GetObject answer: `null` for a missing key, an empty 204 past the end. */
  getObject(key: string, range: Range, signal: AbortSignal | undefined, etag?: string): Promise<Response | null>;
  /** Whole objects larger than one part, as parallel ranged GETs ({@link partsBody}); without it, one GET each. */
  inParts?: typeof partsBody;
}

/**
 * The bytes of `key` (in `range`, if given), or `null` when it is missing. The
 * first request of a parallel read asks for the first part and learns the
 * size and ETag from its answer.
 */
export async function objectBody(reads: ObjectReads, key: string, range: Range, signal: AbortSignal | undefined): Promise<ReadableStream<Uint8Array> | null> {
  const { partSize, downloadConcurrency: concurrency } = reads.options;
  const inParts = !range && concurrency > 1 && reads.inParts !== undefined;
  const response = await reads.getObject(key, inParts ? { offset: 0, length: partSize } : range, signal);
  if (!response) return null;
  if (!response.body) return emptyStream();
  if (inParts && response.status === 206) {
    const body = await reads.inParts!(reads, response, key, signal);
    if (body !== undefined) return body;
  }
  return resumable(reads, response, key, inParts ? undefined : range, signal);
}

/**
 * The rest of a whole-object read whose first part `response` answered: the
 * other parts in parallel when the object is larger than one part, else
 * `undefined` (the answer is the whole object); `null` when the object was
 * deleted meanwhile. The full backend sets it as
 * {@link ObjectReads.inParts}; `s3Reader` does not, so its bundles leave it out.
 */
export async function partsBody(reads: ObjectReads, response: Response, key: string, signal: AbortSignal | undefined): Promise<ReadableStream<Uint8Array> | null | undefined> {
  const { partSize, downloadConcurrency: concurrency } = reads.options;
  const size = Number(/\/(\d+)$/.exec(response.headers.get("content-range") ?? "")?.[1] ?? NaN);
  const etag = response.headers.get("etag");
  if (size > partSize && etag) {
    return parallelBody({
      size,
      partSize,
      concurrency,
      first: resumable(reads, response, key, { offset: 0, length: partSize }, signal),
      fetchPart: (offset, length, partSignal) => rangedPart(reads, key, { offset, length }, etag, partSignal),
      signal,
      shortPart: (offset, expected, received) =>
        readError(reads, key, received, new Error(`the range from byte ${offset} ended after ${received} of ${expected} bytes`)),
    });
  }
  if (!(size <= partSize)) {
    // Larger, but with no size or ETag to pin the other parts to: read it whole instead.
    await response.body?.cancel().catch(() => {});
    return objectBody(reads, key, { offset: 0 }, signal);
  }
  return undefined;
}

/** A part of a parallel read: a 206 answer from exactly `range.offset`, pinned to `etag`. */
async function rangedPart(
  reads: ObjectReads,
  key: string,
  range: { offset: number; length: number },
  etag: string,
  signal: AbortSignal | undefined,
): Promise<ReadableStream<Uint8Array>> {
  const response = await reads.getObject(key, range, signal, etag);
  if (!response) throw readError(reads, key, 0, new Error(`the object was deleted while it was being read (at byte ${range.offset})`));
  if (response.status !== 206 || !response.body || !response.headers.get("content-range")?.startsWith(`bytes ${range.offset}-`)) {
    await response.body?.cancel().catch(() => {});
    throw readError(reads, key, 0, new Error(`the ranged read from byte ${range.offset} answered ${response.status} ${response.headers.get("content-range") ?? ""}`));
  }
  return resumable(reads, response, key, range, signal);
}

/** `response`'s body, resumed after a break (or a silence of `requestTimeoutMs`) with a ranged GET pinned by `If-Match`. */
function resumable(reads: ObjectReads, response: Response, key: string, range: Range, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
  const start = range?.offset ?? 0;
  const end = range?.length === undefined ? undefined : start + range.length;
  return resumableBody(response, {
    start,
    retries: reads.options.retries,
    signal,
    fetchFrom: (from, etag) =>
      reads.transport.send({
        method: "GET",
        operation: "GetObject",
        key,
        headers: { range: rangeHeader(from, end === undefined ? undefined : end - from), "if-match": etag },
        signal,
      }),
    cutOff: (cause, received) => readError(reads, key, received, cause),
    idleTimeoutMs: reads.options.requestTimeoutMs,
  });
}

/** A GetObject of `key` that broke off after `received` bytes, or whose parts did not fit. */
function readError(reads: ObjectReads, key: string, received: number, cause: unknown): BackendError {
  return cutOffError({ operation: "GetObject", bucket: reads.options.bucket, key }, received, cause);
}

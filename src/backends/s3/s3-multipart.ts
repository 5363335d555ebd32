/**
 * Multipart upload: CreateMultipartUpload, fixed-size parts with up to
 * `concurrency` in flight, CompleteMultipartUpload; on any failure or abort,
 * AbortMultipartUpload so no unfinished upload keeps billing storage.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html
 */
import { AbortedError, BackendError, InvalidArgumentError } from "../../util/errors.ts";
import { abortedUpload, PartReader, type PartSource } from "../../util/part-reader.ts";

export { PartReader, type PartSource };
import { parseErrorXml, s3Error } from "./s3-errors.ts";
import { md5 } from "./s3-md5.ts";
import type { S3Transport } from "./s3-transport.ts";
import { escapeXmlText, xmlText } from "../../util/xml.ts";

/** S3 numbers parts 1 to 10,000. @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html */
export const MAX_PARTS = 10_000;

/** How to finish an upload: lets the caller add conditional headers or check first. */
export type CompleteStep = (send: (headers: Record<string, string>) => Promise<string>) => Promise<string>;

/** Options of {@link uploadMultipart}. */
export interface MultipartOptions {
  contentType: string;
  concurrency: number;
  signal?: AbortSignal;
  /** Called with the total size before completing; throw to abandon the upload. */
  checkSize?: (size: number) => void;
  /** Sends CompleteMultipartUpload; defaults to sending it with no extra headers. */
  complete?: CompleteStep;
  /** Told when the source is abandoned, to cancel a stream. */
  onAbandon?: (reason: unknown) => Promise<void>;
}

/** Uploads parts from `next` under `key`; resolves the object's size and ETag. */
export async function uploadMultipart(
  transport: S3Transport,
  key: string,
  next: PartSource,
  options: MultipartOptions,
): Promise<{ size: number; etag: string }> {
  const { signal } = options;
  const created = await transport.sendText({
    method: "POST",
    operation: "CreateMultipartUpload",
    key,
    query: { uploads: "" },
    headers: { "content-type": options.contentType },
    expect: "InitiateMultipartUploadResult",
    signal,
  });
  const uploadId = xmlText(created.text, "UploadId");
  if (!uploadId) {
    throw new BackendError(
      `S3 CreateMultipartUpload of "${key}" in bucket "${transport.options.bucket}" answered without an UploadId; the server is not S3-compatible enough for multipart uploads. Raise partSize so objects go in one PUT.`,
      { backend: "s3", operation: "CreateMultipartUpload", key, status: created.response.status },
    );
  }

  // Parts share one controller so the first failure stops the others at once.
  const parts = new AbortController();
  const onAbort = () => parts.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  const etags: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let size = 0;
  try {
    for (let partNumber = 1; ; partNumber++) {
      while (inFlight.size >= options.concurrency) await Promise.race(inFlight);
      if (failure !== undefined) break;
      if (signal?.aborted) throw abortedUpload(signal);
      const data = await next();
      if (!data) break;
      if (partNumber > MAX_PARTS) {
        throw new InvalidArgumentError(`"${key}" needs more than ${MAX_PARTS} parts of ${data.byteLength} bytes; raise partSize or pass the size so it can be chosen.`);
      }
      size += data.byteLength;
      const number = partNumber;
      const upload = transport
        .send({
          method: "PUT",
          operation: "UploadPart",
          key,
          query: { partNumber: String(number), uploadId },
          body: data,
          streamBody: true,
          signal: parts.signal,
        })
        .then(async (response) => {
          const etag = response.headers.get("etag");
          await response.body?.cancel().catch(() => {});
          if (!etag) throw new BackendError(`S3 UploadPart ${number} of "${key}" answered without an ETag. If this runs in a browser, expose the ETag header in the bucket's CORS rules.`, { backend: "s3", operation: "UploadPart", key, status: response.status });
          etags[number - 1] = etag;
          // Stored: the server has every byte, so the buffer may take a later part.
          next.release?.(data);
        })
        .catch((error: unknown) => {
          failure ??= error;
          parts.abort(error);
        })
        .finally(() => inFlight.delete(upload));
      inFlight.add(upload);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    if (signal?.aborted) throw abortedUpload(signal);
    options.checkSize?.(size);
    const body = completeDocument(etags);
    const send = (headers: Record<string, string>): Promise<string> =>
      completeOnce(headers).catch(async (error: unknown) => {
        // NoSuchUpload after a retry, or no readable answer at all: an earlier attempt
        // may have completed the upload and only its answer was lost. The object says
        // whether it did; if asking fails too, the original failure is the one to report.
        const lostAnswer = error instanceof BackendError && (error.serverCode === "NoSuchUpload" || error.status === undefined);
        if (lostAnswer) {
          const etag = await completedEarlier(transport, key, etags, size, signal).catch(() => undefined);
          if (etag) return etag;
        }
        throw error;
      });
    const completeOnce = async (headers: Record<string, string>): Promise<string> => {
      // sendText retries a 200 whose body is a retryable <Error> (InternalError, SlowDown...)
      // and a body that breaks off, within the retry budget.
      // @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html
      const { response, text: xml } = await transport.sendText({
        method: "POST",
        operation: "CompleteMultipartUpload",
        key,
        query: { uploadId },
        headers: { "content-type": "application/xml", ...headers },
        body,
        expect: "CompleteMultipartUploadResult",
        signal,
      });
      // An error nested elsewhere than at the root, with no result: still a failure.
      if (/<Error[\s>]/.test(xml) && !/<CompleteMultipartUploadResult[\s>]/.test(xml)) {
        throw s3Error({ operation: "CompleteMultipartUpload", bucket: transport.options.bucket, key }, response.status, parseErrorXml(xml));
      }
      // Ceph RGW 16 answers with an empty <ETag/>: the parts' ETags give the one it stored.
      return xmlText(xml, "ETag") || response.headers.get("etag") || multipartEtag(etags) || "";
    };
    const etag = await (options.complete ? options.complete(send) : send({}));
    return { size, etag };
  } catch (error) {
    parts.abort(error);
    await Promise.allSettled(inFlight);
    await options.onAbandon?.(error);
    // Without the caller's signal: an aborted caller still wants the parts gone. But
    // bounded, and tried once after an abort: the caller asked to stop, not to wait.
    await transport
      .send({
        method: "DELETE",
        operation: "AbortMultipartUpload",
        key,
        query: { uploadId },
        accept: [404],
        signal: AbortSignal.timeout(transport.cleanupTimeoutMs),
        ...(signal?.aborted ? { retries: 0 } : {}),
      })
      .then((response) => response.body?.cancel())
      .catch(() => {
        // The original failure matters more; a bucket lifecycle rule
        // (AbortIncompleteMultipartUpload) cleans what this could not.
      });
    if (signal?.aborted && !(error instanceof AbortedError)) {
      throw abortedUpload(signal);
    }
    throw error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * The ETag S3 gives an object completed from `partEtags`: the MD5 of the
 * parts' binary MD5s, a dash and the part count; `undefined` when a part's
 * ETag is not a plain MD5 (SSE-KMS, some S3-compatible servers).
 */
export function multipartEtag(partEtags: readonly string[]): string | undefined {
  const digests = partEtags.map((etag) => etag.replace(/"/g, ""));
  if (!digests.every((digest) => /^[0-9a-f]{32}$/i.test(digest))) return undefined;
  const joined = new Uint8Array(16 * digests.length);
  digests.forEach((digest, i) => {
    for (let j = 0; j < 16; j++) joined[i * 16 + j] = parseInt(digest.slice(2 * j, 2 * j + 2), 16);
  });
  const hex = Array.from(md5(joined), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex}-${digests.length}`;
}

/**
 * The ETag of `key` if it is exactly this upload's result (ETag from these
 * parts and this size), else `undefined`.
 */
async function completedEarlier(
  transport: S3Transport,
  key: string,
  partEtags: readonly string[],
  size: number,
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  const expected = multipartEtag(partEtags);
  if (!expected) return undefined;
  const response = await transport.send({ method: "HEAD", operation: "HeadObject", key, signal, accept: [404] });
  const etag = response.headers.get("etag") ?? "";
  const found = response.status === 200 && etag.replace(/"/g, "") === expected && Number(response.headers.get("content-length")) === size;
  return found ? etag : undefined;
}

/** The CompleteMultipartUpload request document. */
function completeDocument(etags: string[]): Uint8Array {
  const parts = etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXmlText(etag)}</ETag></Part>`).join("");
  return new TextEncoder().encode(`<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload>${parts}</CompleteMultipartUpload>`);
}

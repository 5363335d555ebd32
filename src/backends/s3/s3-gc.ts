/**
 * Garbage of interrupted S3 uploads: multipart uploads that were begun and
 * never completed nor aborted (a killed process, a lost connection during
 * AbortMultipartUpload). Their parts are billed but never listed as objects.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html
 */
import { throwIfAborted } from "../../util/errors.ts";
import type { CollectGarbageOptions, Leftover } from "../backend.ts";
import type { S3Transport } from "./s3-transport.ts";
import { xmlElements, xmlText } from "../../util/xml.ts";

/** One incomplete multipart upload. */
interface PendingUpload {
  key: string;
  uploadId: string;
  initiated?: string;
}

/** Every incomplete multipart upload below `prefix`, following the listing's key and upload-id markers. */
async function* pendingUploads(transport: S3Transport, prefix: string, signal?: AbortSignal): AsyncGenerator<PendingUpload> {
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const { text } = await transport.sendText({
      method: "GET",
      operation: "ListMultipartUploads",
      query: { uploads: "", prefix, "key-marker": keyMarker, "upload-id-marker": uploadIdMarker },
      expect: "ListMultipartUploadsResult",
      signal,
    });
    for (const upload of xmlElements(text, "Upload")) {
      const key = xmlText(upload, "Key");
      const uploadId = xmlText(upload, "UploadId");
      if (key && uploadId) yield { key, uploadId, initiated: xmlText(upload, "Initiated") };
    }
    if ((xmlText(text, "IsTruncated") ?? "").trim() !== "true") return;
    keyMarker = xmlText(text, "NextKeyMarker") || undefined;
    uploadIdMarker = xmlText(text, "NextUploadIdMarker") || undefined;
    if (!keyMarker) return; // a server that pages without markers cannot be followed
  }
}

/**
 * Yields the incomplete multipart uploads below `prefix` begun before
 * `options.before`, aborting each unless `dryRun`. Younger ones may be uploads
 * still running, so they are left alone.
 */
export async function* collectMultipartGarbage(transport: S3Transport, prefix: string, options: CollectGarbageOptions): AsyncGenerator<Leftover> {
  for await (const upload of pendingUploads(transport, prefix, options.signal)) {
    throwIfAborted(options.signal);
    const started = upload.initiated ? Date.parse(upload.initiated) : Number.NaN;
    // No start time means no proof of age: keep it.
    if (!(started < options.before.getTime())) continue;
    if (!options.dryRun) {
      const response = await transport.send({
        method: "DELETE",
        operation: "AbortMultipartUpload",
        key: upload.key,
        query: { uploadId: upload.uploadId },
        accept: [404], // completed or aborted meanwhile
        signal: options.signal,
      });
      await response.body?.cancel().catch(() => {});
    }
    yield { kind: "multipart-upload", key: upload.key, lastModified: new Date(started).toISOString() };
  }
}

/**
 * Conditional writes (`If-None-Match: *` create-only, `If-Match: <etag>`
 * compare-and-swap) and what to do on servers that lack them.
 *
 * AWS S3 enforces both since 2024. Swift's s3api answers 501 NotImplemented,
 * and some S3-compatible servers silently ignore the headers, which is worse:
 * the write succeeds and overwrites. Ceph RGW enforces both but compares
 * `If-Match` with the bare etag, so it refuses the RFC 9110 quoted form of the
 * right etag (as DigitalOcean Spaces is reported to). So on first use the
 * backend probes the server with a throwaway key under `.modelstore-probe/`:
 *   1. PUT with `If-None-Match: *` (a new key): 501 or 4xx → unsupported;
 *   2. the same PUT again: 412 → enforced; 2xx → ignored → unsupported;
 *   3. PUT with `If-Match` of the key's etag, quoted, else unquoted: the first
 *      form accepted is the one sent from then on; neither → unsupported;
 *   4. PUT with `If-Match` of an etag no object has, in that form: 412 → enforced; 2xx → ignored.
 * then deletes the key. Unsupported means emulation: HEAD first, then PUT. That
 * leaves a race window between the HEAD and the PUT (a concurrent writer can
 * slip in), documented for the store via `capabilities.conditionalWrites = false`.
 *
 * CompleteMultipartUpload takes the same headers on AWS, but RGW 16 ignores them
 * there. The first conditional put large enough to go multipart therefore runs a
 * second probe ({@link probeMultipartConditions}); where it fails, multipart puts
 * keep the HEAD check right before completing.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
 */
import { AbortedError, AlreadyExistsError, BackendError, ConflictError } from "../../util/errors.ts";
import type { ObjectInfo, PutOptions } from "../backend.ts";
import type { S3Transport } from "./s3-transport.ts";
import { normalizeEtag } from "../http-wire.ts";
import { escapeXmlText, xmlText } from "../../util/xml.ts";

/** Where probe objects go: at the bucket root, outside any store's prefix. */
export const PROBE_PREFIX = ".modelstore-probe/";

export { normalizeEtag };

/**
 * How a server wants the etag in `If-Match`: RFC 9110's quoted entity-tag, as AWS
 * documents it, or bare, the only form Ceph RGW accepts.
 * @see https://www.rfc-editor.org/rfc/rfc9110#field.if-match
 */
export type EtagForm = "quoted" | "unquoted";

/** `etag` in the given form; a weak tag (`W/"…"`) is left whole. */
export function formatEtag(etag: string, form: EtagForm): string {
  const quoted = normalizeEtag(etag);
  return form === "unquoted" && quoted.startsWith('"') && quoted.endsWith('"') && quoted.length >= 2 ? quoted.slice(1, -1) : quoted;
}

/** The request headers for a conditional put, the etag in the form the server accepts. */
export function conditionHeaders(options: PutOptions, form: EtagForm = "quoted"): Record<string, string> {
  const headers: Record<string, string> = {};
  if (options.ifNoneMatch === "*") headers["if-none-match"] = "*";
  if (options.ifMatch !== undefined) headers["if-match"] = formatEtag(options.ifMatch, form);
  return headers;
}

/** True when a put failed because the server does not implement conditional headers. */
export function isNotImplemented(error: unknown): boolean {
  return error instanceof BackendError && (error.status === 501 || error.serverCode === "NotImplemented");
}

/**
 * Maps a failed conditional write to AlreadyExistsError / ConflictError:
 * 412 PreconditionFailed, 409 ConditionalRequestConflict (a concurrent
 * conditional write to the same key, still conflicting after the transport's
 * retries), and 404 NoSuchKey for `If-Match` on a missing object.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-requests.html
 */
export function preconditionError(error: unknown, key: string, options: PutOptions): unknown {
  if (!(error instanceof BackendError)) return error;
  const lost = error.status === 412 || error.status === 409 || (options.ifMatch !== undefined && error.serverCode === "NoSuchKey");
  if (!lost) return error;
  if (error.status === 409) {
    const racing = "another conditional write to it was in progress at the same time, and it still conflicted after retries";
    return options.ifNoneMatch === "*"
      ? new AlreadyExistsError(`Cannot create "${key}": ${racing}, so another writer is creating it. Read it, or pick another key.`, { cause: error })
      : new ConflictError(`Cannot write "${key}": ${racing}, so it is changing under you. Read it again and retry.`, { cause: error });
  }
  if (options.ifNoneMatch === "*" && error.status === 412) {
    return new AlreadyExistsError(`Cannot create "${key}": an object already exists there. Pick another key, or delete the object first.`, { cause: error });
  }
  return new ConflictError(`Cannot write "${key}": it changed since it was read (its etag is no longer ${options.ifMatch}). Read it again and retry.`, { cause: error });
}

/** The emulated check: throws like the server would have, given the object's current state. */
export function checkPrecondition(key: string, current: ObjectInfo | null, options: PutOptions): void {
  if (options.ifNoneMatch === "*" && current) {
    throw new AlreadyExistsError(`Cannot create "${key}": an object already exists there. Pick another key, or delete the object first.`);
  }
  if (options.ifMatch !== undefined && (!current || normalizeEtag(current.etag) !== normalizeEtag(options.ifMatch))) {
    throw new ConflictError(
      `Cannot write "${key}": ${current ? `its etag is ${current.etag}, not ${options.ifMatch}` : "it no longer exists"}; it changed since it was read. Read it again and retry.`,
    );
  }
}

/** How long the whole probe may take: it runs for every caller at once, so on no caller's signal. */
export const PROBE_TIMEOUT_MS = 30_000;

/** An etag no object has: `If-Match` with it must be refused. */
const WRONG_ETAG = "00000000000000000000000000000000";

/**
 * Runs the probe described above; resolves the etag form to send when the server
 * enforces conditional writes, `undefined` when it does not.
 * It has its own deadline rather than a caller's signal: one caller giving up must not
 * fail the others waiting on the same probe (each races its own signal instead).
 */
export async function probeConditionalWrites(transport: S3Transport, timeoutMs = PROBE_TIMEOUT_MS): Promise<EtagForm | undefined> {
  const key = `${PROBE_PREFIX}${crypto.randomUUID()}`;
  const signal = AbortSignal.timeout(timeoutMs);
  const put = async (headers: Record<string, string>) => {
    const response = await transport.send({
      method: "PUT",
      operation: "PutObject",
      key,
      headers,
      body: new Uint8Array(0),
      signal,
      accept: [400, 403, 409, 412, 501],
    });
    await response.body?.cancel().catch(() => {});
    return { status: response.status, etag: response.headers.get("etag") };
  };
  try {
    const first = await put({ "if-none-match": "*" });
    // 403: credentials scoped to a prefix cannot probe; emulating is the safe answer.
    // No ETag header (a browser without it exposed by CORS): If-Match cannot be checked.
    if (first.status >= 300 || !first.etag) return undefined;
    const second = await put({ "if-none-match": "*" });
    if (second.status !== 412 && second.status !== 409) return undefined;
    for (const form of ["quoted", "unquoted"] as const) {
      // The body is the same, so the etag is too: a 412 here means this form is not understood.
      if ((await put({ "if-match": formatEtag(first.etag, form) })).status >= 300) continue;
      return (await put({ "if-match": formatEtag(WRONG_ETAG, form) })).status === 412 ? form : undefined;
    }
    return undefined;
  } catch (error) {
    throw probeError(transport, key, timeoutMs, error);
  } finally {
    await removeProbeKey(transport, key, timeoutMs);
  }
}

/**
 * Whether CompleteMultipartUpload enforces `If-None-Match: *` and `If-Match` too:
 * one upload of one byte, completed onto an existing key with each condition
 * (both must be refused with 412), then aborted. Resolves false where either
 * completion went through, which replaced the key: the server ignores them there.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html
 */
export async function probeMultipartConditions(transport: S3Transport, form: EtagForm, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  const key = `${PROBE_PREFIX}${crypto.randomUUID()}`;
  const signal = AbortSignal.timeout(timeoutMs);
  let uploadId: string | undefined;
  try {
    await transport.send({ method: "PUT", operation: "PutObject", key, body: new Uint8Array(0), signal }).then((r) => r.body?.cancel());
    const created = await transport.sendText({ method: "POST", operation: "CreateMultipartUpload", key, query: { uploads: "" }, signal });
    uploadId = xmlText(created.text, "UploadId");
    if (!uploadId) return false;
    const part = await transport.send({
      method: "PUT",
      operation: "UploadPart",
      key,
      query: { partNumber: "1", uploadId },
      body: new Uint8Array(1),
      signal,
    });
    await part.body?.cancel().catch(() => {});
    const partEtag = part.headers.get("etag") ?? "";
    const body = new TextEncoder().encode(
      `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${escapeXmlText(partEtag)}</ETag></Part></CompleteMultipartUpload>`,
    );
    const conditions: Record<string, string>[] = [{ "if-none-match": "*" }, { "if-match": formatEtag(WRONG_ETAG, form) }];
    for (const condition of conditions) {
      const { response } = await transport.sendText({
        method: "POST",
        operation: "CompleteMultipartUpload",
        key,
        query: { uploadId },
        headers: { "content-type": "application/xml", ...condition },
        body,
        signal,
        accept: [400, 403, 409, 412, 501],
      });
      await response.body?.cancel().catch(() => {});
      if (response.status !== 412) return false;
    }
    return true;
  } catch (error) {
    throw probeError(transport, key, timeoutMs, error);
  } finally {
    if (uploadId) {
      await transport
        .send({ method: "DELETE", operation: "AbortMultipartUpload", key, query: { uploadId }, accept: [404], signal: AbortSignal.timeout(timeoutMs) })
        .then((response) => response.body?.cancel())
        .catch(() => {});
    }
    await removeProbeKey(transport, key, timeoutMs);
  }
}

function probeError(transport: S3Transport, key: string, timeoutMs: number, error: unknown): unknown {
  if (!(error instanceof AbortedError)) return error;
  return new BackendError(
    `S3 bucket "${transport.options.bucket}": the one-time check whether the server enforces conditional writes got no answer within ${timeoutMs} ms. Check the endpoint and the network, or set \`conditionalWrites\` to "native" (AWS S3) or "emulate" to skip the check.`,
    { backend: "s3", operation: "PutObject", key },
    { cause: error },
  );
}

async function removeProbeKey(transport: S3Transport, key: string, timeoutMs: number): Promise<void> {
  await transport
    .send({ method: "DELETE", operation: "DeleteObject", key, accept: [403, 404], signal: AbortSignal.timeout(timeoutMs) })
    .then((response) => response.body?.cancel())
    .catch(() => {});
}

/**
 * Conditional writes (`If-None-Match: *` create-only, `If-Match: <etag>`
 * compare-and-swap) and what to do on servers that lack them.
 *
 * AWS S3 enforces both since 2024. Swift's s3api answers 501 NotImplemented,
 * and some S3-compatible servers silently ignore the headers, which is worse:
 * the write succeeds and overwrites. So on first use the backend probes the
 * server with a throwaway key under `.modelstore-probe/`:
 *   1. PUT with `If-None-Match: *` (a new key): 501 or 4xx → unsupported;
 *   2. the same PUT again: 412 → enforced; 2xx → ignored → unsupported;
 *   3. PUT with `If-Match` of an etag no object has: 412 → enforced; 2xx → ignored.
 * then deletes the key. Unsupported means emulation: HEAD first, then PUT. That
 * leaves a race window between the HEAD and the PUT (a concurrent writer can
 * slip in), documented for the store via `capabilities.conditionalWrites = false`.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
 */
import { AbortedError, AlreadyExistsError, BackendError, ConflictError } from "../errors.js";
import type { ObjectInfo, PutOptions } from "./backend.js";
import type { S3Transport } from "./s3-transport.js";

/** Where probe objects go: at the bucket root, outside any store's prefix. */
export const PROBE_PREFIX = ".modelstore-probe/";

/** Quotes an etag the way S3 sends it, so tags from headers, listings and callers compare equal. */
export function normalizeEtag(etag: string): string {
  const trimmed = etag.trim();
  return trimmed.startsWith('"') || trimmed.startsWith("W/") ? trimmed : `"${trimmed}"`;
}

/** The request headers for a conditional put. */
export function conditionHeaders(options: PutOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  if (options.ifNoneMatch === "*") headers["if-none-match"] = "*";
  if (options.ifMatch !== undefined) headers["if-match"] = normalizeEtag(options.ifMatch);
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

/**
 * Runs the probe described above; resolves whether the server enforces conditional writes.
 * It has its own deadline rather than a caller's signal: one caller giving up must not
 * fail the others waiting on the same probe (each races its own signal instead).
 */
export async function probeConditionalWrites(transport: S3Transport, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
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
    return response.status;
  };
  try {
    const first = await put({ "if-none-match": "*" });
    // 403: credentials scoped to a prefix cannot probe; emulating is the safe answer.
    if (first >= 300) return false;
    const second = await put({ "if-none-match": "*" });
    if (second !== 412 && second !== 409) return false;
    const third = await put({ "if-match": '"00000000000000000000000000000000"' });
    return third === 412;
  } catch (error) {
    if (!(error instanceof AbortedError)) throw error;
    throw new BackendError(
      `S3 bucket "${transport.options.bucket}": the one-time check whether the server enforces conditional writes got no answer within ${timeoutMs} ms. Check the endpoint and the network, or set \`conditionalWrites\` to "native" (AWS S3) or "emulate" to skip the check.`,
      { backend: "s3", operation: "PutObject", key },
      { cause: error },
    );
  } finally {
    await transport
      .send({ method: "DELETE", operation: "DeleteObject", key, accept: [403, 404], signal: AbortSignal.timeout(timeoutMs) })
      .then((response) => response.body?.cancel())
      .catch(() => {});
  }
}

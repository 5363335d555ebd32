/**
 * When and how long the S3 transport waits before sending a request again:
 * which answers are worth retrying, exponential backoff with full jitter, and
 * the server's own `Retry-After` when it sends one.
 * @see https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
 * @see https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */
import { AbortedError } from "../../util/errors.ts";

/** The error of a request stopped by its caller's AbortSignal. */
export const ABORTED_MESSAGE = "The S3 request was aborted by its AbortSignal; an interrupted write leaves no object behind.";

/** Error codes that are worth sending again, whatever the status they came with (S3 sends some as 400 or 200). */
const RETRYABLE_CODES = new Set([
  "RequestTimeout",
  "SlowDown",
  "InternalError",
  "ServiceUnavailable",
  // A concurrent conditional write to the same key; AWS documents it as "retry".
  // @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-requests.html
  "ConditionalRequestConflict",
]);

/** Retried: server faults and throttling, but not 501 (a missing feature stays missing). */
export function isRetryable(status: number, code: string | undefined): boolean {
  if (status === 501) return false;
  if (status >= 500 || status === 429) return true;
  return code !== undefined && RETRYABLE_CODES.has(code);
}

/** Throttling: the server asks for fewer requests, so waiting longer is the point. */
function isThrottled(status: number, code: string | undefined): boolean {
  return status === 429 || status === 503 || code === "SlowDown";
}

/**
 * How much longer than the base a throttled request waits: the AWS SDKs use a
 * 500 ms base for throttling against 100 ms for other transient failures.
 */
const THROTTLE_FACTOR = 5;
/** Longest wait between two attempts, whatever `Retry-After` asks: a caller is waiting. */
export const MAX_RETRY_DELAY_MS = 20_000;
/** Longest wait the exponential backoff reaches by itself. */
const MAX_BACKOFF_MS = 5_000;

/**
 * The wait in milliseconds that a `Retry-After` header asks for, in seconds or as an HTTP date.
 * @see https://www.rfc-editor.org/rfc/rfc9110#field.retry-after
 */
export function retryAfterMs(headers: Headers | undefined): number | undefined {
  const value = headers?.get("retry-after")?.trim();
  if (!value) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(ms) ? Math.max(0, ms) : undefined;
}

/**
 * The wait before attempt `attempt + 1`: full jitter over an exponential base
 * (spreads the retries of concurrent parts apart), a larger base when throttled,
 * and at least what `Retry-After` asks, all capped at {@link MAX_RETRY_DELAY_MS}.
 */
export function retryDelay(attempt: number, baseMs: number, answer?: { status: number; code?: string; headers?: Headers }): number {
  const base = answer && isThrottled(answer.status, answer.code) ? baseMs * THROTTLE_FACTOR : baseMs;
  const jittered = Math.random() * Math.min(MAX_BACKOFF_MS, base * 2 ** attempt);
  return Math.min(MAX_RETRY_DELAY_MS, Math.max(jittered, retryAfterMs(answer?.headers) ?? 0));
}

/** Sleeps `ms`, rejecting with {@link AbortedError} if `signal` fires first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError(ABORTED_MESSAGE, { cause: signal.reason }));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError(ABORTED_MESSAGE, { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

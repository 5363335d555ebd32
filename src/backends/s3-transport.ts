/**
 * Sends one S3 request: builds the URL, signs it with SigV4 (aws4fetch's
 * `AwsV4Signer`), sends it with fetch, and retries what can be retried.
 *
 * Every body this backend sends is a `Uint8Array` (single PUTs and multipart
 * parts are buffered up to `partSize`), so every request is replayable and no
 * runtime needs streaming request bodies (`duplex: "half"`).
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html
 */
import { AwsV4Signer } from "aws4fetch";
import { AbortedError, InvalidArgumentError } from "../errors.js";
import { errorFromResponse, networkError, parseErrorXml, s3Error, type S3Operation } from "./s3-errors.js";
import type { ResolvedS3Options } from "./s3-options.js";

/** One request, before signing. */
export interface S3Request {
  method: "GET" | "HEAD" | "PUT" | "POST" | "DELETE";
  operation: S3Operation;
  /** Object key; omitted for bucket-level requests (listings, DeleteObjects). */
  key?: string;
  /** Query parameters; `""` sends a bare flag such as `?uploads`. */
  query?: Record<string, string | undefined>;
  headers?: Record<string, string>;
  body?: Uint8Array;
  signal?: AbortSignal;
  /** Statuses that are answers rather than failures (404 for HEAD, 416 for ranged GET...). */
  accept?: readonly number[];
}

/**
 * RFC 3986 unreserved characters stay; everything else is percent-encoded,
 * which is what SigV4's canonical URI wants for each path segment.
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-canonical-request
 */
export function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Checks a key can travel in a URL unchanged; throws {@link InvalidArgumentError} otherwise. */
export function checkKey(key: string): void {
  if (typeof key !== "string" || key.length === 0 || key.length > 1024) {
    throw new InvalidArgumentError(`S3 keys must be 1 to 1024 characters, got ${JSON.stringify(key)}.`);
  }
  // URL parsers resolve "." and ".." segments (even percent-encoded), so such a key
  // would silently name another object.
  if (key.split("/").some((segment) => segment === "." || segment === "..")) {
    throw new InvalidArgumentError(`S3 key ${JSON.stringify(key)} has a "." or ".." path segment, which URLs cannot carry; rename it.`);
  }
}

const ABORTED_MESSAGE = "The S3 request was aborted by its AbortSignal; an interrupted write leaves no object behind.";

/** Retried: server faults and throttling, but not 501 (a missing feature stays missing). */
function isRetryable(status: number, code: string | undefined): boolean {
  if (status === 501) return false;
  if (status >= 500 || status === 429) return true;
  return code === "RequestTimeout" || code === "SlowDown" || code === "InternalError";
}

/** Sleeps `ms`, rejecting with {@link AbortedError} if `signal` fires first. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
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

/** Marks the abort reason of a request that ran out of time, to tell it from a caller's abort. */
class RequestTimeout extends Error {
  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
  }
}

/** Signs and sends S3 requests for one bucket. */
export class S3Transport {
  /** Derived signing keys, cached per day by the signer; never leaves this object. */
  readonly #signingKeys = new Map<string, ArrayBuffer>();
  /** Base delay of the exponential backoff; tests lower it. */
  backoffMs = 100;

  constructor(readonly options: ResolvedS3Options) {}

  /** The request URL: `baseUrl/key?query`, each key segment encoded once. */
  url(key: string | undefined, query?: Record<string, string | undefined>): string {
    let url = this.options.baseUrl + "/";
    if (key !== undefined) url += key.split("/").map(encodeRfc3986).join("/");
    const params = Object.entries(query ?? {}).filter((entry): entry is [string, string] => entry[1] !== undefined);
    if (params.length > 0) {
      url += "?" + params.map(([k, v]) => (v === "" ? encodeRfc3986(k) : `${encodeRfc3986(k)}=${encodeRfc3986(v)}`)).join("&");
    }
    return url;
  }

  /**
   * Sends `request`, retrying 5xx, 429, SlowDown, RequestTimeout and network
   * errors with exponential backoff and full jitter. Resolves the response when
   * its status is 2xx or listed in `accept`; otherwise throws a `BackendError`.
   */
  async send(request: S3Request): Promise<Response> {
    const { retries } = this.options;
    const ctx = { operation: request.operation, bucket: this.options.bucket, key: request.key };
    for (let attempt = 0; ; attempt++) {
      if (request.signal?.aborted) throw new AbortedError(ABORTED_MESSAGE, { cause: request.signal.reason });
      let response: Response;
      try {
        response = await this.#sendOnce(request);
      } catch (error) {
        if (error instanceof AbortedError || attempt >= retries) {
          if (error instanceof AbortedError) throw error;
          throw networkError({ ...ctx, attempts: attempt + 1 }, this.options.host, error);
        }
        await sleep(this.#backoff(attempt), request.signal);
        continue;
      }
      if (response.ok || request.accept?.includes(response.status)) return response;
      if (request.method === "HEAD" || response.status >= 500 || response.status === 429) {
        if (isRetryable(response.status, undefined) && attempt < retries) {
          await response.body?.cancel().catch(() => {});
          await sleep(this.#backoff(attempt), request.signal);
          continue;
        }
        throw await errorFromResponse(response, { ...ctx, attempts: attempt + 1 });
      }
      // A 4xx may still be retryable (RequestTimeout is a 400): read the code first.
      const body = await response.text().catch(() => "");
      const parsed = parseErrorXml(body);
      parsed.requestId ??= response.headers.get("x-amz-request-id") ?? undefined;
      if (isRetryable(response.status, parsed.code) && attempt < retries) {
        await sleep(this.#backoff(attempt), request.signal);
        continue;
      }
      throw s3Error({ ...ctx, attempts: attempt + 1 }, response.status, parsed);
    }
  }

  #backoff(attempt: number): number {
    // Full jitter: spreads the retries of concurrent parts apart.
    return Math.random() * Math.min(5_000, this.backoffMs * 2 ** attempt);
  }

  async #sendOnce(request: S3Request): Promise<Response> {
    const credentials = await this.options.credentials();
    const headers = new Headers(request.headers);
    // Bodies are not hashed: UNSIGNED-PAYLOAD is accepted by AWS and by Swift's s3api,
    // and hashing every part would cost a full extra pass over the data.
    headers.set("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    const url = this.url(request.key, request.query);
    const signer = new AwsV4Signer({
      method: request.method,
      url,
      headers,
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      sessionToken: credentials.sessionToken,
      service: "s3",
      region: this.options.region,
      cache: this.#signingKeys,
    });
    const signed = await signer.sign();

    const controller = new AbortController();
    const userSignal = request.signal;
    const onUserAbort = () => controller.abort(userSignal?.reason);
    if (userSignal?.aborted) onUserAbort();
    userSignal?.addEventListener("abort", onUserAbort, { once: true });
    const timeoutMs = this.options.requestTimeoutMs;
    const timer = timeoutMs ? setTimeout(() => controller.abort(new RequestTimeout(timeoutMs)), timeoutMs) : undefined;
    try {
      return await this.options.fetch(url, {
        method: request.method,
        headers: signed.headers,
        body: request.body as Uint8Array<ArrayBuffer> | undefined,
        signal: controller.signal,
      });
    } catch (error) {
      if (userSignal?.aborted) throw new AbortedError(ABORTED_MESSAGE, { cause: userSignal.reason });
      if (controller.signal.reason instanceof RequestTimeout) throw controller.signal.reason;
      throw error;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      // A GET's body keeps streaming after the headers: keep the caller's signal
      // wired to it so aborting still stops the download.
      if (request.method !== "GET") userSignal?.removeEventListener("abort", onUserAbort);
    }
  }
}

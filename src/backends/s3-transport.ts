/**
 * Sends one S3 request: builds the URL, signs it with SigV4 (aws4fetch's
 * `AwsV4Signer`), sends it with fetch, and retries what can be retried.
 *
 * Every body this backend sends is a `Uint8Array` (single PUTs and multipart
 * parts are buffered up to `partSize`), so every request is replayable and no
 * runtime needs streaming request bodies. Multipart parts still go as a
 * one-chunk stream (`duplex: "half"`) where the runtime allows it: see
 * {@link S3Request.streamBody}.
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
  /**
   * Send `body` as a one-chunk `ReadableStream` with an explicit Content-Length
   * when the runtime's `Request` takes one. Node's fetch copies a `Uint8Array`
   * body before sending it, and those 8 MiB copies wait for the garbage collector:
   * measured on Node 20 (256 MiB in 8 MiB parts, concurrency 4, pooled part
   * buffers), peak RSS was ~225 MiB with plain bodies and ~135 MiB with streamed ones. Each attempt gets a new stream of the same bytes, so the
   * request stays replayable. Until one streamed request has succeeded, a streamed
   * attempt that fails as a runtime or server refusing the framing would (no answer,
   * 400, 411, 501) is sent again with the plain body at once, and streaming stops
   * for this transport if that works. Browsers send streams over HTTP/2 only and do
   * not let a request set Content-Length, so they fail the feature test and keep plain bodies.
   * @default false
   */
  streamBody?: boolean;
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

/**
 * Statuses with which a server may refuse a streamed body's framing: 400 (a bad
 * body), 411 MissingContentLength and 501 NotImplemented (S3's answer to
 * `Transfer-Encoding: chunked`), if the runtime dropped the Content-Length.
 */
const REFUSED_STREAM_STATUSES = [400, 411, 501];

/**
 * Whether this runtime's `Request` takes a stream body with `duplex: "half"`
 * and keeps an explicit Content-Length: the standard feature test for request
 * streams, plus the header, which browsers drop (it is a forbidden header there).
 * @see https://developer.chrome.com/docs/capabilities/web-apis/fetch-streaming-requests#feature_detection
 */
function requestStreamsWork(): boolean {
  try {
    let duplexRead = false;
    const init = {
      method: "PUT",
      body: new ReadableStream(),
      headers: { "content-length": "1" },
      get duplex() {
        duplexRead = true;
        return "half";
      },
    };
    const request = new Request("http://localhost/", init as RequestInit);
    return duplexRead && !request.headers.has("content-type") && request.headers.get("content-length") === "1";
  } catch {
    return false;
  }
}

/** One stream of one chunk, `bytes` itself (not a copy): the buffer must not change until the request is done. */
function oneChunkStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
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
  /** Whether {@link S3Request.streamBody} is honoured: untested yet, proven by a success, or refused. */
  #streams: "unknown" | "works" | "refused" | undefined;

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
        response = await this.#attempt(request);
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

  /** One attempt: the body streamed when asked and possible, else plain. */
  async #attempt(request: S3Request): Promise<Response> {
    if (!request.streamBody || !request.body) return this.#sendOnce(request, false);
    this.#streams ??= requestStreamsWork() ? "unknown" : "refused";
    if (this.#streams === "refused") return this.#sendOnce(request, false);
    if (this.#streams === "works") return this.#sendOnce(request, true);
    // Not proven in this runtime yet: a failure here may be the runtime or the
    // server refusing the streamed framing rather than a fault, so try plain once.
    let response: Response;
    try {
      response = await this.#sendOnce(request, true);
    } catch (error) {
      if (error instanceof AbortedError || error instanceof RequestTimeout) throw error;
      return this.#sendPlainInstead(request);
    }
    if (response.ok) {
      this.#streams = "works";
      return response;
    }
    if (!REFUSED_STREAM_STATUSES.includes(response.status)) return response;
    await response.body?.cancel().catch(() => {});
    return this.#sendPlainInstead(request);
  }

  async #sendPlainInstead(request: S3Request): Promise<Response> {
    const response = await this.#sendOnce(request, false);
    // Plain worked where streamed did not: streaming is what failed.
    if (response.ok && this.#streams === "unknown") this.#streams = "refused";
    return response;
  }

  async #sendOnce(request: S3Request, stream: boolean): Promise<Response> {
    const credentials = await this.options.credentials();
    const headers = new Headers(request.headers);
    // Bodies are not hashed: UNSIGNED-PAYLOAD is accepted by AWS and by Swift's s3api,
    // and hashing every part would cost a full extra pass over the data.
    headers.set("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    // A stream has no length of its own; S3 needs one (it refuses chunked uploads).
    // Content-Length is not signed (aws4fetch skips it), so a runtime that sets it itself is fine.
    if (stream && request.body) headers.set("content-length", String(request.body.byteLength));
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
      const body = stream && request.body ? oneChunkStream(request.body) : (request.body as Uint8Array<ArrayBuffer> | undefined);
      const init = { method: request.method, headers: signed.headers, body, signal: controller.signal, ...(stream ? { duplex: "half" } : {}) };
      return await this.options.fetch(url, init as RequestInit);
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

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
import { NULL_BODY_STATUSES } from "../http-wire.ts";
import { AbortedError, InvalidArgumentError } from "../../util/errors.ts";
import { hasLoneSurrogate } from "../../util/text.ts";
import { AnswerCheck } from "./s3-answer-check.ts";
import { credentialsError, errorFromBody, errorFromResponse, networkError, parseErrorXml, redirectError, type S3ErrorContext, type S3Operation } from "./s3-errors.ts";
import type { ResolvedS3Options, S3Credentials } from "./s3-options.ts";
import { ABORTED_MESSAGE, isRetryable, retryDelay, sleep } from "./s3-retry.ts";

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
  /** How many times to retry this request. @default the backend's `retries` */
  retries?: number;
  /** Statuses that are answers rather than failures (404 for HEAD, 416 for ranged GET...). */
  accept?: readonly number[];
  /**
   * The root element of the document S3 answers a {@link S3Transport.sendText} request
   * with (`ListBucketResult`, `InitiateMultipartUploadResult`...). A 2xx answer with any
   * other root is not S3's (a web page answering for the endpoint) and fails with
   * `BackendError`, instead of reading as an empty listing.
   */
  expect?: string;
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
  // A lone surrogate has no UTF-8 form: encodeURIComponent throws on it, and S3 keys are UTF-8.
  if (hasLoneSurrogate(key)) {
    throw new InvalidArgumentError(`S3 key ${JSON.stringify(key)} is not well-formed Unicode (it has a lone surrogate, often a string cut in the middle of an emoji); S3 keys are UTF-8. Fix the key.`);
  }
  // URL parsers resolve "." and ".." segments (even percent-encoded), so such a key
  // would silently name another object.
  if (key.split("/").some((segment) => segment === "." || segment === "..")) {
    throw new InvalidArgumentError(`S3 key ${JSON.stringify(key)} has a "." or ".." path segment, which URLs cannot carry; rename it.`);
  }
}

/** Marks the abort reason of a request that ran out of time, to tell it from a caller's abort. */
export class RequestTimeout extends Error {
  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
  }
}

/** A successful answer whose body was read as text inside the retry loop. */
export interface S3TextAnswer {
  response: Response;
  text: string;
}

/** An error document as the whole body: how S3 reports a failure that came with a 200. */
const ERROR_DOCUMENT = /^\s*(?:<\?xml[^>]*\?>\s*)?<Error[\s>]/;

/** Signs and sends S3 requests for one bucket. */
export class S3Transport {
  /** Derived signing keys, cached per day by the signer; never leaves this object. */
  readonly #signingKeys = new Map<string, ArrayBuffer>();
  /** Base delay of the exponential backoff; tests lower it. */
  backoffMs = 100;
  /**
   * How long cleanup after a failed or aborted write (AbortMultipartUpload) may take
   * before it is given up; a bucket lifecycle rule removes what it leaves. Tests lower it.
   */
  cleanupTimeoutMs = 10_000;
  /**
   * How {@link S3Request.streamBody} requests send their body (s3-request-stream.ts's
   * `streamedBodies`); without it, plain. The full backend sets it: readers send no bodies.
   */
  streamedBodies?: (body: Uint8Array, send: (stream?: ReadableStream<Uint8Array>) => Promise<Response>) => Promise<Response>;
  /** The endpoint's origin, for messages about answers that are not S3's (no path, query or credentials). */
  readonly #endpoint: string;
  /** Tells S3's answers from a web server's; its one listing goes through this transport. */
  readonly #answers: AnswerCheck;

  constructor(readonly options: ResolvedS3Options) {
    this.#endpoint = new URL(options.baseUrl).origin;
    this.#answers = new AnswerCheck(() =>
      this.sendText({ method: "GET", operation: "ListObjectsV2", query: { "list-type": "2", "max-keys": "1" }, expect: "ListBucketResult" }),
    );
  }

  /** The request URL: `baseUrl/key?query`, each key segment encoded once. */
  url(key: string | undefined, query?: Record<string, string | undefined>): string {
    let url = this.options.baseUrl + "/";
    try {
      if (key !== undefined) url += key.split("/").map(encodeRfc3986).join("/");
      const params = Object.entries(query ?? {}).filter((entry): entry is [string, string] => entry[1] !== undefined);
      if (params.length > 0) {
        url += "?" + params.map(([k, v]) => (v === "" ? encodeRfc3986(k) : `${encodeRfc3986(k)}=${encodeRfc3986(v)}`)).join("&");
      }
    } catch (cause) {
      // encodeURIComponent's URIError: a lone surrogate in a key or a listing prefix.
      throw new InvalidArgumentError(`S3 keys and prefixes must be well-formed Unicode, got ${JSON.stringify(key ?? query)}. Fix the key or prefix.`, { cause });
    }
    return url;
  }

  /**
   * Sends `request`, retrying 5xx, 429, SlowDown, RequestTimeout and network
   * errors with exponential backoff and full jitter. Resolves the response when
   * its status is 2xx or listed in `accept`; otherwise throws a `BackendError`.
   * Redirects are never followed: a 3xx throws (see {@link redirectError}).
   */
  send(request: S3Request): Promise<Response> {
    return this.#run(request, false) as Promise<Response>;
  }

  /**
   * Like {@link send}, and reads a 2xx body as text before resolving, so that a body
   * that breaks off is retried like a lost answer, and a 200 whose body is an
   * `<Error>` document (CompleteMultipartUpload can answer so) is a failure,
   * retried when its code is. Statuses in `accept` resolve with an empty text, body unread.
   */
  sendText(request: S3Request): Promise<S3TextAnswer> {
    return this.#run(request, true) as Promise<S3TextAnswer>;
  }

  async #run(request: S3Request, readText: boolean): Promise<Response | S3TextAnswer> {
    const retries = request.retries ?? this.options.retries;
    const ctx: S3ErrorContext = { operation: request.operation, bucket: this.options.bucket, key: request.key, endpoint: this.#endpoint };
    const url = this.url(request.key, request.query);
    for (let attempt = 0; ; attempt++) {
      const tried = { ...ctx, attempts: attempt + 1 };
      if (request.signal?.aborted) throw new AbortedError(ABORTED_MESSAGE, { cause: request.signal.reason });
      // Outside the network retry: a failing provider or signer is not the network.
      const headers = await this.#sign(request, url, await this.#credentials(ctx));
      let response: Response;
      let text = "";
      try {
        response = await this.#attempt(request, url, headers);
        if (readText && response.ok && !isRedirect(response)) text = await response.text();
      } catch (error) {
        if (error instanceof AbortedError) throw error;
        if (request.signal?.aborted) throw new AbortedError(ABORTED_MESSAGE, { cause: request.signal.reason });
        if (attempt >= retries) throw networkError(tried, this.options.host, error);
        await sleep(retryDelay(attempt, this.backoffMs), request.signal);
        continue;
      }
      if (isRedirect(response)) {
        throw redirectError(tried, response, await response.text().catch(() => ""));
      }
      if (response.ok && readText && ERROR_DOCUMENT.test(text)) {
        await this.#afterErrorDocument(tried, response, text, attempt < retries ? attempt : undefined, request.signal);
        continue;
      }
      if (response.ok || request.accept?.includes(response.status)) {
        await this.#answers.check(tried, response, readText && response.ok ? text : undefined, request.expect, request.signal);
        return readText ? { response, text } : response;
      }
      if (request.method === "HEAD" || response.status >= 500 || response.status === 429) {
        if (isRetryable(response.status, undefined) && attempt < retries) {
          await response.body?.cancel().catch(() => {});
          await sleep(retryDelay(attempt, this.backoffMs, response), request.signal);
          continue;
        }
        throw await errorFromResponse(response, tried);
      }
      // A 4xx may still be retryable (RequestTimeout is a 400): read the code first.
      await this.#afterErrorDocument(tried, response, await response.text().catch(() => ""), attempt < retries ? attempt : undefined, request.signal);
    }
  }

  /**
   * For an answer carrying an S3 error document: waits out the backoff when
   * its code is retryable and `attempt` (the attempt just made) may be
   * retried; otherwise throws the error it describes.
   */
  async #afterErrorDocument(tried: S3ErrorContext, response: Response, body: string, attempt: number | undefined, signal?: AbortSignal): Promise<void> {
    const parsed = parseErrorXml(body);
    if (attempt === undefined || !isRetryable(response.status, parsed.code)) throw errorFromBody(tried, response, body);
    await sleep(retryDelay(attempt, this.backoffMs, { status: response.status, code: parsed.code, headers: response.headers }), signal);
  }

  /** The credentials for one attempt; a provider that throws or returns no key fails at once, not as a network error. */
  async #credentials(ctx: S3ErrorContext): Promise<S3Credentials> {
    let credentials: S3Credentials;
    try {
      credentials = await this.options.credentials();
    } catch (error) {
      throw credentialsError(ctx, error);
    }
    if (!credentials?.accessKeyId || !credentials.secretAccessKey) {
      throw credentialsError(ctx, new Error("it returned no accessKeyId or secretAccessKey"));
    }
    return credentials;
  }

  /** SigV4 headers for one attempt (a fresh x-amz-date each time). */
  async #sign(request: S3Request, url: string, credentials: S3Credentials): Promise<Headers> {
    const headers = new Headers(request.headers);
    // Bodies are not hashed: UNSIGNED-PAYLOAD is accepted by AWS and by Swift's s3api,
    // and hashing every part would cost a full extra pass over the data.
    headers.set("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
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
    return (await signer.sign()).headers;
  }

  /** One attempt: the body streamed when asked and possible, else plain. */
  #attempt(request: S3Request, url: string, headers: Headers): Promise<Response> {
    const send = (stream?: ReadableStream<Uint8Array>) => this.#sendOnce(request, url, headers, stream);
    return request.streamBody && request.body && this.streamedBodies ? this.streamedBodies(request.body, send) : send();
  }

  async #sendOnce(request: S3Request, url: string, signedHeaders: Headers, stream: ReadableStream<Uint8Array> | undefined): Promise<Response> {
    const headers = new Headers(signedHeaders);
    // A stream has no length of its own; S3 needs one (it refuses chunked uploads).
    // Content-Length is not signed (aws4fetch skips it), so setting it after signing is fine.
    if (stream && request.body) headers.set("content-length", String(request.body.byteLength));
    const controller = new AbortController();
    const userSignal = request.signal;
    const onUserAbort = () => controller.abort(userSignal?.reason);
    const release = () => userSignal?.removeEventListener("abort", onUserAbort);
    if (userSignal?.aborted) onUserAbort();
    userSignal?.addEventListener("abort", onUserAbort, { once: true });
    const timeoutMs = this.options.requestTimeoutMs;
    const timer = timeoutMs ? setTimeout(() => controller.abort(new RequestTimeout(timeoutMs)), timeoutMs) : undefined;
    let response: Response;
    try {
      const body = stream ?? (request.body as Uint8Array<ArrayBuffer> | undefined);
      // "manual": a redirect would carry the signed headers and session token to another host.
      const init = { method: request.method, headers, body, signal: controller.signal, redirect: "manual", ...(stream ? { duplex: "half" } : {}) };
      response = await this.options.fetch(url, init as RequestInit);
    } catch (error) {
      release();
      if (userSignal?.aborted) throw new AbortedError(ABORTED_MESSAGE, { cause: userSignal.reason });
      if (controller.signal.reason instanceof RequestTimeout) throw controller.signal.reason;
      throw error;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
    // A body keeps streaming after the headers: the caller's signal stays wired to it,
    // so aborting still stops a download, until the body ends, fails or is cancelled.
    return userSignal ? releasingBody(response, release) : response;
  }
}

/** A redirect answer: a 3xx, or the opaque answer browsers give for `redirect: "manual"`. */
function isRedirect(response: Response): boolean {
  return response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400);
}

/** `response` with `release` called once its body has ended, failed or been cancelled (at once when it has none). */
function releasingBody(response: Response, release: () => void): Response {
  const source = response.body;
  if (!source || NULL_BODY_STATUSES.includes(response.status) || response.type === "opaqueredirect") {
    release();
    return response;
  }
  const reader = source.getReader();
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader.read();
        } catch (error) {
          release();
          throw error;
        }
        if (result.done) {
          release();
          controller.close();
        } else {
          controller.enqueue(result.value);
        }
      },
      cancel(reason) {
        release();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/**
 * `fetch` over `node:http` and `node:https`, for the S3 and GCS backends on
 * Node (and any other that takes a `fetch`): `s3Backend({ ..., fetch: nodeFetch })`.
 *
 * Why: Node's own fetch (undici) moves every body through a web-stream pipeline
 * of its own. Measured against a local Ceph RGW, a 128 MiB download cost the
 * client 306 ms of CPU through it against 198 ms through this (the AWS SDK,
 * also on `node:http`: 182 ms), and a 256 MiB multipart upload peaked at
 * 119 MiB RSS against 91 MiB. This is fetch's behaviour for what the backends
 * send and read, not all of it: no cookies, cache, CORS, `FormData` bodies or HTTP/2.
 *
 * Like fetch: network failures reject with `TypeError("fetch failed")` (cause
 * attached), a body that breaks off errors its stream with
 * `TypeError("terminated")`, an abort rejects (or errors the body) with the
 * signal's reason, gzip/deflate/br bodies are decoded, and redirects are
 * followed unless `redirect` says `"manual"` or `"error"`.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { createBrotliDecompress, createGunzip, createInflate } from "node:zlib";
import { NULL_BODY_STATUSES } from "../backends/http-wire.ts";

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** fetch's own limit. */
const MAX_REDIRECTS = 20;
/**
 * Bytes a response body reads ahead of its consumer before the socket is
 * paused: enough to keep the connection busy while a reader works, little
 * beside a model's parts.
 */
const READ_AHEAD = 1 << 20;

/** What goes on the wire: bytes of a known length, or a stream sent as it is read. */
type Payload = { bytes?: Uint8Array; stream?: ReadableStream<Uint8Array> };

/** `fetch` over `node:http` / `node:https`; see the module comment for what it leaves out. */
export async function nodeFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const request = input instanceof Request ? input : undefined;
  let url = new URL(request ? request.url : input instanceof URL ? input.href : String(input));
  let method = (init.method ?? request?.method ?? "GET").toUpperCase();
  const headers = new Headers(init.headers ?? request?.headers);
  const signal = init.signal ?? request?.signal ?? undefined;
  const redirect = init.redirect ?? request?.redirect ?? "follow";
  let payload = await payloadOf(init.body !== undefined ? init.body : (request?.body ?? null), headers);
  if ((method === "GET" || method === "HEAD") && (payload.bytes || payload.stream)) {
    throw new TypeError(`nodeFetch: a ${method} request cannot have a body.`);
  }
  for (let redirects = 0; ; redirects++) {
    signal?.throwIfAborted();
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError(`nodeFetch: cannot fetch ${url.protocol} URLs, only http: and https:.`);
    const message = await send(url, method, headers, payload, signal);
    const status = message.statusCode ?? 0;
    const location = message.headers.location;
    if (!REDIRECT_STATUSES.has(status) || !location || redirect === "manual") return responseOf(message, method, signal);
    message.resume();
    if (redirect === "error") throw new TypeError(`fetch failed: ${url.origin} redirected (${status}) and redirect is "error".`);
    if (redirects >= MAX_REDIRECTS) throw new TypeError(`fetch failed: more than ${MAX_REDIRECTS} redirects.`);
    const next = new URL(location, url);
    if (status === 303 || ((status === 301 || status === 302) && method === "POST")) {
      method = method === "HEAD" ? "HEAD" : "GET";
      payload = {};
      for (const name of ["content-length", "content-type", "content-encoding", "content-language", "content-location"]) headers.delete(name);
    } else if (payload.stream) {
      throw new TypeError(`fetch failed: ${url.origin} redirected (${status}) a request whose body was a stream, which cannot be sent again.`);
    }
    // As fetch does: credentials meant for one origin do not follow a redirect to another.
    if (next.origin !== url.origin) for (const name of ["authorization", "cookie", "proxy-authorization"]) headers.delete(name);
    url = next;
  }
}

/** The body as bytes or a stream; sets Content-Type and Content-Length as fetch would. */
async function payloadOf(body: BodyInit | null, headers: Headers): Promise<Payload> {
  const contentType = (type: string) => !headers.has("content-type") && type && headers.set("content-type", type);
  let bytes: Uint8Array;
  if (body === null) return {};
  if (body instanceof ReadableStream) return { stream: body };
  if (typeof body === "string") {
    contentType("text/plain;charset=UTF-8");
    bytes = new TextEncoder().encode(body);
  } else if (body instanceof URLSearchParams) {
    contentType("application/x-www-form-urlencoded;charset=UTF-8");
    bytes = new TextEncoder().encode(body.toString());
  } else if (body instanceof ArrayBuffer) {
    bytes = new Uint8Array(body);
  } else if (ArrayBuffer.isView(body)) {
    bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  } else if (body instanceof Blob) {
    contentType(body.type);
    bytes = new Uint8Array(await body.arrayBuffer());
  } else {
    throw new TypeError("nodeFetch sends strings, bytes, Blobs, URLSearchParams and streams; use the runtime's fetch for FormData.");
  }
  if (!headers.has("content-length")) headers.set("content-length", String(bytes.byteLength));
  return { bytes };
}

type RequestFunction = typeof import("node:http").request;
let requestFunctions: Promise<{ http: RequestFunction; https: RequestFunction }> | undefined;

/**
 * `node:http` and `node:https`, loaded by the first request, not at import:
 * https brings TLS and crypto (~17 ms in a bare Node), and programs that never
 * send a request paid for it. With `child_process` also loaded lazily
 * (git-info.ts), importing `modelstore-js/fs` went from ~60 to ~52 ms.
 */
function loadRequestFunctions(): Promise<{ http: RequestFunction; https: RequestFunction }> {
  requestFunctions ??= Promise.all([import("node:http"), import("node:https")]).then(([http, https]) => ({ http: http.request, https: https.request }));
  return requestFunctions;
}

/** One request on the wire; resolves with the answer's head, its body unread. */
async function send(url: URL, method: string, headers: Headers, payload: Payload, signal: AbortSignal | undefined): Promise<IncomingMessage> {
  const outgoing: OutgoingHttpHeaders = {};
  headers.forEach((value, name) => (outgoing[name] = value));
  const request = await loadRequestFunctions();
  signal?.throwIfAborted();
  const req = (url.protocol === "https:" ? request.https : request.http)(url, { method, headers: outgoing });
  return new Promise<IncomingMessage>((resolve, reject) => {
    const onAbort = () => {
      req.destroy();
      reject(signal!.reason);
    };
    const settle = () => signal?.removeEventListener("abort", onAbort);
    signal?.addEventListener("abort", onAbort, { once: true });
    req.once("response", (message) => (settle(), resolve(message)));
    req.once("error", (error) => (settle(), reject(new TypeError("fetch failed", { cause: error }))));
    if (payload.stream) {
      // Node's pipeline waits for drains and ends the request; a failing body destroys it (its `error` rejects above).
      pipeline(Readable.fromWeb(payload.stream as NodeReadableStream<Uint8Array>), req).catch(() => undefined);
    } else {
      req.end(payload.bytes);
    }
  });
}

/** The answer as a `Response`; its body streams from the socket, decoded when it is encoded. */
function responseOf(message: IncomingMessage, method: string, signal: AbortSignal | undefined): Response {
  const status = message.statusCode ?? 0;
  const headers = new Headers();
  for (let i = 0; i < message.rawHeaders.length; i += 2) {
    // A value fetch's Headers refuses (bytes outside Latin-1) is left out, not fatal.
    try {
      headers.append(message.rawHeaders[i]!, message.rawHeaders[i + 1]!);
    } catch {
      continue;
    }
  }
  if (status < 200 || status > 599) {
    message.destroy();
    throw new TypeError(`fetch failed: the server answered with status ${status}.`);
  }
  if (method === "HEAD" || NULL_BODY_STATUSES.includes(status)) {
    message.resume();
    return new Response(null, { status, statusText: message.statusMessage, headers });
  }
  return new Response(bodyOf(message, signal), { status, statusText: message.statusMessage, headers });
}

/** The decoder for a Content-Encoding fetch decodes, else none. */
function decoderFor(encoding: string | undefined) {
  switch (encoding?.trim().toLowerCase()) {
    case "gzip":
    case "x-gzip":
      return createGunzip();
    case "deflate":
      return createInflate();
    case "br":
      return createBrotliDecompress();
    default:
      return undefined;
  }
}

/**
 * A web stream of the body, paused at {@link READ_AHEAD} bytes ahead of its
 * reader. Not a byte stream: enqueueing into one transfers the chunk's buffer,
 * and Node may hand out chunks that share one.
 */
function bodyOf(message: IncomingMessage, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
  const decoder = decoderFor(message.headers["content-encoding"]);
  const source: Readable = decoder ? message.pipe(decoder) : message;
  if (decoder) message.once("error", (error) => decoder.destroy(error));
  let finished = false;
  let onAbort: (() => void) | undefined;
  const finish = () => {
    finished = true;
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  };
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const fail = (reason: unknown) => {
          if (finished) return;
          finish();
          controller.error(reason);
          message.destroy();
          decoder?.destroy();
        };
        onAbort = () => fail(signal!.reason);
        if (signal?.aborted) return onAbort();
        signal?.addEventListener("abort", onAbort, { once: true });
        source.on("data", (chunk: Uint8Array) => {
          if (finished) return;
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          if ((controller.desiredSize ?? 0) <= 0) source.pause();
        });
        source.once("end", () => {
          // `end` also comes when the server closed early: only a complete message ended well.
          if (!message.complete) return fail(cutShort());
          if (finished) return;
          finish();
          controller.close();
        });
        source.once("error", (error) => fail(new TypeError("terminated", { cause: error })));
        source.once("close", () => fail(cutShort()));
      },
      pull() {
        source.resume();
      },
      cancel() {
        finish();
        message.destroy();
        decoder?.destroy();
      },
    },
    { highWaterMark: READ_AHEAD, size: (chunk) => chunk.byteLength },
  );
}

/** fetch's error for a body that broke off. */
const cutShort = () => new TypeError("terminated", { cause: new Error("the connection closed before the body ended") });

/**
 * What the Node build of modelstore-js/s3 (src/s3-node.ts, which `custom()`,
 * config files and the CLI use too) gives the S3 and GCS backends: nodeFetch
 * on Node itself; nothing on Deno and Bun, which offer `node:http` too but
 * whose own fetch is native code.
 */
export function nodeTransport(): { fetch?: typeof fetch } {
  const runtime = globalThis as { Deno?: unknown; Bun?: unknown };
  return runtime.Deno || runtime.Bun ? {} : { fetch: nodeFetch };
}

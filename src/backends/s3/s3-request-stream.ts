/**
 * Request bodies sent as streams: whether this runtime can, the one-chunk
 * stream the transport sends a buffered part as, and the strategy that tries
 * it (see `S3Request.streamBody`). Only the full backend installs it on its
 * transport (`S3Transport.streamedBodies`): readers send no bodies, and their
 * bundles leave this out.
 * @see https://developer.chrome.com/docs/capabilities/web-apis/fetch-streaming-requests
 */

/**
 * Statuses with which a server may refuse a streamed body's framing: 400 (a bad
 * body), 411 MissingContentLength and 501 NotImplemented (S3's answer to
 * `Transfer-Encoding: chunked`), if the runtime dropped the Content-Length.
 */
export const REFUSED_STREAM_STATUSES = [400, 411, 501];

/**
 * Whether this runtime's `Request` takes a stream body with `duplex: "half"`
 * and keeps an explicit Content-Length: the standard feature test for request
 * streams, plus the header, which browsers drop (it is a forbidden header there).
 * @see https://developer.chrome.com/docs/capabilities/web-apis/fetch-streaming-requests#feature_detection
 */
export function requestStreamsWork(): boolean {
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
export function oneChunkStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

/** One attempt of a request: with `stream`, its body as that stream (and an explicit Content-Length). */
export type SendAttempt = (stream?: ReadableStream<Uint8Array>) => Promise<Response>;

/** Marks errors that must not be taken for a refused stream (aborts, timeouts): they are thrown on as they are. */
export type IsFinal = (error: unknown) => boolean;

/**
 * Sends `body` as a one-chunk stream where this runtime and the server take it,
 * else plain. Until one streamed request has succeeded, a streamed attempt that
 * fails as a runtime or server refusing the framing would (no answer, or a
 * status in {@link REFUSED_STREAM_STATUSES}) is sent again plain at once, and
 * streaming stops for good if that works. One strategy per transport.
 */
export function streamedBodies(isFinal: IsFinal): (body: Uint8Array, send: SendAttempt) => Promise<Response> {
  let state: "unknown" | "works" | "refused" | undefined;
  const plainInstead = async (send: SendAttempt) => {
    const response = await send();
    // Plain worked where streamed did not: streaming is what failed.
    if (response.ok && state === "unknown") state = "refused";
    return response;
  };
  return async (body, send) => {
    state ??= requestStreamsWork() ? "unknown" : "refused";
    if (state === "refused") return send();
    if (state === "works") return send(oneChunkStream(body));
    // Not proven in this runtime yet: a failure here may be the runtime or the
    // server refusing the streamed framing rather than a fault, so try plain once.
    let response: Response;
    try {
      response = await send(oneChunkStream(body));
    } catch (error) {
      if (isFinal(error)) throw error;
      return plainInstead(send);
    }
    if (response.ok) {
      state = "works";
      return response;
    }
    if (!REFUSED_STREAM_STATUSES.includes(response.status)) return response;
    await response.body?.cancel().catch(() => {});
    return plainInstead(send);
  };
}

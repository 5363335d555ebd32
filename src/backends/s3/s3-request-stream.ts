/**
 * Request bodies sent as streams: whether this runtime can, and the one-chunk
 * stream the transport sends a buffered part as. See `S3Request.streamBody`.
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

/**
 * Reading byte streams into buffers of one's own (BYOB reads), so that a
 * stream of any length is carried in the same few buffers instead of fresh
 * memory per chunk (see archive-stream.ts for why that matters).
 */

/** A BYOB reader of `stream` when it is a readable byte stream, else `undefined` (read it the default way). */
export function byobReaderOf(stream: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | undefined {
  try {
    return stream.getReader({ mode: "byob" });
  } catch {
    return undefined; // not a byte stream
  }
}

/**
 * The buffer a BYOB read returned `view` in, if it is the whole buffer that was
 * lent (`length` bytes); else a new one of that length. The Streams standard
 * moves the lent buffer into the result, but a runtime may hand back a buffer
 * of its own instead (workerd does), and reusing a short one would shrink every
 * later read.
 */
export function bufferBack(view: Uint8Array | undefined, length: number): ArrayBuffer {
  const buffer = view?.buffer;
  return buffer instanceof ArrayBuffer && buffer.byteLength === length ? buffer : new ArrayBuffer(length);
}

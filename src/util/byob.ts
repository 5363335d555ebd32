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

/** Largest buffer {@link readWhole} lends a byte stream at a time. */
const WHOLE_SCRATCH = 1 << 20;

/**
 * Reads `stream` into one buffer of at most `length` bytes (`into`, when it
 * is large enough): the bytes read (fewer when the stream ended early) and
 * whether it held more than `length`. `onRead` is told how many bytes are in
 * after every chunk, so that a caller can start on the first ones.
 * A byte stream (the file system's, fetch's) is read into one lent scratch
 * buffer and copied once, instead of allocating every chunk afresh: for whole
 * member groups of a parallel download that allocation was a third of the
 * main thread's time.
 */
export async function readWhole(stream: ReadableStream<Uint8Array>, length: number, into?: Uint8Array, onRead?: (filled: number) => void): Promise<{ bytes: Uint8Array; more: boolean }> {
  const out = into && into.byteLength >= length ? into.subarray(0, length) : new Uint8Array(length);
  let filled = 0;
  let more = false;
  /** Copies `chunk` in; false (and `more`) when it would not fit. */
  const take = (chunk: Uint8Array) => {
    if (filled + chunk.byteLength > length) return !(more = true);
    out.set(chunk, filled);
    filled += chunk.byteLength;
    onRead?.(filled);
    return true;
  };
  const byob = byobReaderOf(stream);
  try {
    if (byob) {
      const size = Math.max(1, Math.min(length, WHOLE_SCRATCH));
      let scratch = new ArrayBuffer(size);
      for (;;) {
        const { value, done } = await byob.read(new Uint8Array(scratch, 0, Math.max(1, Math.min(size, length - filled))));
        scratch = bufferBack(value, size);
        if (done || !take(value)) break;
      }
    } else {
      for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) if (!take(chunk)) break;
    }
  } finally {
    if (byob) {
      if (more) await byob.cancel().catch(() => undefined);
      byob.releaseLock();
    }
  }
  return { bytes: filled === length ? out : out.subarray(0, filled), more };
}

/** Small stream helpers shared by the store. Web standard streams only. */
import { concatBytes } from "./bytes.ts";
import { abortedError, IntegrityError, throwIfAborted } from "./errors.ts";

/**
 * Reads `stream` chunk by chunk into `onChunk`, which may be async (its promise is
 * awaited before the next read). If `signal` fires, the pending read is cancelled
 * at once, even while the source stalls; if anything fails, the producer is
 * cancelled so it stops working for nobody. Returns the number of bytes read.
 */
export async function forEachChunk(
  stream: ReadableStream<Uint8Array>,
  onChunk: (chunk: Uint8Array) => void | Promise<void>,
  signal?: AbortSignal,
): Promise<number> {
  const reader = stream.getReader();
  const onAbort = () => void reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  let total = 0;
  try {
    for (;;) {
      throwIfAborted(signal);
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      await onChunk(value);
    }
    throwIfAborted(signal);
    return total;
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
}

/**
 * Runs `read` unless `signal` has fired, and rejects as soon as it fires even
 * if the read never settles: a stalled source must not hold an abort back.
 * `aborted` makes the error (by default the generic {@link AbortedError}).
 */
export function untilAborted<T>(read: () => Promise<T>, signal: AbortSignal | undefined, aborted = abortedError): Promise<T> {
  if (!signal) return read();
  if (signal.aborted) return Promise.reject(aborted(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    read().then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * `body` as a stream that errors with `AbortedError` once `signal` fires, even
 * mid-read, and cancels `body` then: for bodies from APIs that take no signal.
 */
export function abortableStream(body: ReadableStream<Uint8Array>, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
  if (!signal) return body;
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await untilAborted(() => reader.read(), signal);
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (error) {
          await reader.cancel(error).catch(() => undefined);
          throw error;
        }
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

/** Reads a small stream (a metadata document) whole, refusing more than `limit` bytes. */
export async function readSmallText(stream: ReadableStream<Uint8Array>, what: string, limit = 16 * 1024 * 1024): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  await forEachChunk(stream, (chunk) => {
    total += chunk.byteLength;
    if (total > limit) {
      throw new IntegrityError(`${what} is larger than ${limit} bytes; it is not a metadata document. Check what wrote it.`);
    }
    chunks.push(chunk);
  });
  return new TextDecoder().decode(concatBytes(chunks));
}

/** Passes bytes `start` to `end` (exclusive) of a stream through, then stops it. */
export function sliceStream(start: number, end: number): TransformStream<Uint8Array, Uint8Array> {
  let at = 0;
  return new TransformStream({
    transform(chunk, controller) {
      const from = Math.max(0, start - at);
      const to = Math.min(chunk.length, end - at);
      at += chunk.length;
      if (to > from) controller.enqueue(chunk.subarray(from, to));
      if (at >= end) controller.terminate();
    },
  });
}

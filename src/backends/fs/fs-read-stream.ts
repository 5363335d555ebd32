/**
 * A pull-based web `ReadableStream` over a file handle: bytes are read only
 * when the consumer asks, so memory stays bounded and back-pressure is free,
 * and the handle is closed on end, error or cancel.
 */
import type { FileHandle } from "node:fs/promises";
import { throwIfAborted } from "../../util/errors.ts";

/** Bytes per read: large enough to amortise the syscall, small enough to keep memory flat. */
const CHUNK_SIZE = 256 * 1024;

/** Options for {@link fileStream}. */
export interface FileStreamOptions {
  /** First byte to read. @default 0 */
  offset?: number;
  /** Bytes to read at most. @default up to the end of the file */
  length?: number;
  /** Errors the stream with `AbortedError` at the next read. */
  signal?: AbortSignal;
  /** Wraps read failures (e.g. into a `BackendError`). @default rethrow as is */
  mapError?: (error: unknown) => unknown;
  /** Bytes per read. @default 256 KiB */
  chunkSize?: number;
  /**
   * Read one chunk ahead of the consumer. Turn off for lazily opened files: a
   * read-ahead stream calls `open()` as soon as it is created.
   * @default true
   */
  readAhead?: boolean;
}

/**
 * Streams a file from `open()`, which runs on the first read, not before: pass an
 * already-open handle for a consistent snapshot (get), or a lazy opener so
 * that hundreds of queued files are not all open at once (archiving a directory).
 */
export function fileStream(open: () => Promise<FileHandle>, options: FileStreamOptions = {}): ReadableStream<Uint8Array> {
  let handle: FileHandle | undefined;
  let position = options.offset ?? 0;
  let remaining = options.length ?? Number.POSITIVE_INFINITY;
  let closed = false;
  const chunkSize = options.chunkSize ?? CHUNK_SIZE;
  const close = async () => {
    if (closed) return;
    closed = true;
    await handle?.close().catch(() => {});
  };
  return new ReadableStream(
    {
      // A byte stream: a reader with its own buffer (a BYOB reader) gets the file
      // read straight into it, so streaming allocates nothing per chunk.
      type: "bytes" as const,
      async pull(controller: ReadableByteStreamController) {
        const request = controller.byobRequest;
        try {
          throwIfAborted(options.signal);
          if (!handle) {
            const opened = await open();
            // A cancel that raced the open must not leak the descriptor.
            if (closed) return void (await opened.close().catch(() => {}));
            handle = opened;
          }
          const target = request?.view ? new Uint8Array(request.view.buffer, request.view.byteOffset, request.view.byteLength) : undefined;
          const want = Math.min(target?.byteLength ?? chunkSize, remaining);
          const buffer = want <= 0 ? undefined : (target?.subarray(0, want) ?? new Uint8Array(want));
          const { bytesRead } = buffer ? await handle.read(buffer, 0, buffer.byteLength, position) : { bytesRead: 0 };
          if (bytesRead === 0) {
            await close();
            controller.close();
            request?.respond(0);
            return;
          }
          position += bytesRead;
          remaining -= bytesRead;
          if (request) return request.respond(bytesRead);
          // A short read is copied out: a view would pin the whole buffer for as long as
          // a consumer (a gzip block, a multipart part) holds on to the chunk.
          controller.enqueue(bytesRead === buffer!.byteLength ? buffer! : buffer!.slice(0, bytesRead));
        } catch (error) {
          await close();
          throw options.mapError ? options.mapError(error) : error;
        }
      },
      async cancel() {
        await close();
      },
    },
    // One chunk of read-ahead overlaps the next read with the consumer's work
    // without buffering a file; zero keeps the stream idle until it is read.
    { highWaterMark: options.readAhead === false ? 0 : chunkSize },
  );
}

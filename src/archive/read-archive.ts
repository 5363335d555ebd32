/**
 * `readArchive`: the public reader of model archives, `.tar.gz` or plain `.tar`.
 * Sniffs the gzip magic number (RFC 1952 section 2.3.1: ID1 0x1f, ID2 0x8b)
 * and hands the tar bytes to the streaming tar reader.
 */
import { InvalidArgumentError, throwIfAborted } from "../util/errors.ts";
import { createGunzipStream } from "./gzip/gzip.ts";
import { unpackTar } from "./tar/tar-unpack.ts";
import type { ArchiveEntry, ReadArchiveOptions } from "./types.ts";

const GZIP_MAGIC = [0x1f, 0x8b] as const;

/**
 * Reads the entries of a `.tar.gz` or `.tar` stream one at a time.
 * Read each `body` (or call `skip()`) before the next entry; an unread body is
 * drained without buffering when the loop advances. Errors are typed:
 * `InvalidArchiveError` for truncated or corrupt input, `AbortedError` on abort.
 *
 * @example
 * for await (const entry of readArchive(response.body!)) {
 *   if (entry.path === "runtime-info.json") console.log(await new Response(entry.body).json());
 * }
 */
export async function* readArchive(
  stream: ReadableStream<Uint8Array>,
  options: ReadArchiveOptions = {},
): AsyncGenerator<ArchiveEntry, void, undefined> {
  const { compression = "auto", signal } = options;
  if (typeof (stream as ReadableStream | null)?.getReader !== "function") {
    throw new InvalidArgumentError("readArchive() needs a ReadableStream<Uint8Array>. Wrap bytes with new Blob([bytes]).stream().");
  }
  if (compression !== "auto" && compression !== "gzip" && compression !== "none") {
    throw new InvalidArgumentError(`Unknown compression "${String(compression)}". Use "auto", "gzip" or "none".`);
  }
  throwIfAborted(signal);
  let tar = stream;
  let gzip = compression === "gzip";
  if (compression === "auto") {
    const sniffed = await sniffGzip(stream);
    tar = sniffed.stream;
    gzip = sniffed.gzip;
  }
  if (gzip) tar = tar.pipeThrough(createGunzipStream());
  yield* unpackTar(tar, { signal });
}

/** Reads the first two bytes and returns them, unconsumed, in front of the rest of `stream`. */
async function sniffGzip(stream: ReadableStream<Uint8Array>): Promise<{ gzip: boolean; stream: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  const head: Uint8Array[] = [];
  let length = 0;
  while (length < GZIP_MAGIC.length) {
    const { done, value } = await reader.read();
    if (done) break;
    head.push(value);
    length += value.length;
  }
  const gzip = startsWith(head, GZIP_MAGIC);
  const replayed = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const chunk = head.shift();
        if (chunk) return controller.enqueue(chunk);
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
  return { gzip, stream: replayed };
}

/** True if the bytes of `chunks`, read in order, begin with `prefix`; empty chunks (which sources may yield) count for nothing. */
function startsWith(chunks: readonly Uint8Array[], prefix: readonly number[]): boolean {
  let i = 0;
  for (const chunk of chunks) {
    for (let j = 0; j < chunk.length && i < prefix.length; j++, i++) {
      if (chunk[j] !== prefix[i]) return false;
    }
    if (i === prefix.length) return true;
  }
  return false;
}

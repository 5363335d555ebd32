/** Turns command-line paths into archive entries: a directory contributes its contents, a file itself. */
import { open, stat } from "node:fs/promises";
import { basename, resolve } from "node:path";
import type { ArchiveInputEntry } from "../archive/types.ts";
import { fileStream } from "../backends/fs/fs-read-stream.ts";
import { byobReaderOf } from "../util/byob.ts";
import { InvalidArgumentError } from "../util/errors.ts";
import { filesFromDirectory } from "../fs.ts";

/** Options for {@link collectInputs}. */
export interface InputOptions {
  /** Store the contents of symlinks that point outside a directory. @default false */
  dereference?: boolean;
  signal?: AbortSignal;
  /** Called with the length of every chunk read from a file, as the archive reads it. */
  onRead?: (bytes: number) => void;
}

/**
 * The entries for `paths`, and their total size: the files inside each
 * directory keep their paths relative to it; a plain file goes in under its
 * own name. Only sizes are read here: no file is opened before the archive
 * reads it.
 */
export async function collectInputs(paths: string[], options: InputOptions = {}): Promise<{ entries: ArchiveInputEntry[]; size: number }> {
  const { dereference, signal, onRead } = options;
  const entries: ArchiveInputEntry[] = [];
  let size = 0;
  for (const path of paths) {
    const info = await stat(path).catch((cause) => {
      throw new InvalidArgumentError(`Cannot read ${JSON.stringify(path)}: ${cause.code ?? cause.message}. Check the path.`, { cause });
    });
    if (info.isDirectory()) {
      for await (const entry of filesFromDirectory(path, { dereference, signal })) entries.push(entry);
    } else if (info.isFile()) {
      const absolute = resolve(path);
      entries.push({
        path: basename(path),
        size: info.size,
        mode: info.mode & 0o777,
        mtime: info.mtime,
        body: fileStream(() => open(absolute, "r"), { signal, readAhead: false }),
      });
    } else {
      throw new InvalidArgumentError(`${JSON.stringify(path)} is neither a file nor a directory; pass model files or folders.`);
    }
  }
  for (const entry of entries) {
    size += entry.size ?? 0;
    if (onRead) entry.body = counting(entry.body as ReadableStream<Uint8Array>, onRead);
  }
  return { entries, size };
}

/**
 * `body` as a byte stream that reports each chunk's length. A reader's own
 * buffer is passed through to the file read, so counting copies nothing and the
 * body is still opened only when first read.
 */
function counting(body: ReadableStream<Uint8Array>, count: (bytes: number) => void): ReadableStream<Uint8Array> {
  const reader = byobReaderOf(body);
  if (!reader) {
    return body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ transform: (chunk, controller) => (count(chunk.byteLength), controller.enqueue(chunk)) }));
  }
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: 256 * 1024,
    async pull(controller) {
      const request = controller.byobRequest!;
      const view = request.view!;
      const { done, value } = await reader.read(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
      if (done) {
        controller.close();
        // The read took the lent buffer: hand it back empty, which ends the consumer's read.
        if (value) request.respondWithNewView(value);
        else request.respond(0);
        return;
      }
      count(value.byteLength);
      request.respondWithNewView(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

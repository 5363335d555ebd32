/**
 * A streaming, pull-based tar writer: entries in, POSIX ustar/PAX bytes out.
 * Nothing is read from an entry body before the consumer asks for more bytes,
 * so memory stays at about one chunk whatever the archive size.
 */
import { IntegrityError, InvalidArgumentError, throwIfAborted } from "../../util/errors.ts";
import { bufferBack, byobReaderOf } from "../../util/byob.ts";
import type { EntrySource } from "../types.ts";
import { BLOCK_SIZE, encodeEntryHeader, paddingFor } from "./tar-header.ts";

/** One entry for {@link createTarStream}. */
export interface TarEntry {
  /** Relative `/`-separated path. Trusted as given: `createArchive` validates user paths. */
  path: string;
  /** @default "file" */
  type?: "file" | "directory";
  /** Exact body size in bytes; required for files and checked against the bytes read. */
  size?: number;
  /** The file's bytes; omitted for directories and empty files. */
  body?: ReadableStream<Uint8Array>;
  /** Unix permission bits. @default 0o644 for files, 0o755 for directories */
  mode?: number;
  /** @default {@link TarStreamOptions.mtime} */
  mtime?: Date;
}

/** Options for {@link createTarStream}. */
export interface TarStreamOptions {
  /** mtime of entries that have none, and of implied parent directories. @default the time the stream is created */
  mtime?: Date;
  /**
   * Write a directory entry (mode 0o755) for each parent directory of a file, once,
   * before its first child; GNU tar and most extractors then restore directory modes.
   * @default true
   */
  parentDirectories?: boolean;
  /** Aborts writing; the stream errors with `AbortedError`. Checked between entries and chunks. */
  signal?: AbortSignal;
}

// The end-of-archive marker: two zero blocks (POSIX ustar).
const END_OF_ARCHIVE_BYTES = 2 * BLOCK_SIZE;

interface WriterState {
  /** The body being copied, so cancel and abort can release it at once. */
  reader?: { cancel(reason?: unknown): Promise<void> };
}

/**
 * A buffer that bodies able to (byte streams) are read into, instead of each
 * chunk arriving in fresh memory. Chunks yielded from it are valid only until
 * the generator is resumed: the consumer must copy them before asking for more.
 * A read transfers the buffer, so `buffer` is replaced after each one.
 */
export interface ReadScratch {
  buffer: ArrayBuffer;
}

/**
 * Creates a tar byte stream from `entries`, read lazily one at a time.
 * A file body that ends before or runs past its declared `size` errors the
 * stream with `IntegrityError`: a tar header promises the size up front.
 */
export function createTarStream(entries: EntrySource<TarEntry>, options: TarStreamOptions = {}): ReadableStream<Uint8Array> {
  const { chunks, cancel } = tarSource(entries, options);
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await chunks.next(); // an error errors the stream with the typed error
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel,
    },
    // Zero high-water mark: pull only when the consumer reads, never ahead of it.
    { highWaterMark: 0 },
  );
}

/** The tar bytes of `entries` as a generator, and how to stop it from outside. */
export interface TarSource {
  chunks: AsyncGenerator<Uint8Array, void, undefined>;
  /** Cancels the body being read and ends the generator. */
  cancel(reason?: unknown): Promise<void>;
}

/**
 * The chunks of {@link tarChunks}, with `options.signal` wired to cancel the
 * body being read, so a stalled source cannot hold an abort back. The signal
 * is let go when the chunks end, fail or are cancelled.
 */
/** Told of each entry right before its header is yielded (the table of contents listens; see archive/index/). */
export type HeaderListener = (entry: { path: string; type: "file" | "directory"; size: number; mode: number }) => void;

export function tarSource(entries: EntrySource<TarEntry>, options: TarStreamOptions, scratch?: ReadScratch, onHeader?: HeaderListener): TarSource {
  const { signal } = options;
  const state: WriterState = {};
  const onAbort = (): void => void state.reader?.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  async function* chunks(): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      yield* tarChunks(entries, options, state, scratch, onHeader);
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }
  const generator = chunks();
  return {
    chunks: generator,
    async cancel(reason) {
      signal?.removeEventListener("abort", onAbort);
      await state.reader?.cancel(reason).catch(() => {});
      await generator.return(undefined).catch(() => {});
    },
  };
}

/**
 * The tar bytes of `entries`, chunk by chunk. With `scratch`, body chunks are
 * views of it that the next step overwrites (see {@link ReadScratch}).
 */
async function* tarChunks(
  entries: EntrySource<TarEntry>,
  options: TarStreamOptions,
  state: WriterState,
  scratch?: ReadScratch,
  onHeader?: HeaderListener,
): AsyncGenerator<Uint8Array, void, undefined> {
  const { signal, parentDirectories = true } = options;
  const defaultMtime = options.mtime ?? new Date();
  const directories = new Set<string>();
  throwIfAborted(signal);
  for await (const entry of entries) {
    throwIfAborted(signal);
    const type = entry.type ?? "file";
    const path = type === "directory" ? entry.path.replace(/\/+$/, "") : entry.path;
    const mtime = entry.mtime ?? defaultMtime;
    if (parentDirectories) {
      for (let slash = path.indexOf("/"); slash !== -1; slash = path.indexOf("/", slash + 1)) {
        const parent = path.slice(0, slash);
        if (directories.has(parent)) continue;
        directories.add(parent);
        onHeader?.({ path: parent, type: "directory", size: 0, mode: 0o755 });
        yield encodeEntryHeader({ path: parent, type: "directory", size: 0, mode: 0o755, mtime: defaultMtime });
      }
    }
    if (type === "directory") {
      if (directories.has(path)) continue; // already written as a parent: once each
      directories.add(path);
      onHeader?.({ path, type, size: 0, mode: entry.mode ?? 0o755 });
      yield encodeEntryHeader({ path, type, size: 0, mode: entry.mode ?? 0o755, mtime });
      continue;
    }
    const size = entry.size ?? 0;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new InvalidArgumentError(`Entry "${path}" has size ${entry.size}; pass the body's length in bytes as a non-negative integer.`);
    }
    const header = encodeEntryHeader({ path, type, size, mode: entry.mode ?? 0o644, mtime });
    onHeader?.({ path, type, size, mode: entry.mode ?? 0o644 });
    yield header;
    if (entry.body) yield* copyBody(path, size, entry.body, state, signal, scratch);
    else if (size !== 0) throw sizeMismatch(path, size, 0, false);
    const padding = paddingFor(size);
    if (padding) yield new Uint8Array(padding);
  }
  yield new Uint8Array(END_OF_ARCHIVE_BYTES);
}

function sizeMismatch(path: string, declared: number, actual: number, more: boolean): IntegrityError {
  return new IntegrityError(
    `Entry "${path}" declared ${declared} bytes but its body ${more ? `has at least ${actual}` : `ended after ${actual}`} bytes. ` +
      "Pass the body's exact length as size (a tar header records it before the data).",
  );
}

async function* copyBody(
  path: string,
  size: number,
  body: ReadableStream<Uint8Array>,
  state: WriterState,
  signal: AbortSignal | undefined,
  scratch: ReadScratch | undefined,
): AsyncGenerator<Uint8Array, void, undefined> {
  const byob = scratch ? byobReaderOf(body) : undefined;
  const reader = byob ?? body.getReader();
  state.reader = reader;
  let received = 0;
  let completed = false;
  try {
    for (;;) {
      let result: ReadableStreamReadResult<Uint8Array>;
      if (byob) {
        // One byte past the declared size, so a body that runs over is caught.
        const length = scratch!.buffer.byteLength; // the read detaches the buffer
        result = await byob.read(new Uint8Array(scratch!.buffer, 0, Math.min(length, size - received + 1)));
        scratch!.buffer = bufferBack(result.value, length);
      } else {
        result = await (reader as ReadableStreamDefaultReader<Uint8Array>).read();
      }
      throwIfAborted(signal); // an abort cancels the reader, which looks like an early end: report the abort
      const { done, value } = result;
      if (done) break;
      if (!(value instanceof Uint8Array)) {
        throw new InvalidArgumentError(`The body of "${path}" yielded a ${typeof value}, not a Uint8Array. Stream bytes only.`);
      }
      received += value.length;
      if (received > size) throw sizeMismatch(path, size, received, true);
      if (value.length > 0) yield value;
    }
    if (received < size) throw sizeMismatch(path, size, received, false);
    completed = true;
  } finally {
    state.reader = undefined;
    // On error or cancellation, tell the body's source to stop producing.
    if (!completed) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

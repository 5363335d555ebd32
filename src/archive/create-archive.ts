/**
 * `createArchive`: packs a model into the `.tar.gz` layout the Python
 * modelstore uses: model files at the top level, extras under `extras/`, and a
 * `runtime-info.json` describing the runtime that made it. Streams end to end.
 */
import { InvalidArgumentError, throwIfAborted } from "../util/errors.ts";
import { runtimeInfoDocument } from "./runtime-info.ts";
import { archivePathProblem } from "./path-problem.ts";

export { archivePathProblem };
import { gzipByteStream } from "./archive-stream.ts";
import { createGzipStream, type GzipOptions } from "./gzip/gzip.ts";
import { IndexRecorder } from "./index/index-recorder.ts";
import { createTarStream, tarSource, type TarEntry, type TarStreamOptions } from "./tar/tar-pack.ts";
import type { ArchiveInput, ArchiveInputEntry, CreateArchiveOptions, EntrySource } from "./types.ts";

/** Name of the runtime description stored first in every archive (the Python modelstore's `python-info.json` counterpart). */
export const RUNTIME_INFO_FILE = "runtime-info.json";

/** Directory of `ArchiveInput.extras` inside the archive, as in the Python modelstore. */
export const EXTRAS_DIRECTORY = "extras";

// Uint8Array bodies are sliced (views, no copies) so gzip and abort checks see modest chunks.
const SLICE_SIZE = 64 * 1024;

/**
 * Streams a gzip-compressed tar of `input`. Entries are read lazily; a bad
 * entry (invalid or duplicate path, stream without size, wrong size) errors
 * the stream with `InvalidArgumentError` or `IntegrityError` when reached.
 *
 * @example
 * const archive = createArchive({ files: [{ path: "model.onnx", body: bytes }] }, { deterministic: true });
 */
export function createArchive(input: ArchiveInput, options: CreateArchiveOptions = {}): ReadableStream<Uint8Array> {
  if (!input || typeof input !== "object" || !isEntrySource(input.files)) {
    throw new InvalidArgumentError("createArchive() needs { files }, an array or (async) iterable of { path, body } entries.");
  }
  if (input.extras !== undefined && !isEntrySource(input.extras)) {
    throw new InvalidArgumentError("createArchive(): extras must be an array or (async) iterable of { path, body } entries.");
  }
  const { deterministic = false, signal } = options;
  const fixed = deterministic === true ? new Date(0) : deterministic instanceof Date ? deterministic : undefined;
  if (fixed && Number.isNaN(fixed.getTime())) {
    throw new InvalidArgumentError("createArchive(): deterministic is an invalid Date. Pass true (Unix epoch) or a valid Date.");
  }
  const now = fixed ?? new Date();
  const entries = archiveEntries(input, options, now, fixed);
  const gzip: GzipOptions = { level: options.level, engine: options.engine, adaptive: options.adaptive, deterministic: fixed !== undefined };
  const tarOptions: TarStreamOptions = { mtime: now, signal };
  if (!byteStreamsWork()) return createTarStream(entries, tarOptions).pipeThrough(createGzipStream(gzip));
  return reusingArchiveStream(entries, tarOptions, gzip, options.onIndex);
}

/** Bytes of the buffer that byte-stream bodies are read into. */
const SCRATCH_BYTES = 256 * 1024;

/**
 * The archive as a byte stream that reuses its memory (see archive-stream.ts):
 * bodies are read into one scratch buffer and copied into pooled gzip blocks.
 */
function reusingArchiveStream(
  entries: EntrySource<TarEntry>,
  options: TarStreamOptions,
  gzip: GzipOptions,
  onIndex: CreateArchiveOptions["onIndex"],
): ReadableStream<Uint8Array> {
  const recorder = new IndexRecorder((location) => onIndex?.(location));
  const { chunks, cancel } = tarSource(entries, options, { buffer: new ArrayBuffer(SCRATCH_BYTES) }, (header) => recorder.onHeader(header));
  return gzipByteStream(recorder.observe(chunks), gzip, cancel, recorder);
}

let byteStreams: boolean | undefined;

/** Whether this runtime has readable byte streams (every current one does; checked once). */
function byteStreamsWork(): boolean {
  if (byteStreams === undefined) {
    try {
      new ReadableStream({ type: "bytes" });
      byteStreams = true;
    } catch {
      byteStreams = false;
    }
  }
  return byteStreams;
}

function isEntrySource(value: unknown): value is EntrySource<ArchiveInputEntry> {
  return (
    typeof value === "object" &&
    value !== null &&
    (Symbol.iterator in value || Symbol.asyncIterator in value)
  );
}

// Structural checks, not instanceof: streams and blobs may come from another realm or a polyfill.
function isReadableStream(value: unknown): value is ReadableStream<Uint8Array> {
  return typeof (value as ReadableStream | null)?.getReader === "function";
}

function isBlob(value: unknown): value is Blob {
  return typeof (value as Blob | null)?.stream === "function" && typeof (value as Blob).size === "number";
}

/** Tracks paths taken so far: no duplicates, and no file where another entry needs a directory. */
class PathRegistry {
  readonly #files = new Set<string>();
  readonly #directories = new Set<string>();

  add(path: string): void {
    if (this.#files.has(path) || this.#directories.has(path)) {
      const why = this.#files.has(path) ? "appears twice" : "is also a directory of other entries";
      throw new InvalidArgumentError(`Archive path "${path}" ${why}. Give every file a distinct path.`);
    }
    for (let slash = path.indexOf("/"); slash !== -1; slash = path.indexOf("/", slash + 1)) {
      const parent = path.slice(0, slash);
      if (this.#files.has(parent)) {
        throw new InvalidArgumentError(`Archive path "${path}" needs "${parent}" to be a directory, but "${parent}" is a file. Rename one of them.`);
      }
      this.#directories.add(parent);
    }
    this.#files.add(path);
  }
}

function bytesStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (offset >= bytes.length) return controller.close();
        controller.enqueue(bytes.subarray(offset, offset + SLICE_SIZE));
        offset += SLICE_SIZE;
      },
    },
    { highWaterMark: 0 },
  );
}

function toTarEntry(entry: ArchiveInputEntry, prefix: string, mtime: Date, fixed: Date | undefined): TarEntry {
  if (!entry || typeof entry !== "object") {
    throw new InvalidArgumentError("Every archive entry must be an object { path, body, size?, mode?, mtime? }.");
  }
  const problem = archivePathProblem(entry.path);
  if (problem) {
    throw new InvalidArgumentError(`Invalid archive path ${JSON.stringify(entry.path)}: ${problem}. Use a relative path like "weights/model.bin".`);
  }
  const path = `${prefix}${entry.path}`;
  const mode = entry.mode ?? 0o644;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new InvalidArgumentError(`Entry "${path}" has mode ${entry.mode}; pass Unix permission bits such as 0o644.`);
  }
  if (entry.mtime !== undefined && !(entry.mtime instanceof Date && !Number.isNaN(entry.mtime.getTime()))) {
    throw new InvalidArgumentError(`Entry "${path}" has an invalid mtime; pass a valid Date or omit it.`);
  }
  if (entry.size !== undefined && (!Number.isSafeInteger(entry.size) || entry.size < 0)) {
    throw new InvalidArgumentError(`Entry "${path}" has size ${entry.size}; pass its length in bytes as a non-negative integer.`);
  }
  const { body } = entry;
  let size: number;
  let stream: ReadableStream<Uint8Array>;
  if (body instanceof Uint8Array) {
    size = entry.size ?? body.length;
    stream = bytesStream(body);
  } else if (isReadableStream(body)) {
    if (entry.size === undefined) {
      throw new InvalidArgumentError(
        `Entry "${path}" has a stream body but no size. Pass size (tar headers record it before the data), or pass a Blob or Uint8Array.`,
      );
    }
    size = entry.size;
    stream = body;
  } else if (isBlob(body)) {
    size = entry.size ?? body.size;
    stream = body.stream();
  } else {
    throw new InvalidArgumentError(`Entry "${path}" has a body of type ${typeof body}; pass a Uint8Array, Blob or ReadableStream<Uint8Array>.`);
  }
  return { path, type: "file", size, body: stream, mode, mtime: fixed ?? entry.mtime ?? mtime };
}

async function* archiveEntries(
  input: ArchiveInput,
  options: CreateArchiveOptions,
  now: Date,
  fixed: Date | undefined,
): AsyncGenerator<TarEntry, void, undefined> {
  const registry = new PathRegistry();
  const info = new TextEncoder().encode(`${JSON.stringify(runtimeInfoDocument(options.dependencies), null, 2)}\n`);
  registry.add(RUNTIME_INFO_FILE);
  yield { path: RUNTIME_INFO_FILE, size: info.length, body: bytesStream(info), mode: 0o644, mtime: now };
  const groups: [EntrySource<ArchiveInputEntry>, string][] = [[input.files, ""]];
  if (input.extras) groups.push([input.extras, `${EXTRAS_DIRECTORY}/`]);
  for (const [source, prefix] of groups) {
    for await (const entry of source) {
      throwIfAborted(options.signal);
      const tarEntry = toTarEntry(entry, prefix, now, fixed);
      registry.add(tarEntry.path);
      yield tarEntry;
    }
  }
}

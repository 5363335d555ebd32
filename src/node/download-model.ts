/**
 * Downloading a model into a directory. The archive is verified (size and
 * sha256) and extracted into a hidden sibling directory first, and moved into
 * place only when everything checked out, so a failed download leaves nothing
 * half-written in the target.
 */
import { mkdir, readdir, rename, rm, rmdir, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { AlreadyExistsError, IntegrityError, InvalidArgumentError } from "../util/errors.ts";
import { pathMatcher } from "../util/glob.ts";
import { createdInstant, type ModelMetadata } from "../metadata/document.ts";
import type { ModelFile, ModelStore } from "../store/model-store.ts";
import { createTarStream, type TarEntry } from "../archive/tar/tar-pack.ts";
import { extractArchive } from "./extract-archive.ts";
import { ArchiveIndexCache } from "../store/archive-index-reads.ts";
import { zlibEngine } from "../archive/index/engine-zlib.ts";
import { parallelTarStream } from "../store/parallel-archive.ts";

/** Options for {@link downloadModel}. */
export interface DownloadOptions {
  /**
   * Replace the contents of a directory that is not empty. The old contents
   * are swapped out only once the new ones are verified and extracted beside
   * it, so a failed download leaves the directory as it was.
   * Without it, a non-empty directory is refused: merging would leave stale
   * files of another model next to the new one's.
   * @default false
   */
  overwrite?: boolean;
  signal?: AbortSignal;
  /**
   * Glob patterns of the files to download (all when omitted): `*` within a
   * path segment, `**` across segments, `?` one character; a pattern without `/`
   * matches a file's name in any folder (`*.json`). With an indexed archive only
   * the matching files' gzip members are fetched, one ranged read per file, each
   * verified against its sha256; archives without an index are read whole and
   * only the matching files extracted.
   */
  include?: string[];
  /** Glob patterns of files to leave out, applied after `include`. */
  exclude?: string[];
  /**
   * Whole downloads of an indexed archive: 16 MiB groups of gzip members
   * fetched this many at once, on as many connections, their members inflated
   * in order as they arrive, three at a time (the runtime's zlib inflates on
   * its thread pool, so they use every core); the archive's size and sha256
   * are still verified, in order. 1 reads the archive as one stream, as for
   * archives without an index. Measured on 2 cores (README, "Seekable
   * archives"): 3 at once downloads a 1 GiB model 1.3–1.4× faster than one stream.
   * @default 3
   */
  concurrency?: number;
  /**
   * Called with archive bytes read so far and their total: compressed bytes against the archive's size
   * (unknown for models the Python library uploaded); with `concurrency`, inflated tar bytes against the
   * tar's size; with `include`/`exclude` on an indexed archive, the chosen files' bytes against their sum.
   */
  onProgress?: (progress: { bytes: number; total: number | undefined }) => void;
}

/** Member groups fetched and inflated at once by a whole download of an indexed archive. */
const DEFAULT_CONCURRENCY = 3;

/** What {@link downloadModel} did. */
export interface DownloadResult {
  metadata: ModelMetadata;
  /** Absolute path of the directory the model was extracted into. */
  dir: string;
  files: number;
  bytes: number;
}

/** Whether `path` is a directory holding something; false when it does not exist or is empty. */
async function holdsFiles(path: string): Promise<boolean> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw error;
  });
  if (!info) return false;
  if (!info.isDirectory()) {
    throw new InvalidArgumentError(`Cannot download into ${JSON.stringify(path)}: it is a file, not a directory. Choose a directory.`);
  }
  return (await readdir(path)).length > 0;
}

function notEmpty(path: string): AlreadyExistsError {
  return new AlreadyExistsError(
    `Cannot download into ${JSON.stringify(path)}: the directory is not empty, and the model's files would be mixed with what it holds. ` +
      "Choose an empty or new directory, or pass `overwrite: true` to replace its contents.",
  );
}

/**
 * Downloads a model (the latest when `modelId` is undefined) and extracts its
 * files into `dir`, verifying the archive as it streams. `dir` must be new or
 * empty, unless `overwrite` is set: then its contents are replaced as a whole,
 * by renaming the verified download into its place.
 * @throws AlreadyExistsError when `dir` is not empty and `overwrite` is not set
 */
export async function downloadModel(store: ModelStore, domain: string, modelId: string | undefined, dir: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const target = resolve(dir);
  // Refused before anything is read; checked again at the swap, in case files arrived meanwhile.
  if ((await holdsFiles(target)) && !options.overwrite) throw notEmpty(target);
  const metadata = modelId === undefined ? await store.getLatest(domain, options) : await store.getModelInfo(domain, modelId, options);
  await mkdir(dirname(target), { recursive: true });
  const sibling = (role: string) => join(dirname(target), `.${basename(target)}.modelstore-${crypto.randomUUID()}.${role}`);
  const staging = sibling("partial");
  try {
    const filter = options.include || options.exclude ? pathMatcher(options.include, options.exclude) : undefined;
    if (filter && metadata.archive?.index) {
      const files = (await store.listFilesOf(metadata, options)).filter((file) => filter(file.path));
      const result = await extractArchive(createTarStream(selectedFiles(store, metadata, files, options), { signal: options.signal }), staging, { signal: options.signal });
      await moveIntoPlace(staging, target, options.overwrite ? sibling("old") : undefined);
      return { metadata, dir: target, files: result.files, bytes: result.bytes };
    }
    let bytes = 0;
    const parallel = filter === undefined && (options.concurrency ?? DEFAULT_CONCURRENCY) > 1 && metadata.archive?.index ? await parallelSource(store, metadata, options) : undefined;
    // In parallel, what flows is the inflated tar, so progress is counted against its size.
    const total = parallel ? parallel.tarBytes : metadata.archive?.size;
    const counted = (parallel?.stream ?? (await store.openArchive(metadata, options))).pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          bytes += chunk.byteLength;
          options.onProgress?.({ bytes, total });
          controller.enqueue(chunk);
        },
      }),
    );
    const result = await extractArchive(counted, staging, { signal: options.signal, filter });
    await moveIntoPlace(staging, target, options.overwrite ? sibling("old") : undefined);
    return { metadata, dir: target, files: result.files, bytes: result.bytes };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** The archive's tar bytes read in parallel through its index (see parallel-archive.ts). */
async function parallelSource(store: ModelStore, metadata: ModelMetadata, options: DownloadOptions): Promise<{ stream: ReadableStream<Uint8Array>; tarBytes: number } | undefined> {
  const key = store.backend.keyOf?.(metadata.storage) ?? metadata.storage.prefix;
  if (!key) return undefined;
  const what = `The archive of model "${metadata.model.model_id}" in domain "${metadata.model.domain}"`;
  const index = await new ArchiveIndexCache(store.backend, zlibEngine).indexOf(metadata, key, what, options.signal);
  if (!index) return undefined;
  const tarBytes = index.members.reduce((sum, member) => sum + member.usize, 0);
  return { stream: parallelTarStream(store.backend, key, metadata, index, what, { concurrency: options.concurrency ?? DEFAULT_CONCURRENCY, signal: options.signal }), tarBytes };
}

/**
 * The chosen files as tar entries whose bodies are opened one at a time, as the
 * tar writer reaches them: each is one ranged read through the archive's index.
 * `onProgress` counts the files' bytes, against their total.
 */
async function* selectedFiles(store: ModelStore, metadata: ModelMetadata, files: ModelFile[], options: DownloadOptions): AsyncGenerator<TarEntry> {
  const mtime = new Date(createdInstant(metadata) || 0);
  const total = files.reduce((sum, file) => sum + file.size, 0);
  let bytes = 0;
  for (const file of files) {
    const body = await store.openFile(metadata, file.path, options);
    if (!body) throw new IntegrityError(`The index of model "${metadata.model.model_id}" lists "${file.path}" but cannot open it. Download the model whole.`);
    const counted = body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          bytes += chunk.byteLength;
          options.onProgress?.({ bytes, total });
          controller.enqueue(chunk);
        },
      }),
    );
    yield { path: file.path, size: file.size, mode: file.mode, mtime, body: counted };
  }
}

/**
 * Renames `staging` to `target`. An empty `target` is removed first (rmdir
 * fails if anything arrived in it). A non-empty one is refused, or with
 * `old` renamed aside, replaced, then deleted; if the second rename fails the
 * old contents are put back.
 */
async function moveIntoPlace(staging: string, target: string, old: string | undefined): Promise<void> {
  try {
    await rmdir(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOTEMPTY" || code === "EEXIST") {
      if (!old) throw notEmpty(target);
      await rename(target, old);
      try {
        await rename(staging, target);
      } catch (cause) {
        await rename(old, target);
        throw cause;
      }
      // The new model is in place: a leftover of the old one must not fail the download.
      await rm(old, { recursive: true, force: true }).catch(() => undefined);
      return;
    }
    if (code !== "ENOENT") throw error;
  }
  await rename(staging, target);
}

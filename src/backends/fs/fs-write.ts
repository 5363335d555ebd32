/**
 * The first half of every file-system put: the body is streamed into a
 * hidden temp file beside its final path, so committing it is one rename (or
 * link) and readers never see half an object. On any failure the temp file is
 * removed. With `sync`, the file's bytes reach the disk before it is published
 * ({@link syncDirectories} then makes the new name durable).
 */
import { mkdir, open, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { IntegrityError, throwIfAborted } from "../../util/errors.ts";
import { bufferBack, byobReaderOf } from "../../util/byob.ts";
import { forEachChunk, untilAborted } from "../../util/streams.ts";
import { isErrno } from "./fs-errors.ts";
import { tempName } from "./fs-keys.ts";

/** Options for {@link writeTempFile}. */
export interface WriteTempOptions {
  /** Checked between chunks; an abort removes the temp file. */
  signal?: AbortSignal;
  /** The declared body size; a body of another length fails with `IntegrityError`. */
  size?: number;
  /** The key, for messages. */
  key: string;
  /**
   * fsync the file before it is returned, so that a rename or link that a power loss
   * keeps never points at an empty or partial file (ext4, XFS and btrfs may commit the
   * rename before the data: rename does not order them).
   */
  sync?: boolean;
  /** `dir` is known to exist: the temp file is created without making it first (one call less per file). */
  folderExists?: boolean;
}

/** A fully written temp file, and the first folder its write had to create (to make durable after the commit). */
export interface TempFile {
  path: string;
  /** The outermost folder `mkdir` created for it, if any: its parent's entry for it is new too. */
  createdDir?: string;
}

/**
 * Writes `body` to a new temp file in `dir` (created if missing) and returns its path.
 * The body's own errors and `AbortedError` are rethrown unchanged, errno failures raw:
 * the caller maps them.
 */
export async function writeTempFile(dir: string, base: string, body: Uint8Array | ReadableStream<Uint8Array>, options: WriteTempOptions): Promise<TempFile> {
  throwIfAborted(options.signal);
  const { path, handle, createdDir } = options.folderExists ? await openTemp(dir, base) : await createTemp(dir, base);
  try {
    try {
      const written = body instanceof Uint8Array ? await writeAll(handle, body) : await pump(handle, body, options.signal);
      if (options.size !== undefined && options.size !== written) {
        throw new IntegrityError(
          `Cannot put "${options.key}": the body has ${written} bytes but size says ${options.size}. Pass the body's real size or omit size.`,
        );
      }
      throwIfAborted(options.signal);
      if (options.sync) await handle.sync();
    } finally {
      await handle.close();
    }
    throwIfAborted(options.signal);
    return { path, createdDir };
  } catch (error) {
    await unlink(path).catch(() => {});
    throw error;
  }
}

async function openTemp(dir: string, base: string): Promise<{ path: string; handle: FileHandle; createdDir?: string }> {
  const path = join(dir, tempName(base));
  return { path, handle: await open(path, "wx", 0o644) };
}

async function createTemp(dir: string, base: string): Promise<{ path: string; handle: FileHandle; createdDir?: string }> {
  // A concurrent delete() prunes empty directories, and may remove `dir`
  // between our mkdir and open; a few retries close that window.
  let createdDir: string | undefined;
  for (let attempt = 0; ; attempt++) {
    // mkdir resolves the first folder it created: after a retry, the outermost of all attempts.
    const created = await mkdir(dir, { recursive: true });
    if (created !== undefined && (createdDir === undefined || created.length < createdDir.length)) createdDir = created;
    try {
      return { ...(await openTemp(dir, base)), createdDir };
    } catch (error) {
      if (!isErrno(error, "ENOENT") || attempt >= 5) throw error;
    }
  }
}

/**
 * fsyncs `dir`, then each parent up to and including the parent of `createdDir`:
 * a new name is durable only once the folder holding it is synced, and a new
 * folder only once its parent is. Platforms that cannot open or sync a folder
 * (Windows, some network file systems) are let pass: there the rename is all there is.
 * @see https://man7.org/linux/man-pages/man2/fsync.2.html (fsync of the file "does not necessarily ensure that the entry in the directory containing the file has also reached disk")
 */
export async function syncDirectories(dir: string, createdDir?: string): Promise<void> {
  const last = createdDir === undefined ? dir : dirname(createdDir);
  for (let current = dir; ; current = dirname(current)) {
    await syncDirectory(current);
    if (current === last || dirname(current) === current) return;
  }
}

async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(dir, "r");
  } catch (error) {
    // ENOENT: a delete() of the key (and then of its emptied folder) came first; nothing is left to keep.
    if (isErrno(error, "ENOENT", "EISDIR", "EPERM", "EACCES")) return;
    throw error;
  }
  try {
    await handle.sync();
  } catch (error) {
    if (!isErrno(error, "EINVAL", "ENOTSUP", "EOPNOTSUPP", "EPERM", "EBADF")) throw error;
  } finally {
    await handle.close();
  }
}

const WRITE_BATCH_BYTES = 1 << 20;

/** Writes `pieces` in order with one writev, finishing any short write piece by piece. */
async function writeBatch(handle: FileHandle, pieces: Uint8Array[]): Promise<void> {
  const { bytesWritten } = await handle.writev(pieces);
  let skip = bytesWritten;
  for (const piece of pieces) {
    if (skip >= piece.byteLength) {
      skip -= piece.byteLength;
      continue;
    }
    await writeAll(handle, piece.subarray(skip));
    skip = 0;
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<number> {
  let offset = 0;
  // FileHandle.write may write less than asked; loop until the chunk is out.
  while (offset < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset);
    offset += bytesWritten;
  }
  return bytes.byteLength;
}

/**
 * Streams a byte stream into the file through two reused buffers: one fills
 * (the body is read straight into it) while the other is written. Nothing is
 * allocated per chunk. Resolves `undefined` if `body` is not a byte stream.
 */
async function pumpReusing(handle: FileHandle, body: ReadableStream<Uint8Array>, signal: AbortSignal | undefined): Promise<number | undefined> {
  const reader = byobReaderOf(body);
  if (!reader) return undefined;
  const buffers = [new ArrayBuffer(WRITE_BATCH_BYTES), new ArrayBuffer(WRITE_BATCH_BYTES)];
  let writing: Promise<unknown> | undefined;
  let total = 0;
  let completed = false;
  try {
    for (let slot = 0; ; slot ^= 1) {
      let buffer = buffers[slot];
      let filled = 0;
      let done = false;
      while (filled < WRITE_BATCH_BYTES && !done) {
        const result = await untilAborted(() => reader.read(new Uint8Array(buffer, filled, WRITE_BATCH_BYTES - filled)), signal);
        // A read moves the buffer: keep the one it came back in.
        buffer = bufferBack(result.value, WRITE_BATCH_BYTES);
        done = result.done;
        if (!done) filled += result.value!.byteLength;
      }
      buffers[slot] = buffer;
      // The other buffer's write must finish before it is filled again.
      if (writing) await writing;
      writing = filled > 0 ? writeAll(handle, new Uint8Array(buffer, 0, filled)) : undefined;
      writing?.catch(() => {}); // observed when awaited; this only avoids an unhandled rejection meanwhile
      total += filled;
      if (done) break;
    }
    if (writing) await writing;
    throwIfAborted(signal);
    completed = true;
    return total;
  } finally {
    if (!completed) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

async function pump(handle: FileHandle, body: ReadableStream<Uint8Array>, signal: AbortSignal | undefined): Promise<number> {
  const reused = await pumpReusing(handle, body, signal);
  if (reused !== undefined) return reused;
  // Chunks are gathered into batches of about WRITE_BATCH_BYTES and written with one
  // writev each, while the next batch is read: archives arrive as many small pieces
  // (512-byte tar headers, 5-byte stored-block headers), and one awaited write per
  // piece left the pipeline waiting on the thread pool.
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  let writing: Promise<void> | undefined;
  const startBatch = async () => {
    if (writing) await writing;
    const pieces = batch;
    batch = [];
    batchBytes = 0;
    writing = pieces.length > 0 ? writeBatch(handle, pieces) : undefined;
    writing?.catch(() => {}); // observed when awaited; this only avoids an unhandled rejection meanwhile
  };
  const total = await forEachChunk(
    body,
    async (chunk) => {
      batch.push(chunk);
      batchBytes += chunk.byteLength;
      if (batchBytes >= WRITE_BATCH_BYTES) await startBatch();
    },
    signal,
  );
  await startBatch();
  if (writing) await writing;
  throwIfAborted(signal);
  return total;
}

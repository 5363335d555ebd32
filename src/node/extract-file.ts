/**
 * Writing one extracted file: into a temp file beside its final path, with
 * its mode and mtime set, then renamed into place (links too are made under a
 * temp name and renamed). The rename replaces a symlink of that name instead
 * of writing through it, and fails where a folder of that name is in the way,
 * which is then refused.
 */
import { chmod, close, fchmod, futimes, lstat, open, rename, unlink, utimes, write } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { ArchiveEntry } from "../archive/types.ts";
import { tempName } from "../backends/fs/fs-keys.ts";
import { writeTempFile } from "../backends/fs/fs-write.ts";
import { InvalidArchiveError } from "../util/errors.ts";

// Node's callback API, not FileHandle: for hundreds of small files, FileHandle's
// per-call costs on the main thread were most of the time (200 files of 10 KB,
// 8 at once: 47-52 ms with callbacks, 76-78 ms with fs/promises).
const openFile = promisify(open);
const setMode = promisify(fchmod);
const setTimes = promisify(futimes);
const closeFile = promisify(close);
const renameFile = promisify(rename);
const unlinkFile = promisify(unlink);
const lstatPath = promisify(lstat);
const setPathMode = promisify(chmod);
const setPathTimes = promisify(utimes);

/** Writes from `offset` to the end of `body`, resolving the bytes written (which may be fewer). */
function writeBytes(fd: number, body: Uint8Array, offset: number): Promise<number> {
  // Not promisify(write): its result's shape (a number, or { bytesWritten, buffer }) differs between runtimes.
  return new Promise((resolve, reject) => write(fd, body, offset, body.byteLength - offset, null, (error, written) => (error ? reject(error) : resolve(written))));
}

/**
 * Temp files are named after this, not after their entry: an entry name of up to
 * 255 bytes (a full path segment) leaves no room for a temp suffix.
 */
export const TEMP_BASE = "extract";

/** File permissions without group/other write or set-id bits, and always readable by the owner. */
export function fileMode(mode: number): number {
  return (mode & 0o755) | 0o400;
}

/** The error for a file or link whose name is taken by a folder. */
function folderInTheWay(entry: ArchiveEntry): InvalidArchiveError {
  return new InvalidArchiveError(
    `Cannot extract ${JSON.stringify(entry.path)}: a folder of that name already exists in the target. Extract into an empty directory.`,
  );
}

/**
 * Writes a file entry's body (whole, or streamed) to `path` in `parent`, which exists.
 * Throws `folderInTheWay` when `path` is a folder; errno failures raw.
 */
export async function writeExtractedFile(
  parent: string,
  path: string,
  entry: ArchiveEntry,
  body: Uint8Array | ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined,
): Promise<void> {
  const temp = body instanceof Uint8Array ? await writeWhole(parent, entry, body) : await writeStreamed(parent, entry, body, signal);
  await renameIntoPlace(temp, path, entry);
}

/**
 * Renames a finished temp file or link to `path`, replacing a file or link of
 * that name (never writing through a symlink), and removes the temp on failure.
 * A folder of that name is refused with `folderInTheWay`: a file or link never
 * replaces a folder (that would need deleting a tree).
 */
export async function renameIntoPlace(temp: string, path: string, entry: ArchiveEntry): Promise<void> {
  try {
    await renameFile(temp, path);
  } catch (error) {
    await unlinkFile(temp).catch(() => {});
    // Where a folder has the name: EISDIR on Linux and macOS, EPERM on Windows.
    if ((await lstatPath(path).catch(() => undefined))?.isDirectory()) throw folderInTheWay(entry);
    throw error;
  }
}

/** A whole body into a new temp file, mode and mtime set: the temp file's path. */
async function writeWhole(parent: string, entry: ArchiveEntry, body: Uint8Array): Promise<string> {
  const temp = join(parent, tempName(TEMP_BASE));
  const fd = await openFile(temp, "wx", 0o600);
  try {
    try {
      for (let offset = 0; offset < body.byteLength; ) offset += await writeBytes(fd, body, offset);
      await setMode(fd, fileMode(entry.mode));
      await setTimes(fd, entry.mtime, entry.mtime);
    } finally {
      await closeFile(fd);
    }
  } catch (error) {
    await unlinkFile(temp).catch(() => {});
    throw error;
  }
  return temp;
}

/** A streamed body into a new temp file, mode and mtime set: the temp file's path. */
async function writeStreamed(parent: string, entry: ArchiveEntry, body: ReadableStream<Uint8Array>, signal: AbortSignal | undefined): Promise<string> {
  const { path: temp } = await writeTempFile(parent, TEMP_BASE, body, { signal, key: entry.path, folderExists: true });
  try {
    await setPathMode(temp, fileMode(entry.mode));
    await setPathTimes(temp, entry.mtime, entry.mtime);
  } catch (error) {
    await unlinkFile(temp).catch(() => {});
    throw error;
  }
  return temp;
}

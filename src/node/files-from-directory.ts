/**
 * Archive entries from a directory on disk: what `createArchive` needs to
 * pack a model folder, streamed file by file.
 */
import type { Dirent } from "node:fs";
import { open, readdir, realpath, stat } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import type { ArchiveInputEntry } from "../archive/types.js";
import { fsCall, toBackendError } from "../backends/fs-errors.js";
import { fileStream } from "../backends/fs-read-stream.js";
import { compareKeys } from "../backends/key-order.js";
import { InvalidArgumentError, throwIfAborted } from "../errors.js";

/** Options for {@link filesFromDirectory}. */
export interface FilesFromDirectoryOptions {
  /** Stops the walk (and reads of bodies not yet finished) with `AbortedError`. */
  signal?: AbortSignal;
}

interface Found {
  name: string;
  /** The path to read: the entry itself, or a symlink's resolved target. */
  real: string;
  directory: boolean;
}

/**
 * Yields one archive entry per file below `dir`, recursively, with relative
 * `/`-separated paths in code-point order, so the same folder always packs the
 * same way. Size, mode (`& 0o777`) and mtime come from `stat`.
 *
 * Bodies are opened only when read, so a folder of thousands of files never
 * holds more than the file being packed open.
 *
 * Symlinks: one to a file inside `dir` is packed as a regular file under the
 * link's name; one to a folder inside `dir` is skipped (its files are packed
 * under their real path, and skipping avoids cycles); one that points outside
 * `dir` or nowhere throws `InvalidArgumentError`, rather than silently packing
 * an incomplete model. Sockets, FIFOs and devices are skipped. Empty folders
 * produce no entry.
 */
export async function* filesFromDirectory(dir: string, options: FilesFromDirectoryOptions = {}): AsyncGenerator<ArchiveInputEntry> {
  const { signal } = options;
  throwIfAborted(signal);
  const top = resolve(dir);
  const context = (operation: string, key?: string) => ({ operation, key, root: top });
  const info = await stat(top).catch((cause) => {
    throw new InvalidArgumentError(`Cannot read the directory ${JSON.stringify(dir)}: ${cause.code ?? cause.message}. Check the path.`, { cause });
  });
  if (!info.isDirectory()) {
    throw new InvalidArgumentError(`${JSON.stringify(dir)} is not a directory; pass the folder holding the model files.`);
  }
  const rootReal = await fsCall(context("resolve"), () => realpath(top));

  async function* walk(path: string, relative: string): AsyncGenerator<ArchiveInputEntry> {
    const found = await fsCall(context("read directory", relative || "."), () => children(path, relative, rootReal));
    for (const child of found) {
      throwIfAborted(signal);
      const entryPath = relative + child.name;
      if (child.directory) {
        yield* walk(join(path, child.name), `${entryPath}/`);
        continue;
      }
      const stats = await fsCall(context("stat", entryPath), () => stat(child.real));
      const real = child.real;
      yield {
        path: entryPath,
        size: stats.size,
        mode: stats.mode & 0o777,
        mtime: stats.mtime,
        body: fileStream(() => fsCall(context("read", entryPath), () => open(real, "r")), {
          // Read to the end of the file, not to the size from stat: the archive's
          // size check then catches a file that grew since, as well as one that shrank.
          signal,
          readAhead: false,
          mapError: (error) => toBackendError(error, context("read", entryPath)),
        }),
      };
    }
  }

  yield* walk(top, "");
}

/** The files and folders of `path` to pack, symlinks resolved, sorted so the depth-first walk is in path order. */
async function children(path: string, relative: string, rootReal: string): Promise<Found[]> {
  const entries: Dirent[] = await readdir(path, { withFileTypes: true });
  const found: Found[] = [];
  for (const entry of entries) {
    const own = join(path, entry.name);
    if (entry.isDirectory()) found.push({ name: entry.name, real: own, directory: true });
    else if (entry.isFile()) found.push({ name: entry.name, real: own, directory: false });
    else if (entry.isSymbolicLink()) {
      const target = await resolveLink(own, relative + entry.name, rootReal);
      if (target) found.push({ name: entry.name, real: target, directory: false });
    }
  }
  const order = (f: Found) => (f.directory ? `${f.name}/` : f.name);
  return found.sort((a, b) => compareKeys(order(a), order(b)));
}

/** A symlink's target when it is a file inside the root; undefined for a folder inside; throws otherwise. */
async function resolveLink(path: string, entryPath: string, rootReal: string): Promise<string | undefined> {
  let target: string;
  try {
    target = await realpath(path);
  } catch (cause) {
    throw new InvalidArgumentError(
      `Cannot pack ${JSON.stringify(entryPath)}: it is a symlink to a missing file. Remove the link or restore its target.`,
      { cause },
    );
  }
  if (target !== rootReal && !target.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep)) {
    throw new InvalidArgumentError(
      `Cannot pack ${JSON.stringify(entryPath)}: it is a symlink to ${target}, outside the directory being packed. Copy the file in (e.g. cp -L) or pack the directory it lives in.`,
    );
  }
  const stats = await stat(target);
  return stats.isFile() ? target : undefined;
}

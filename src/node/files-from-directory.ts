/**
 * Archive entries from a directory on disk: what `createArchive` needs to
 * pack a model folder, streamed file by file.
 */
import type { Dirent } from "node:fs";
import { open, readdir, realpath, stat } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import type { ArchiveInputEntry } from "../archive/types.ts";
import { fsCall, toBackendError } from "../backends/fs/fs-errors.ts";
import { fileStream } from "../backends/fs/fs-read-stream.ts";
import { compareKeys } from "../backends/key-order.ts";
import { InvalidArgumentError, throwIfAborted } from "../util/errors.ts";

/** Options for {@link filesFromDirectory}. */
export interface FilesFromDirectoryOptions {
  /** Stops the walk (and reads of bodies not yet finished) with `AbortedError`. */
  signal?: AbortSignal;
  /**
   * Store what symlinks point to, wherever it is, as `cp -L` and `tar -h` do:
   * a link to a file is packed as a regular file with the target's contents,
   * a link to a folder as that folder's files under the link's path. For
   * folders whose files link elsewhere, such as a Hugging Face cache snapshot
   * (`snapshots/<rev>/config.json -> ../../blobs/<sha>`). A link back into a
   * folder being walked (a cycle) is refused.
   * @default false: a link that points outside the directory is refused
   */
  dereference?: boolean;
}

interface Found {
  name: string;
  /** The path to read: the entry itself, or a symlink's resolved target. */
  real: string;
  directory: boolean;
}

/** What the walk needs to know about symlinks. */
interface LinkRules {
  rootReal: string;
  dereference: boolean;
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
 * an incomplete model. With `dereference`, every link is followed instead (see
 * {@link FilesFromDirectoryOptions.dereference}). Sockets, FIFOs and devices
 * are skipped. Empty folders produce no entry.
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
  const rules: LinkRules = { rootReal, dereference: options.dereference ?? false };

  // `ancestors`: the real paths of the folders being walked, to catch a followed link that leads back up.
  async function* walk(path: string, relative: string, ancestors: string[]): AsyncGenerator<ArchiveInputEntry> {
    const found = await fsCall(context("read directory", relative || "."), () => children(path, relative, rules));
    for (const child of found) {
      throwIfAborted(signal);
      const entryPath = relative + child.name;
      if (child.directory) {
        const real = rules.dereference ? await fsCall(context("resolve", entryPath), () => realpath(child.real)) : child.real;
        if (rules.dereference && ancestors.includes(real)) {
          throw new InvalidArgumentError(
            `Cannot pack ${JSON.stringify(entryPath)}: it is a symlink to ${real}, a folder that contains it, so following it would never end. Remove the link, or pack without dereference.`,
          );
        }
        yield* walk(child.real, `${entryPath}/`, [...ancestors, real]);
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

  yield* walk(top, "", [rootReal]);
}

/** The files and folders of `path` to pack, symlinks resolved, sorted so the depth-first walk is in path order. */
async function children(path: string, relative: string, rules: LinkRules): Promise<Found[]> {
  const entries: Dirent[] = await readdir(path, { withFileTypes: true });
  const found: Found[] = [];
  for (const entry of entries) {
    const own = join(path, entry.name);
    if (entry.isDirectory()) found.push({ name: entry.name, real: own, directory: true });
    else if (entry.isFile()) found.push({ name: entry.name, real: own, directory: false });
    else if (entry.isSymbolicLink()) {
      const target = await resolveLink(own, relative + entry.name, rules);
      if (target) found.push({ name: entry.name, ...target });
    }
  }
  const order = (f: Found) => (f.directory ? `${f.name}/` : f.name);
  return found.sort((a, b) => compareKeys(order(a), order(b)));
}

/**
 * A symlink's target to pack: a file inside the root (or anywhere, with
 * `dereference`), or with `dereference` a folder; undefined for what is
 * skipped (a folder inside the root, without `dereference`); throws otherwise.
 */
async function resolveLink(path: string, entryPath: string, rules: LinkRules): Promise<{ real: string; directory: boolean } | undefined> {
  const { rootReal, dereference } = rules;
  let target: string;
  try {
    target = await realpath(path);
  } catch (cause) {
    throw new InvalidArgumentError(
      `Cannot pack ${JSON.stringify(entryPath)}: it is a symlink to a missing file. Remove the link or restore its target.`,
      { cause },
    );
  }
  const inside = target === rootReal || target.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep);
  if (!inside && !dereference) {
    throw new InvalidArgumentError(
      `Cannot pack ${JSON.stringify(entryPath)}: it is a symlink to ${target}, outside the directory being packed. ` +
        "Pass `dereference: true` to store the contents it points to, copy the file in (e.g. cp -L), or pack the directory it lives in.",
    );
  }
  const stats = await stat(target);
  if (stats.isFile()) return { real: target, directory: false };
  return dereference && stats.isDirectory() ? { real: target, directory: true } : undefined;
}

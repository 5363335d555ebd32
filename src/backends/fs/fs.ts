/**
 * The local file-system backend: each key is a file under a root directory
 * (`a/b/c.json` is `<root>/a/b/c.json`). Writes go to a hidden temp file and
 * are renamed into place, so readers see the old object or the whole new one;
 * create-only writes use `link()`, and compare-and-swap writes a lock file, so
 * both hold across processes sharing the directory. The file is fsynced before
 * it is published and its folder after, so a put that returned survives a power loss.
 */
import { link, open, rename, rmdir, stat, unlink, utimes } from "node:fs/promises";
import type { BigIntStats } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { AlreadyExistsError, ConflictError, InvalidArgumentError, throwIfAborted } from "../../util/errors.ts";
import type { Backend, BaseOptions, CollectGarbageOptions, GetOptions, Leftover, ListOptions, ObjectInfo, PutOptions, StorageLocation } from "../backend.ts";
import { collectFileGarbage } from "./fs-gc.ts";
import { fsCall, isErrno, toBackendError } from "./fs-errors.ts";
import { keyPath, lockName, prefixPath } from "./fs-keys.ts";
import { withFileLock } from "./fs-lock.ts";
import type { FileLockOptions } from "./fs-lock.ts";
import { fileStream } from "./fs-read-stream.ts";
import { walkFiles, walkPrefixes } from "./fs-walk.ts";
import { syncDirectories, writeTempFile } from "./fs-write.ts";

/** Options for {@link fileSystemBackend}. */
export interface FileSystemBackendOptions {
  /** The directory holding the objects; created on the first put. Relative paths resolve against the working directory. */
  root: string;
  /**
   * A compare-and-swap lock file older than this is taken to belong to a crashed process and is broken.
   * @default 30_000
   */
  staleLockMs?: number;
  /**
   * fsync each object before it is renamed or linked into place, and its folder after,
   * so that a put that returned survives a power loss whole (without it, ext4 and XFS can
   * keep the new name and lose the bytes: an empty document). Costs a disk flush or two per
   * put (see the README's benchmark); turn off only for stores that may be lost, such as
   * test scratch directories.
   * @default true
   */
  fsync?: boolean;
}

/**
 * Creates a {@link Backend} (name `"fs"`) that stores objects as files under `root`,
 * with atomic conditional writes.
 *
 * Why: a local store for development, CI and single machines, and the
 * reference for the contract on a real file system. Keys may contain any
 * character but `\` and NUL; `.`/`..`/empty segments are refused so no key
 * reaches outside `root`. One key cannot also be a prefix of another
 * (`a/b` and `a/b/c`): a path cannot be a file and a folder at once.
 *
 * Model metadata records archives as `{ type: "file_system", root, path }`, the
 * Python modelstore's shape (it reads `path`).
 *
 * Etags come from inode, size and nanosecond mtime; a put nudges the new file's
 * mtime past the old one's, so the etag changes on every put even within one
 * clock tick.
 */
export function fileSystemBackend(options: FileSystemBackendOptions): Backend {
  if (typeof options?.root !== "string" || options.root === "") {
    throw new InvalidArgumentError('fileSystemBackend() needs a root directory: fileSystemBackend({ root: "./models" }).');
  }
  const root = resolve(options.root);
  const fsync = options.fsync ?? true;
  const context = (operation: string, key?: string) => ({ operation, key, root });
  /** keyOf's answers, by location (see KEYS_REMEMBERED). */
  const keysOf = new Map<string, string>();

  return {
    name: "fs",
    capabilities: { conditionalWrites: true },

    async get(key: string, getOptions: GetOptions = {}): Promise<ReadableStream<Uint8Array> | null> {
      const { path } = keyPath(root, key);
      const { offset, length } = checkRange(getOptions.range);
      throwIfAborted(getOptions.signal);
      return fsCall(context("get", key), async () => {
        let handle;
        try {
          handle = await open(path, "r");
        } catch (error) {
          if (isErrno(error, "ENOENT", "ENOTDIR", "EISDIR")) return null;
          throw error;
        }
        try {
          // Linux opens directories for reading; a directory is a prefix, not an object.
          if (!(await handle.stat()).isFile()) {
            await handle.close();
            return null;
          }
        } catch (error) {
          await handle.close().catch(() => {});
          throw error;
        }
        // The stream reads the inode opened here: a concurrent put renames a new
        // file into place and this reader keeps the old one, whole.
        const opened = handle;
        return fileStream(() => Promise.resolve(opened), {
          offset,
          length,
          signal: getOptions.signal,
          mapError: (error) => toBackendError(error, context("get", key)),
        });
      });
    },

    async put(key: string, body: Uint8Array | ReadableStream<Uint8Array>, putOptions: PutOptions = {}): Promise<ObjectInfo> {
      const { path, dir, base } = keyPath(root, key);
      if (putOptions.ifNoneMatch !== undefined && putOptions.ifMatch !== undefined) {
        throw new InvalidArgumentError("Pass either ifNoneMatch or ifMatch to put(), not both: a write cannot be create-only and compare-and-swap at once.");
      }
      if (putOptions.ifNoneMatch !== undefined && putOptions.ifNoneMatch !== "*") {
        throw new InvalidArgumentError(`ifNoneMatch accepts only "*" (create-only), not ${JSON.stringify(putOptions.ifNoneMatch)}.`);
      }
      let committed = false;
      try {
        const temp = await fsCall(context("put", key), () =>
          writeTempFile(dir, base, body, { signal: putOptions.signal, size: putOptions.size, key, sync: fsync }),
        );
        let info: ObjectInfo;
        try {
          const lock = { path: join(dir, lockName(base)), signal: putOptions.signal, staleMs: options.staleLockMs };
          info = await fsCall(context("put", key), () => commit(key, temp.path, path, putOptions, lock));
          committed = true;
        } finally {
          // After a rename this is already gone; after a failure it must go.
          await unlink(temp.path).catch(() => {});
        }
        // Outside the lock: the name is published; this makes it durable before put() returns.
        if (fsync) await fsCall(context("put", key), () => syncDirectories(dir, temp.createdDir));
        return info;
      } finally {
        // A failed first put into a new folder must not leave that folder behind as an empty prefix.
        if (!committed) await pruneEmptyDirs(dir, root).catch(() => {});
      }
    },

    async head(key: string, headOptions: BaseOptions = {}): Promise<ObjectInfo | null> {
      const { path } = keyPath(root, key);
      throwIfAborted(headOptions.signal);
      const stats = await fsCall(context("head", key), () => statOrNull(path));
      return stats ? toObjectInfo(key, stats) : null;
    },

    async delete(key: string, deleteOptions: BaseOptions = {}): Promise<void> {
      const { path, dir } = keyPath(root, key);
      throwIfAborted(deleteOptions.signal);
      await fsCall(context("delete", key), async () => {
        const stats = await statOrNull(path);
        if (!stats) return; // missing, or a folder: neither is an object
        try {
          await unlink(path);
        } catch (error) {
          if (!isErrno(error, "ENOENT")) throw error;
        }
        await pruneEmptyDirs(dir, root);
      });
    },

    async *list(prefix: string, listOptions: ListOptions = {}): AsyncIterable<ObjectInfo> {
      const { dir, dirKey, partial } = prefixPath(root, prefix);
      const limit = listOptions.limit ?? Number.POSITIVE_INFINITY;
      if (limit <= 0) return;
      let count = 0;
      const files = walkFiles(dir, dirKey, partial, listOptions.signal);
      // The next files' stats run ahead on the thread pool, in key order: one at a time, 10,000 files took ~0.7 s.
      const ahead: { key: string; stats: Promise<BigIntStats | null> }[] = [];
      let walked = false;
      for (;;) {
        while (!walked && ahead.length < STATS_AHEAD) {
          const next = await fsCall(context("list", prefix), () => files.next());
          if (next.done) walked = true;
          else {
            const stats = fsCall(context("list", next.value.key), () => statOrNull(next.value.path));
            stats.catch(() => undefined); // awaited below, or abandoned when the caller stops early
            ahead.push({ key: next.value.key, stats });
          }
        }
        const first = ahead.shift();
        if (!first) return;
        const stats = await first.stats;
        if (!stats) continue; // deleted while walking
        yield toObjectInfo(first.key, stats);
        if (++count >= limit) return;
      }
    },

    async *listPrefixes(prefix: string, listOptions: BaseOptions = {}): AsyncIterable<string> {
      const { dir, dirKey, partial } = prefixPath(root, prefix);
      const names = walkPrefixes(dir, partial, listOptions.signal);
      for (;;) {
        const next = await fsCall(context("listPrefixes", prefix), () => names.next());
        if (next.done) return;
        yield `${dirKey}${next.value}/`;
      }
    },

    collectGarbage(prefix: string, gcOptions: CollectGarbageOptions): AsyncIterable<Leftover> {
      const { dir, dirKey, partial } = prefixPath(root, prefix);
      if (partial !== "") throw new InvalidArgumentError(`collectGarbage() takes a folder prefix ending in "/", not ${JSON.stringify(prefix)}.`);
      return collectFileGarbage(dir, dirKey, { ...gcOptions, minLockAgeMs: options.staleLockMs ?? 30_000 });
    },

    locate(key: string): StorageLocation {
      return { type: STORAGE_TYPE, root, path: keyPath(root, key).path };
    },

    keyOf(location: StorageLocation): string {
      const memo = `${location.type}\0${location.root ?? ""}\0${location.path ?? ""}`;
      const known = keysOf.get(memo);
      if (known !== undefined) return known;
      // A store whose root moved still finds its archives: the path is read relative to the root it was written under.
      const key = location.type === STORAGE_TYPE ? (relativeKey(root, location.path) ?? relativeKey(location.root, location.path)) : undefined;
      if (key === undefined) {
        throw new InvalidArgumentError(
          `This model's archive is stored at ${JSON.stringify(location)}, not under the file-system store at ${root}. Open a store on that location to read it.`,
        );
      }
      keyPath(root, key);
      if (keysOf.size >= KEYS_REMEMBERED) keysOf.clear();
      keysOf.set(memo, key);
      return key;
    },
  };
}

/**
 * Locations whose keys a backend remembers: resolving two paths costs ~6 µs,
 * which was a tenth of what a small file read through a cached index adds to
 * the plain read of its bytes.
 */
const KEYS_REMEMBERED = 256;

/** The Python modelstore's name for local storage, recorded in model metadata. */
const STORAGE_TYPE = "file_system";
// Files whose stats a listing asks for ahead of the one it yields: enough to keep the thread pool busy.
const STATS_AHEAD = 64;

/** `path` as a `/`-separated key below `root`, or undefined when it is not below it. */
function relativeKey(root: string | undefined, path: string | undefined): string | undefined {
  if (!root || !path) return undefined;
  const rel = relative(resolve(root), resolve(path));
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) return undefined;
  return rel.split(sep).join("/");
}

/** Moves a fully written temp file into place, honouring the put's condition. */
async function commit(key: string, temp: string, path: string, options: PutOptions, lock: { path: string } & FileLockOptions): Promise<ObjectInfo> {
  throwIfAborted(options.signal);
  if (options.ifNoneMatch === "*") return createOnly(key, temp, path, lock);
  const expected = options.ifMatch;
  if (expected !== undefined) return withFileLock(lock.path, () => compareAndSwap(key, temp, path, expected), lock);
  return replace(key, temp, path, await statOrNull(path));
}

/** Create-only commit: `link()` fails with EEXIST if the key exists, atomically, even across processes. */
async function createOnly(key: string, temp: string, path: string, lock: { path: string } & FileLockOptions): Promise<ObjectInfo> {
  const stats = await stat(temp, { bigint: true });
  try {
    await link(temp, path);
  } catch (error) {
    // EEXIST from a folder of that name is a key/prefix clash, not an existing object: let it map to a BackendError.
    if (isErrno(error, "EEXIST") && (await statOrNull(path))) throw alreadyExists(key);
    // Some file systems (FAT, some network mounts) have no hard links: fall
    // back to check-then-rename under the same lock compare-and-swap uses.
    if (!isErrno(error, "EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS")) throw error;
    return withFileLock(lock.path, async () => {
      if (await statOrNull(path)) throw alreadyExists(key);
      await rename(temp, path);
      return toObjectInfo(key, stats);
    }, lock);
  }
  return toObjectInfo(key, stats);
}

function alreadyExists(key: string): AlreadyExistsError {
  return new AlreadyExistsError(`Cannot create "${key}": it already exists in the file-system store. Pick a new key or drop ifNoneMatch.`);
}

/** Compare-and-swap commit; the caller holds the key's lock, so nothing changes between compare and rename. */
async function compareAndSwap(key: string, temp: string, path: string, expected: string): Promise<ObjectInfo> {
  const current = await statOrNull(path);
  if (!current) {
    throw new ConflictError(`Cannot update "${key}": it no longer exists (expected etag ${expected}). Read it again and retry.`);
  }
  const etag = etagOf(current);
  if (etag !== expected) {
    throw new ConflictError(`Cannot update "${key}": it changed since etag ${expected} was read (now ${etag}). Read it again and retry.`);
  }
  return replace(key, temp, path, current);
}

/** Renames `temp` over `path`, first making sure its mtime (hence its etag) differs from what it replaces. */
async function replace(key: string, temp: string, path: string, previous: BigIntStats | null): Promise<ObjectInfo> {
  let stats = await stat(temp, { bigint: true });
  // File-system clocks tick coarsely and inode numbers get reused, so two quick
  // puts of the same size could otherwise share an etag.
  if (previous && stats.mtimeNs <= previous.mtimeNs) {
    // 1.5 ms later, so even after float rounding to seconds the new mtime is at
    // least one whole millisecond newer and lastModified moves forward too.
    const seconds = Number(previous.mtimeNs / 1_000_000n) / 1000 + 0.0015;
    await utimes(temp, stats.atime, seconds);
    stats = await stat(temp, { bigint: true });
  }
  await rename(temp, path);
  return toObjectInfo(key, stats);
}

/** Stats a key's file, or null when it is missing or is a folder. */
async function statOrNull(path: string): Promise<BigIntStats | null> {
  try {
    const stats = await stat(path, { bigint: true });
    return stats.isFile() ? stats : null;
  } catch (error) {
    if (isErrno(error, "ENOENT", "ENOTDIR")) return null;
    throw error;
  }
}

/**
 * Inode + size + nanosecond mtime: a rename brings a new inode, and {@link replace}
 * keeps mtimes increasing. Some runtimes report no inode on some platforms; then size and mtime carry it.
 */
function etagOf(stats: BigIntStats): string {
  const hex = (value: bigint | null | undefined) => (typeof value === "bigint" ? value.toString(16) : "0");
  return `"${hex(stats.ino)}-${hex(stats.size)}-${hex(stats.mtimeNs)}"`;
}

function toObjectInfo(key: string, stats: BigIntStats): ObjectInfo {
  return {
    key,
    size: Number(stats.size),
    etag: etagOf(stats),
    lastModified: new Date(Number(stats.mtimeMs)).toISOString(),
  };
}

/** Removes `dir` and its parents while they are empty, stopping at `root`, so emptied prefixes disappear from listings. */
async function pruneEmptyDirs(dir: string, root: string): Promise<void> {
  while (dir !== root && dir.startsWith(root)) {
    try {
      await rmdir(dir);
    } catch (error) {
      // Not empty (another key, or a put in flight), or already gone: stop here.
      if (isErrno(error, "ENOTEMPTY", "EEXIST", "ENOENT", "EBUSY")) return;
      throw error;
    }
    dir = dirname(dir);
  }
}

function checkRange(range: GetOptions["range"]): { offset?: number; length?: number } {
  if (!range) return {};
  const { offset, length } = range;
  if (!Number.isSafeInteger(offset) || offset < 0 || (length !== undefined && (!Number.isSafeInteger(length) || length < 0))) {
    throw new InvalidArgumentError(`Invalid range ${JSON.stringify(range)}: offset and length must be non-negative integers.`);
  }
  return { offset, length };
}

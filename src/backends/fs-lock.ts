/**
 * A cross-process lock file for compare-and-swap writes on the file system.
 * `open(path, "wx")` is an atomic create-if-absent on every POSIX file system,
 * so exactly one process holds the lock; a crashed holder's lock is broken
 * once it is older than `staleMs`.
 */
import { link, lstat, open, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { throwIfAborted } from "../errors.js";
import { isErrno } from "./fs-errors.js";
import { tempName } from "./fs-keys.js";

/** Options for {@link withFileLock}. */
export interface FileLockOptions {
  /** Stops waiting for the lock with `AbortedError`. */
  signal?: AbortSignal;
  /**
   * A lock older than this is taken to belong to a crashed process and is broken.
   * Holders keep the lock for milliseconds (compare, then rename), so this is generous.
   * @default 30_000
   */
  staleMs?: number;
}

/** Runs `action` while holding the lock file at `lockPath`, waiting with backoff while another process holds it. */
export async function withFileLock<T>(lockPath: string, action: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const ino = await acquire(lockPath, options);
  try {
    return await action();
  } finally {
    await release(lockPath, ino);
  }
}

// Inode numbers are compared as bigints: 64-bit inodes (btrfs, NFS) exceed 2^53.
async function acquire(lockPath: string, options: FileLockOptions): Promise<bigint> {
  const staleMs = options.staleMs ?? 30_000;
  let delay = 1;
  for (;;) {
    throwIfAborted(options.signal);
    try {
      const handle = await open(lockPath, "wx");
      try {
        return (await handle.stat({ bigint: true })).ino;
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (!isErrno(error, "EEXIST")) throw error;
    }
    const held = await stat(lockPath, { bigint: true }).catch((error) => {
      if (isErrno(error, "ENOENT")) return undefined; // released meanwhile: try again at once
      throw error;
    });
    if (!held) continue;
    if (Date.now() - Number(held.mtimeMs) > staleMs) {
      await breakStale(lockPath, held.ino);
      continue;
    }
    // Jittered exponential backoff, capped low: holders keep the lock for milliseconds.
    await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random())));
    delay = Math.min(delay * 2, 50);
  }
}

/**
 * Removes a stale lock. Renaming first makes the removal atomic: of several
 * processes breaking the same lock, one wins the rename. If what it renamed is
 * not the stale lock it looked at (a fresh lock replaced it meanwhile), it puts
 * that lock back.
 */
async function breakStale(lockPath: string, staleIno: bigint): Promise<void> {
  const aside = join(dirname(lockPath), tempName(basename(lockPath)));
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if (isErrno(error, "ENOENT")) return; // someone else broke or released it
    throw error;
  }
  try {
    if ((await lstat(aside, { bigint: true })).ino !== staleIno) {
      await link(aside, lockPath).catch((error) => {
        if (!isErrno(error, "EEXIST")) throw error;
      });
    }
  } finally {
    await unlink(aside).catch(() => {});
  }
}

async function release(lockPath: string, ino: bigint): Promise<void> {
  try {
    // Only remove our own lock: if ours was broken as stale, the file is someone else's now.
    if ((await stat(lockPath, { bigint: true })).ino === ino) await unlink(lockPath);
  } catch (error) {
    if (!isErrno(error, "ENOENT")) throw error;
  }
}

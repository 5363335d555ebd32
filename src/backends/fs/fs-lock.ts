/**
 * A cross-process lock file for compare-and-swap writes on the file system.
 * `open(path, "wx")` is an atomic create-if-absent on every POSIX file system,
 * so exactly one process holds the lock. The holder writes its pid and host
 * into it: a waiter on the same host breaks the lock as soon as that process
 * is gone (a `kill -9` in the middle of a write), and a lock from another host,
 * or one without an owner, is broken once it is older than `staleMs`.
 */
import { link, lstat, open, readFile, readlink, rename, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { throwIfAborted } from "../../util/errors.ts";
import { isErrno } from "./fs-errors.ts";
import { lockName, tempName } from "./fs-keys.ts";

/** Options for {@link withFileLock}. */
export interface FileLockOptions {
  /** Stops waiting for the lock with `AbortedError`. */
  signal?: AbortSignal;
  /**
   * A lock older than this is taken to belong to a crashed process and is broken.
   * Holders keep the lock for milliseconds (compare, then rename), so this is generous.
   * It only matters for locks whose owner cannot be checked (another host, or a
   * lock left without its owner line): a dead owner on this host is seen at once.
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
        // Best effort: a lock without its owner line is still a lock, broken by age only.
        await handle.writeFile(JSON.stringify({ pid: process.pid, ...(await thisHost()) })).catch(() => {});
        return (await handle.stat({ bigint: true })).ino;
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (!isErrno(error, "EEXIST")) throw error;
    }
    const held = await readLock(lockPath);
    if (!held) continue; // released meanwhile: try again at once
    const stale = Date.now() - Number(held.mtimeMs) > staleMs || (await ownerIsGone(held.owner));
    if (stale && (await breakStale(lockPath, held.ino, staleMs))) continue;
    // Jittered exponential backoff, capped low: holders keep the lock for milliseconds.
    await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random())));
    delay = Math.min(delay * 2, 50);
  }
}

/** Who holds a lock: its process and the host (kernel boot and pid namespace) that process ran on. */
interface LockOwner extends HostIdentity {
  pid: number;
}

/**
 * What makes a pid meaningful: the host name, and on Linux the kernel's boot id and
 * the pid namespace, so that neither a rebooted machine, nor a container sharing the
 * directory under the same host name, is mistaken for this one.
 */
interface HostIdentity {
  host: string;
  boot?: string;
  pidns?: string;
}

let identity: Promise<HostIdentity> | undefined;

function thisHost(): Promise<HostIdentity> {
  identity ??= (async () => {
    const boot = await readFile("/proc/sys/kernel/random/boot_id", "utf8").then((text) => text.trim(), () => undefined);
    const pidns = await readlink("/proc/self/ns/pid").catch(() => undefined);
    return { host: hostname(), ...(boot ? { boot } : {}), ...(pidns ? { pidns } : {}) };
  })();
  return identity;
}

/** The lock's inode, age and owner (undefined while its holder is still writing it, or for a lock written without one), or undefined when there is no lock. */
async function readLock(lockPath: string): Promise<{ ino: bigint; mtimeMs: bigint; owner?: LockOwner } | undefined> {
  let handle;
  try {
    handle = await open(lockPath, "r");
  } catch (error) {
    if (isErrno(error, "ENOENT")) return undefined;
    throw error;
  }
  try {
    // Read through one handle, so the owner read is the owner of the inode returned.
    const stats = await handle.stat({ bigint: true });
    let owner: LockOwner | undefined;
    try {
      const parsed = JSON.parse(await handle.readFile("utf8")) as Partial<LockOwner> | null;
      if (Number.isSafeInteger(parsed?.pid) && parsed!.pid! > 0 && typeof parsed?.host === "string") owner = parsed as LockOwner;
    } catch {
      // Empty (being written) or not ours: no owner to check.
    }
    return { ino: stats.ino, mtimeMs: stats.mtimeMs, owner };
  } finally {
    await handle.close();
  }
}

/** True only when the owner provably is no more: it ran on this host (same boot, same pid namespace) and its pid is gone. */
async function ownerIsGone(owner: LockOwner | undefined): Promise<boolean> {
  if (!owner) return false;
  const here = await thisHost();
  if (owner.host !== here.host || owner.boot !== here.boot || owner.pidns !== here.pidns) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    // EPERM: it exists, under another user. Anything else: cannot tell, so it may live.
    return isErrno(error, "ESRCH");
  }
  // Signal 0 reaches a zombie too: killed, but not yet reaped by its parent.
  const state = await readFile(`/proc/${owner.pid}/stat`, "utf8").then((text) => text.slice(text.lastIndexOf(")") + 2, text.lastIndexOf(")") + 3), () => "");
  return state === "Z";
}

/**
 * Removes a stale lock. Breakers take turns through a second lock file beside it,
 * so that one breaker never moves a fresh lock another one just took. Renaming
 * first makes the removal atomic: if what it renamed is not the stale lock it
 * looked at (its live owner released it and another took it meanwhile), it puts
 * that lock back. Resolves false when another breaker has the turn: then wait and look again.
 */
async function breakStale(lockPath: string, staleIno: bigint, staleMs: number): Promise<boolean> {
  const breaker = join(dirname(lockPath), lockName(basename(lockPath)));
  try {
    await (await open(breaker, "wx")).close();
  } catch (error) {
    if (!isErrno(error, "EEXIST")) throw error;
    // Someone is breaking it right now, for microseconds; a breaker lock this old was left by a crash.
    const held = await stat(breaker).catch(() => undefined);
    if (held && Date.now() - held.mtimeMs > staleMs) await unlink(breaker).catch(() => {});
    return false;
  }
  try {
    const aside = join(dirname(lockPath), tempName(basename(lockPath)));
    try {
      await rename(lockPath, aside);
    } catch (error) {
      if (isErrno(error, "ENOENT")) return true; // released meanwhile
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
    return true;
  } finally {
    await unlink(breaker).catch(() => {});
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

/**
 * Garbage of interrupted file-system writes: the hidden temp files a killed
 * put leaves beside its key (holding a partial archive, sometimes hundreds of
 * MiB) and lock files whose holder died. Neither is ever listed as an object,
 * so only a walk that looks for them finds them.
 */
import type { Dirent } from "node:fs";
import { readdir, rmdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { throwIfAborted } from "../../util/errors.ts";
import type { CollectGarbageOptions, Leftover } from "../backend.ts";
import { isErrno } from "./fs-errors.ts";
import { internalNameKind } from "./fs-keys.ts";

/**
 * Yields the temp and lock files below `dir` (keyed from `keyPrefix`) last
 * modified before `options.before`, removing each unless `dryRun`, and removes
 * folders that this leaves empty. `minLockAgeMs`: a lock younger than this is
 * never removed, whatever `before` says, because writers may still hold it.
 */
export async function* collectFileGarbage(dir: string, keyPrefix: string, options: CollectGarbageOptions & { minLockAgeMs: number }): AsyncGenerator<Leftover> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isErrno(error, "ENOENT", "ENOTDIR")) return;
    throw error;
  }
  const now = Date.now();
  for (const entry of entries) {
    throwIfAborted(options.signal);
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      yield* collectFileGarbage(path, `${keyPrefix}${entry.name}/`, options);
      if (!options.dryRun) await rmdir(path).catch(() => undefined); // only succeeds when empty
      continue;
    }
    const internal = entry.isFile() ? internalNameKind(entry.name) : undefined;
    if (!internal) continue;
    const stats = await stat(path).catch(() => undefined);
    if (!stats || stats.mtimeMs >= options.before.getTime()) continue;
    if (internal.kind === "lock-file" && now - stats.mtimeMs < options.minLockAgeMs) continue;
    if (!options.dryRun) {
      try {
        await unlink(path);
      } catch (error) {
        if (isErrno(error, "ENOENT")) continue; // its writer finished or cleaned up meanwhile
        throw error;
      }
    }
    yield { kind: internal.kind, key: keyPrefix + internal.base, size: stats.size, lastModified: new Date(stats.mtimeMs).toISOString() };
  }
}

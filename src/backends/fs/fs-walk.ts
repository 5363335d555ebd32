/**
 * Walking the store's directory tree in key order. Directories sort as
 * `name + "/"`, which makes a depth-first walk come out in exactly the
 * order of the full keys (`a-b` before `a/b`, as on S3).
 */
import type { Dirent } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { throwIfAborted } from "../../util/errors.ts";
import { isErrno } from "./fs-errors.ts";
import { isInternalName } from "./fs-keys.ts";
import { compareKeys } from "../key-order.ts";

/** A file found by {@link walkFiles}: its key and its path on disk. */
export interface WalkedFile {
  key: string;
  path: string;
}

interface Child {
  name: string;
  directory: boolean;
  order: string;
}

/**
 * Yields every object file below `dir`, in key order, keyed `keyPrefix + relative path`.
 * Only names starting with `partial` are kept at the top level. Temp files,
 * lock files, symlinks and special files are not objects and are skipped.
 */
export async function* walkFiles(dir: string, keyPrefix: string, partial: string, signal?: AbortSignal): AsyncGenerator<WalkedFile> {
  for (const child of await children(dir, partial)) {
    throwIfAborted(signal);
    const path = join(dir, child.name);
    if (child.directory) yield* walkFiles(path, `${keyPrefix}${child.name}/`, "", signal);
    else yield { key: keyPrefix + child.name, path };
  }
}

/**
 * Yields the sub-directories of `dir` whose names start with `partial` and that
 * hold at least one object, in key order. Directories holding only temp or lock
 * files (a put in flight) are not prefixes yet, as on S3.
 */
export async function* walkPrefixes(dir: string, partial: string, signal?: AbortSignal): AsyncGenerator<string> {
  for (const child of await children(dir, partial)) {
    throwIfAborted(signal);
    if (child.directory && (await holdsObject(join(dir, child.name)))) yield child.name;
  }
}

async function holdsObject(dir: string): Promise<boolean> {
  for (const child of await children(dir, "")) {
    if (!child.directory || (await holdsObject(join(dir, child.name)))) return true;
  }
  return false;
}

async function children(dir: string, partial: string): Promise<Child[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    // A directory that is missing (or was pruned by a concurrent delete) holds no keys.
    if (isErrno(error, "ENOENT", "ENOTDIR")) return [];
    throw error;
  }
  const result: Child[] = [];
  for (const entry of entries) {
    const name = entry.name;
    if (!name.startsWith(partial) || isInternalName(name) || name.includes("\\")) continue;
    const directory = entry.isDirectory();
    if (!directory && !entry.isFile()) continue;
    result.push({ name, directory, order: directory ? `${name}/` : name });
  }
  return result.sort((a, b) => compareKeys(a.order, b.order));
}

/**
 * How the file-system backend maps keys to paths: `a/b/c.json` is
 * `<root>/a/b/c.json`. Keys are checked so that none can name a path outside
 * the root, and none can collide with the backend's own temp and lock files.
 */
import { join } from "node:path";
import { InvalidArgumentError } from "../../util/errors.ts";

// Internal files are hidden (leading dot) and carry a fixed shape, so list()
// can skip them and no key can be mistaken for one.
const TEMP_NAME = /^\..+\.[0-9a-f]{16}\.tmp$/;
const LOCK_NAME = /^\..+\.lock$/;

/** True for the backend's own temp and lock files, which never show up as objects. */
export function isInternalName(name: string): boolean {
  return TEMP_NAME.test(name) || LOCK_NAME.test(name);
}

/** Which internal file `name` is, and the base name of the key it serves; `undefined` for object files. */
export function internalNameKind(name: string): { kind: "temp-file" | "lock-file"; base: string } | undefined {
  if (TEMP_NAME.test(name)) return { kind: "temp-file", base: name.slice(1, -".0123456789abcdef.tmp".length) };
  if (LOCK_NAME.test(name)) return { kind: "lock-file", base: name.slice(1, -".lock".length) };
  return undefined;
}

/**
 * Random bytes for temp names, drawn 4 KiB at a time: one `getRandomValues`
 * call costs ~30 µs on Node, which showed when extracting hundreds of small files.
 */
const randomPool = new Uint8Array(4096);
let randomUsed = randomPool.length;

/** A fresh temp-file name beside `base`: hidden, unique, and recognised by {@link isInternalName}. */
export function tempName(base: string): string {
  if (randomUsed + 8 > randomPool.length) {
    crypto.getRandomValues(randomPool);
    randomUsed = 0;
  }
  const random = randomPool.subarray(randomUsed, (randomUsed += 8));
  return `.${base}.${Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("")}.tmp`;
}

/** The lock-file name guarding compare-and-swap writes to `base`. */
export function lockName(base: string): string {
  return `.${base}.lock`;
}

/**
 * Checks `key` and returns its path under `root`, plus the path's directory and base name.
 * Throws {@link InvalidArgumentError} for keys that could escape the root or shadow internal files.
 */
export function keyPath(root: string, key: string): { path: string; dir: string; base: string } {
  const segments = checkSegments(key, key.split("/"), "key");
  const base = segments[segments.length - 1];
  if (isInternalName(base)) {
    throw new InvalidArgumentError(
      `Invalid key ${JSON.stringify(key)}: names shaped like ".<name>.lock" or ".<name>.<16 hex>.tmp" are reserved for the file-system backend's lock and temp files. Rename the object.`,
    );
  }
  const dir = join(root, ...segments.slice(0, -1));
  return { path: join(dir, base), dir, base };
}

/**
 * Splits a listing prefix into the directory to walk and the start of the names
 * to keep there: `"a/b"` walks `<root>/a` keeping names that start with `"b"`,
 * so a prefix may end in the middle of a segment as it may on S3.
 */
export function prefixPath(root: string, prefix: string): { dir: string; dirKey: string; partial: string } {
  if (typeof prefix !== "string") {
    throw new InvalidArgumentError(`Invalid prefix ${JSON.stringify(prefix)}: pass a string such as "domain/" or "".`);
  }
  const slash = prefix.lastIndexOf("/");
  const dirKey = prefix.slice(0, slash + 1);
  const partial = prefix.slice(slash + 1);
  if (partial.includes("\\") || partial.includes("\0")) {
    throw new InvalidArgumentError(`Invalid prefix ${JSON.stringify(prefix)}: backslashes and NUL characters cannot appear in keys.`);
  }
  const segments = dirKey === "" ? [] : checkSegments(prefix, dirKey.slice(0, -1).split("/"), "prefix");
  return { dir: join(root, ...segments), dirKey, partial };
}

function checkSegments(value: string, segments: string[], what: "key" | "prefix"): string[] {
  if (typeof value !== "string" || value.length === 0) {
    throw new InvalidArgumentError(`Invalid ${what} ${JSON.stringify(value)}: pass a non-empty string such as "domain/versions/id.json".`);
  }
  // Backslashes are separators on Windows and NUL truncates paths in C APIs:
  // either could make a key point somewhere other than where it reads.
  if (value.includes("\\") || value.includes("\0")) {
    throw new InvalidArgumentError(`Invalid ${what} ${JSON.stringify(value)}: backslashes and NUL characters cannot appear in keys. Use "/" between segments.`);
  }
  if (value.startsWith("/")) {
    throw new InvalidArgumentError(`Invalid ${what} ${JSON.stringify(value)}: keys are relative to the store's root; drop the leading "/".`);
  }
  for (const segment of segments) {
    if (segment === "" || segment === "." || segment === "..") {
      throw new InvalidArgumentError(
        `Invalid ${what} ${JSON.stringify(value)}: empty, "." and ".." segments are not allowed, so no key can reach outside the store's root.`,
      );
    }
  }
  return segments;
}

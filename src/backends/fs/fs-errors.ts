/**
 * Turns Node's errno failures into {@link BackendError}s that name the
 * operation, the key and the errno, and say what to do about the common ones.
 */
import { BackendError } from "../../util/errors.ts";

/** The errno code of a Node file-system error, or undefined for anything else. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** True when `error` is a file-system error with one of `codes`. */
export function isErrno(error: unknown, ...codes: string[]): boolean {
  const code = errnoCode(error);
  return code !== undefined && codes.includes(code);
}

/** Where a failure happened, for {@link toBackendError}. */
export interface FsErrorContext {
  /** What was being done: `"put"`, `"rename"`, `"list"`... */
  operation: string;
  /** The key involved, if any. */
  key?: string;
  /** The store's root directory, named in hints. */
  root: string;
}

/**
 * Wraps a Node errno error in a {@link BackendError} (serverCode = errno).
 * Errors that are not errno failures (typed modelstore errors, a body's own
 * error) are returned unchanged so callers see them as they were thrown.
 */
export function toBackendError(error: unknown, context: FsErrorContext): unknown {
  const code = errnoCode(error);
  if (code === undefined) return error;
  const what = context.key === undefined ? `${context.operation} in` : `${context.operation} "${context.key}" in`;
  return new BackendError(
    `File-system backend could not ${what} ${context.root}: ${code}. ${hint(code, context.root)}`,
    { backend: "fs", operation: context.operation, key: context.key, serverCode: code },
    { cause: error },
  );
}

/** Runs `action`, converting errno failures with {@link toBackendError}. */
export async function fsCall<T>(context: FsErrorContext, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw toBackendError(error, context);
  }
}

function hint(code: string, root: string): string {
  switch (code) {
    case "EACCES":
    case "EPERM":
      return `Permission denied: check that this process may read and write ${root} and everything below it.`;
    case "ENOSPC":
      return "No space left on the device: free disk space or point the store at another root.";
    case "EDQUOT":
      return "Disk quota exceeded: free space or raise the quota.";
    case "EROFS":
      return "The file system is read-only: point the store at a writable root.";
    case "ENOTDIR":
    case "EISDIR":
    case "EEXIST":
    case "ENOTEMPTY":
      return "A key and a folder collide: on a file system one key cannot also be a prefix of other keys (\"a/b\" and \"a/b/c\"). Choose keys that are not prefixes of each other, or check that the root is a directory.";
    case "ENAMETOOLONG":
      return "A key segment is too long for this file system (usually 255 bytes, less ~25 for temp names): shorten the key.";
    case "EMFILE":
    case "ENFILE":
      return "Too many open files: close unread get() streams or raise the open-file limit.";
    case "EIO":
      return "An I/O error from the device: check the disk.";
    default:
      return "Check the root directory and the disk.";
  }
}

/** The rules an archive entry path follows: relative, `/`-separated, no `.` or `..` segments. */

/** Why `path` cannot be an archive entry path, or `undefined` if it can. */
export function archivePathProblem(path: unknown): string | undefined {
  if (typeof path !== "string") return `it is a ${typeof path}, not a string`;
  if (path.length === 0) return "it is empty";
  if (path.includes("\0")) return "it contains a NUL character";
  if (path.includes("\\")) return "it contains a backslash (use / to separate directories)";
  if (path.startsWith("/")) return "it is absolute (remove the leading /)";
  for (const segment of path.split("/")) {
    if (segment === "") return "it has an empty segment (// or a trailing /)";
    if (segment === "." || segment === "..") return `it has a "${segment}" segment`;
  }
  return undefined;
}

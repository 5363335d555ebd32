/**
 * This library's name and version, and the versions every model records in
 * `runtime-info.json` and `code.dependencies`. Kept in sync with package.json
 * by `test/version.test.ts` (a worker cannot read package.json at run time).
 */
export const LIBRARY_NAME = "modelstore-js";

export const LIBRARY_VERSION = "0.1.0";

/**
 * The versions every model records: this library's own, exact. A model's
 * frameworks are added by the upload's `dependencies` (on Node, found by
 * `installedVersions()` from `modelstore-js/fs`), never the ranges package.json
 * declares: a range says what might have been installed, not what was.
 */
export const DEPENDENCY_VERSIONS: Readonly<Record<string, string>> = { [LIBRARY_NAME]: LIBRARY_VERSION };

/**
 * This library's version and the versions of the dependencies it records in
 * `runtime-info.json` and model metadata. Kept in sync with package.json by
 * `test/version.test.ts` (a worker cannot read package.json at run time).
 */
export const LIBRARY_VERSION = "0.1.0";

/** Declared versions of the runtime dependencies. */
export const DEPENDENCY_VERSIONS: Readonly<Record<string, string>> = {
  fflate: "^0.8.3",
  uuid: "^14.0.3",
  aws4fetch: "^1.0.20",
};

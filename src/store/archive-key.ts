/**
 * Where a model's archive is in this backend: the key its metadata's recorded
 * location names, including in stores that were moved (the Python modelstore
 * before 0.0.76 recorded only an absolute path).
 */
import type { ReadBackend, StorageLocation } from "../backends/backend.ts";
import { IntegrityError } from "../util/errors.ts";

/** The archive's key for `location`; throws when it lies in another storage or is not recorded. */
export function archiveKeyOf(backend: ReadBackend, root: string, location: StorageLocation, modelId: string): string {
  let key: string | undefined;
  try {
    key = backend.keyOf ? backend.keyOf(location) : location.prefix;
  } catch (error) {
    // A store that was moved, whose documents name no root (the Python modelstore
    // before 0.0.76 records only an absolute path): the key starts at the root prefix.
    key = keyBelowRoot(backend, root, location.path);
    if (key === undefined) throw error;
  }
  if (!key) throw new IntegrityError(`The metadata of model "${modelId}" does not say where its archive is (storage.prefix is missing).`);
  return key;
}

/** `.../<root>/<rest>` as the key `<root>/<rest>`, where `<rest>` names an archive of this layout. */
function keyBelowRoot(backend: ReadBackend, root: string, path: string | undefined): string | undefined {
  if (!path) return undefined;
  const marker = `/${root}/`;
  const at = path.replaceAll("\\", "/").lastIndexOf(marker);
  if (at < 0) return undefined;
  const key = path.replaceAll("\\", "/").slice(at + 1);
  if (key.split("/").some((part) => part === ".." || part === ".") || !key.endsWith("/artifacts.tar.gz")) return undefined;
  return backend.keyOf ? backend.keyOf(backend.locate?.(key) ?? { type: backend.name, prefix: key }) : key;
}

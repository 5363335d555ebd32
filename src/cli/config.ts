/**
 * Chooses the store the CLI talks to, the way the Python modelstore does:
 * `MODEL_STORE_STORAGE` names the backend, and each backend reads its own
 * variables. Flags override the environment.
 */
import { resolve } from "node:path";
import { ModelStore } from "../index.js";
import { InvalidArgumentError } from "../errors.js";
import { fileSystemBackend } from "../fs.js";

/** Storage names accepted in `MODEL_STORE_STORAGE` / `--storage` (the Python library's names). */
export const STORAGE_NAMES = ["filesystem"] as const;

/** What the CLI was told about where models live. */
export interface StoreSettings {
  storage?: string;
  root?: string;
  rootPrefix?: string;
}

/** The default file-system root: `./.modelstore`. */
export const DEFAULT_FILESYSTEM_ROOT = ".modelstore";

/** Builds the store from flags, then environment, then defaults. */
export function storeFromSettings(flags: StoreSettings, env: Record<string, string | undefined>): ModelStore {
  const storage = flags.storage ?? env.MODEL_STORE_STORAGE ?? "filesystem";
  const rootPrefix = flags.rootPrefix ?? env.MODEL_STORE_ROOT_PREFIX;
  switch (storage) {
    case "filesystem":
    case "file_system": {
      const root = resolve(flags.root ?? env.MODEL_STORE_ROOT ?? DEFAULT_FILESYSTEM_ROOT);
      return new ModelStore({ backend: fileSystemBackend({ root }), rootPrefix });
    }
    default:
      throw new InvalidArgumentError(
        `Unknown storage ${JSON.stringify(storage)} (from --storage or MODEL_STORE_STORAGE). Use one of: ${STORAGE_NAMES.join(", ")}.`,
      );
  }
}

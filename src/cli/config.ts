/**
 * Chooses the store the CLI talks to, the way the Python modelstore does:
 * `MODEL_STORE_STORAGE` names the backend, and each backend reads its own
 * variables. Flags override the environment.
 */
import { resolve } from "node:path";
import { ModelStore } from "../index.js";
import { InvalidArgumentError } from "../errors.js";
import { fileSystemBackend } from "../fs.js";
import { s3BackendFromEnv } from "../s3.js";

/** Storage names accepted in `MODEL_STORE_STORAGE` / `--storage` (the Python library's names). */
export const STORAGE_NAMES = ["filesystem", "aws-s3"] as const;

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
    case "aws-s3":
      // Bucket, region, endpoint and credentials from the AWS and MODEL_STORE_AWS_* variables.
      return new ModelStore({ backend: s3BackendFromEnv(env), rootPrefix: rootPrefix ?? env.MODEL_STORE_AWS_ROOT_PREFIX });
    default:
      throw new InvalidArgumentError(
        `Unknown storage ${JSON.stringify(storage)} (from --storage or MODEL_STORE_STORAGE). Use one of: ${STORAGE_NAMES.join(", ")}.`,
      );
  }
}

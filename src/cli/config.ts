/**
 * Chooses the store the CLI talks to. A config file (`--config` or
 * `MODEL_STORE_CONFIG`) describes everything, e.g. PostgreSQL metadata + S3
 * artifacts. Without one, it works like the Python modelstore:
 * `MODEL_STORE_STORAGE` names the artifact backend, each backend reads its own
 * variables, and `MODEL_STORE_METADATA` picks where metadata lives (default: in
 * the bucket layout). Flags override the environment: `--bucket`, `--endpoint`
 * and `--region` override the S3 variables and choose `aws-s3` themselves.
 */
import { join, resolve } from "node:path";
import { InvalidArgumentError } from "../util/errors.ts";
import { custom, DEFAULT_LOCAL_DIRECTORY, fileSystemBackend, LOCAL_METADATA_FILE, storeFromConfigFile, type MetadataSpec } from "../fs.ts";
import { DEFAULT_ROOT_PREFIX, type ModelStore } from "../index.ts";
import { gcsBackendFromEnv, s3BackendFromEnv } from "../s3-node.ts";
import { azureBackendFromEnv } from "../azure.ts";
import { httpBackend } from "../http.ts";

/** Storage names accepted in `MODEL_STORE_STORAGE` / `--storage` (the Python library's names). */
export const STORAGE_NAMES = ["filesystem", "aws-s3", "azure-container", "google-cloud-storage", "http"] as const;

/** Metadata names accepted in `MODEL_STORE_METADATA` / `--metadata`. */
export const METADATA_NAMES = ["bucket", "local", "postgres"] as const;

/** What the CLI was told about where models live. */
export interface StoreSettings {
  /** A JSON config file; when given, the other settings except rootPrefix are ignored. */
  config?: string;
  storage?: string;
  metadata?: string;
  root?: string;
  rootPrefix?: string;
  /** S3 bucket, endpoint and region, over MODEL_STORE_AWS_BUCKET and the AWS variables; any of them implies aws-s3. */
  bucket?: string;
  endpoint?: string;
  region?: string;
}

/** The default file-system root: `./.modelstore`. */
export const DEFAULT_FILESYSTEM_ROOT = DEFAULT_LOCAL_DIRECTORY;

/**
 * Builds the store from flags, then environment, then defaults. Empty
 * variables count as unset. A config file named by `--config` wins; one named
 * by `MODEL_STORE_CONFIG` gives way to flags that choose the store, as the
 * environment always gives way to flags.
 *
 * `MODEL_STORE_ROOT_PREFIX` means what it means to the Python library: the
 * store's directory for `filesystem` (when `MODEL_STORE_ROOT` is unset), and
 * for `aws-s3` a prefix in front of `operatorai-model-store`.
 */
export async function storeFromSettings(flags: StoreSettings, givenEnv: Record<string, string | undefined>): Promise<ModelStore> {
  const env = Object.fromEntries(Object.entries(givenEnv).filter(([, value]) => value !== "")) as Record<string, string | undefined>;
  const s3Flags = { bucket: flags.bucket, endpoint: flags.endpoint, region: flags.region };
  const s3Flagged = Object.entries(s3Flags).filter(([, value]) => value !== undefined).map(([name]) => `--${name}`);
  const choosesStore = [flags.storage, flags.metadata, flags.root, flags.rootPrefix].some((value) => value !== undefined) || s3Flagged.length > 0;
  if (flags.config && s3Flagged.length) {
    throw new InvalidArgumentError(`${s3Flagged.join(", ")} cannot be combined with --config: set them in the config file's "artifacts", or drop --config.`);
  }
  const config = flags.config ?? (choosesStore ? undefined : env.MODEL_STORE_CONFIG);
  if (config) return storeFromConfigFile(resolve(config), env);
  const storage = flags.storage ?? (s3Flagged.length ? "aws-s3" : undefined) ?? env.MODEL_STORE_STORAGE ?? "filesystem";
  if (s3Flagged.length && storage !== "aws-s3") {
    throw new InvalidArgumentError(`${s3Flagged.join(", ")} ${s3Flagged.length > 1 ? "apply" : "applies"} to S3 only, but --storage is ${JSON.stringify(storage)}. Use --storage aws-s3, or drop ${s3Flagged.join(", ")}.`);
  }
  const pythonPrefix = env.MODEL_STORE_ROOT_PREFIX;
  const rootPrefix = flags.rootPrefix;
  const root = resolve(flags.root ?? env.MODEL_STORE_ROOT ?? pythonPrefix ?? DEFAULT_FILESYSTEM_ROOT);
  const metadataName = flags.metadata ?? env.MODEL_STORE_METADATA ?? "bucket";
  let metadata: MetadataSpec;
  switch (metadataName) {
    case "bucket":
    case "postgres":
      metadata = metadataName; // postgres: MODEL_STORE_POSTGRES_URL, DATABASE_URL or the PG* variables
      break;
    case "local":
      metadata = { type: "local", path: join(root, LOCAL_METADATA_FILE) };
      break;
    default:
      throw new InvalidArgumentError(
        `Unknown metadata ${JSON.stringify(metadataName)} (from --metadata or MODEL_STORE_METADATA). Use one of: ${METADATA_NAMES.join(", ")}.`,
      );
  }
  switch (storage) {
    case "filesystem":
    case "file_system":
      return custom({ artifacts: fileSystemBackend({ root }), metadata, rootPrefix, env });
    case "aws-s3":
      // Bucket, region, endpoint and credentials from the AWS and MODEL_STORE_AWS_* variables.
      return custom({
        artifacts: s3BackendFromEnv(env, {
          ...(flags.bucket !== undefined ? { bucket: flags.bucket } : {}),
          ...(flags.endpoint !== undefined ? { endpoint: flags.endpoint } : {}),
          ...(flags.region !== undefined ? { region: flags.region } : {}),
        }),
        metadata,
        rootPrefix: rootPrefix ?? env.MODEL_STORE_AWS_ROOT_PREFIX ?? (pythonPrefix && `${pythonPrefix.replace(/\/+$/, "")}/${DEFAULT_ROOT_PREFIX}`),
        env,
      });
    case "azure-container":
      // Container and credentials from MODEL_STORE_AZURE_CONTAINER and the AZURE_STORAGE_* variables.
      return custom({
        artifacts: azureBackendFromEnv(env),
        metadata,
        rootPrefix: rootPrefix ?? env.MODEL_STORE_AZURE_ROOT_PREFIX ?? (pythonPrefix && `${pythonPrefix.replace(/\/+$/, "")}/${DEFAULT_ROOT_PREFIX}`),
        env,
      });
    case "google-cloud-storage":
      // Bucket and project from MODEL_STORE_GCP_BUCKET / _PROJECT, the HMAC key from MODEL_STORE_GCP_HMAC_*.
      return custom({
        artifacts: gcsBackendFromEnv(env),
        metadata,
        rootPrefix: rootPrefix ?? (env.MODEL_STORE_GCP_ROOT_PREFIX || undefined) ?? (pythonPrefix && `${pythonPrefix.replace(/\/+$/, "")}/${DEFAULT_ROOT_PREFIX}`),
        env,
      });
    case "http": {
      // Read-only: a public bucket, CDN or static host holding a store's tree.
      const baseUrl = env.MODEL_STORE_HTTP_URL;
      if (!baseUrl) {
        throw new InvalidArgumentError("--storage http reads the store at MODEL_STORE_HTTP_URL (a public bucket's URL, a CDN or a static host); set it, e.g. MODEL_STORE_HTTP_URL=https://models.example.com.");
      }
      return custom({ artifacts: httpBackend({ baseUrl }), metadata, rootPrefix: rootPrefix ?? (pythonPrefix && `${pythonPrefix.replace(/\/+$/, "")}/${DEFAULT_ROOT_PREFIX}`), env });
    }
    default:
      throw new InvalidArgumentError(
        `Unknown storage ${JSON.stringify(storage)} (from --storage or MODEL_STORE_STORAGE). Use one of: ${STORAGE_NAMES.join(", ")}.`,
      );
  }
}

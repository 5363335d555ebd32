/**
 * Client factories in the spirit of the original library: `local()` for one
 * directory holding everything, `custom()` to pair any metadata repository with
 * any artifact backend, by instance or by name. Node, Deno and Bun (the local
 * pieces need `node:fs`); the PostgreSQL driver is loaded only when named.
 */
import { rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Backend } from "../backends/backend.ts";
import { fileSystemBackend } from "../backends/fs/fs.ts";
import { memoryBackend } from "../backends/memory.ts";
import type { EnvVars } from "../backends/s3/s3-env.ts";
import type { S3BackendOptions } from "../backends/s3/s3-options.ts";
import { InvalidArgumentError } from "../util/errors.ts";
import { ModelStore } from "../store/model-store.ts";
import { bucketMetadata } from "../metadata/bucket.ts";
import { currentUser } from "./current-user.ts";
import { LOCAL_METADATA_FILE, localMetadata } from "./local-metadata.ts";
import { memoryMetadata } from "../metadata/memory.ts";
import type { MetadataRepository } from "../metadata/repository.ts";

/** The default store directory of `local()` and of the CLI. */
export const DEFAULT_LOCAL_DIRECTORY = ".modelstore";

/** Options for {@link local}. */
export interface LocalStoreOptions {
  /** Delete everything in the directory first (models, archives and metadata). @default false */
  clear?: boolean;
  /** Top-level prefix of archive keys. @default "operatorai-model-store" */
  rootPrefix?: string;
  /** Recorded as `code.user` by every upload. @default {@link currentUser}() */
  user?: string;
}

/**
 * A store in one local directory: metadata in `<path>/metadata.json` (JSON,
 * atomic and safe for several processes) and archives under `<path>/<rootPrefix>/`.
 */
export async function local(path: string = DEFAULT_LOCAL_DIRECTORY, options: LocalStoreOptions = {}): Promise<ModelStore> {
  const dir = resolve(path);
  if (options.clear) await rm(dir, { recursive: true, force: true });
  return new ModelStore({
    backend: fileSystemBackend({ root: dir }),
    metadata: localMetadata({ path: join(dir, LOCAL_METADATA_FILE) }),
    rootPrefix: options.rootPrefix,
    user: options.user ?? currentUser(),
  });
}

/** A metadata repository by name and options, as `custom()` and config files accept it. */
export type MetadataSpec =
  | "bucket"
  | "local"
  | "memory"
  | "postgres"
  | { type: "bucket" }
  | { type: "memory" }
  /** `path` @default "<artifacts root or .modelstore>/metadata.json" */
  | { type: "local"; path?: string }
  /** `url` @default env MODEL_STORE_POSTGRES_URL, then DATABASE_URL, then the driver's PG* variables */
  | { type: "postgres"; url?: string; max?: number };

/** An artifact backend by name and options, as `custom()` and config files accept it. */
export type ArtifactsSpec =
  | "local"
  | "memory"
  | "s3"
  | { type: "memory" }
  /** `root` @default ".modelstore" */
  | { type: "local"; root?: string }
  /** Unset fields come from the environment (see `s3BackendFromEnv`). */
  | ({ type: "s3"; bucket?: string; accessKeyId?: string; secretAccessKey?: string; sessionToken?: string } & Partial<Omit<S3BackendOptions, "bucket" | "credentials" | "fetch">>);

/** Options for {@link custom}. */
export interface CustomStoreOptions {
  /** Where metadata lives: an instance, a name, or a name with options. @default "bucket" (documents in the artifact backend) */
  metadata?: MetadataRepository | MetadataSpec;
  /** Where archives live: an instance, a name, or a name with options. @default "local" */
  artifacts?: Backend | ArtifactsSpec;
  /** Top-level prefix of every key. @default "operatorai-model-store" */
  rootPrefix?: string;
  /** Variables for S3 credentials and PostgreSQL URLs, and the user's name. @default `process.env` */
  env?: EnvVars;
  /** Recorded as `code.user` by every upload. @default {@link currentUser}(env) */
  user?: string;
}

/** `process.env` where the runtime has one (Node, Bun, Deno 2), read without assuming Node's types. */
export function defaultEnv(): EnvVars {
  return (globalThis as { process?: { env?: EnvVars } }).process?.env ?? {};
}

const METADATA_NAMES = ["bucket", "local", "memory", "postgres"];
const ARTIFACT_NAMES = ["local", "memory", "s3"];
const isBackend = (value: unknown): value is Backend => typeof (value as Backend | null)?.put === "function";
const isRepository = (value: unknown): value is MetadataRepository => typeof (value as MetadataRepository | null)?.addModel === "function";

/**
 * A store over any metadata repository and any artifact backend, e.g.
 * `custom({ metadata: { type: "postgres", url }, artifacts: "s3" })`.
 * @throws InvalidArgumentError for an unknown name
 */
export async function custom(options: CustomStoreOptions = {}): Promise<ModelStore> {
  const env = options.env ?? defaultEnv();
  const artifactSpec = options.artifacts ?? "local";
  const backend = isBackend(artifactSpec) ? artifactSpec : await artifactsFrom(artifactSpec, env);
  const metadataSpec = options.metadata ?? "bucket";
  const localRoot = typeof artifactSpec === "object" && "root" in artifactSpec && artifactSpec.root ? artifactSpec.root : DEFAULT_LOCAL_DIRECTORY;
  const metadata = isRepository(metadataSpec) ? metadataSpec : await metadataFrom(metadataSpec, { backend, rootPrefix: options.rootPrefix, localRoot, env });
  return new ModelStore({ backend, metadata, rootPrefix: options.rootPrefix, user: options.user ?? currentUser(env) });
}

async function artifactsFrom(spec: ArtifactsSpec, env: EnvVars): Promise<Backend> {
  const { type, ...rest } = typeof spec === "string" ? { type: spec } : spec;
  switch (type) {
    case "memory":
      return memoryBackend();
    case "local":
      return fileSystemBackend({ root: resolve((rest as { root?: string }).root ?? DEFAULT_LOCAL_DIRECTORY) });
    case "s3": {
      const { bucket, accessKeyId, secretAccessKey, sessionToken, ...overrides } = rest as Extract<ArtifactsSpec, { type: "s3" }>;
      // Values in the spec win over the environment's, one by one.
      const merged: EnvVars = {
        ...env,
        ...(bucket ? { MODEL_STORE_AWS_BUCKET: bucket } : {}),
        ...(accessKeyId ? { AWS_ACCESS_KEY_ID: accessKeyId } : {}),
        ...(secretAccessKey ? { AWS_SECRET_ACCESS_KEY: secretAccessKey } : {}),
        ...(sessionToken ? { AWS_SESSION_TOKEN: sessionToken } : {}),
      };
      // Loaded here, not at the top: local stores need no S3 client in their bundle. The Node build
      // of modelstore-js/s3 picks the transport (nodeFetch on Node itself).
      const { s3BackendFromEnv } = await import("../s3-node.ts");
      return s3BackendFromEnv(merged, overrides);
    }
    default:
      throw new InvalidArgumentError(`Unknown artifacts ${JSON.stringify(type)}. Use one of: ${ARTIFACT_NAMES.join(", ")}, or pass a Backend.`);
  }
}

async function metadataFrom(
  spec: MetadataSpec,
  context: { backend: Backend; rootPrefix?: string; localRoot: string; env: EnvVars },
): Promise<MetadataRepository> {
  const { type, ...rest } = typeof spec === "string" ? { type: spec } : spec;
  switch (type) {
    case "bucket":
      return bucketMetadata({ backend: context.backend, rootPrefix: context.rootPrefix });
    case "memory":
      return memoryMetadata();
    case "local":
      return localMetadata({ path: resolve((rest as { path?: string }).path ?? join(context.localRoot, LOCAL_METADATA_FILE)) });
    case "postgres": {
      const { url, max } = rest as { url?: string; max?: number };
      // Loaded here, not at the top: the driver is an optional peer dependency.
      const { postgresMetadata } = await import("../postgres.ts").catch((cause) => {
        throw new InvalidArgumentError(`PostgreSQL metadata needs the "postgres" package: run npm install postgres.`, { cause });
      });
      return postgresMetadata({ url: url ?? context.env.MODEL_STORE_POSTGRES_URL ?? context.env.DATABASE_URL, max });
    }
    default:
      throw new InvalidArgumentError(`Unknown metadata ${JSON.stringify(type)}. Use one of: ${METADATA_NAMES.join(", ")}, or pass a MetadataRepository.`);
  }
}

/**
 * The `modelstore-js/s3` entry as Node resolves it (the `node` export
 * condition): the same backends, sending with nodeFetch (`node:http`) unless
 * the options name a `fetch`. On Node that downloads with about half the
 * client CPU of the runtime's fetch and uploads in less memory (see the
 * README's S3 benchmark). Workers, browsers, Deno and Bun resolve the plain entry
 * (s3.ts), and a Deno or Bun that takes this one anyway keeps its own fetch.
 */
import { gcsBackendFromEnv as gcsFromEnv } from "./backends/s3/gcs-env.ts";
import { gcsBackend as gcs, type GcsBackendOptions } from "./backends/s3/gcs.ts";
import { s3BackendFromEnv as s3FromEnv, type EnvVars } from "./backends/s3/s3-env.ts";
import type { S3BackendOptions } from "./backends/s3/s3-options.ts";
import { s3Reader as reader, type S3Reader } from "./backends/s3/s3-reader.ts";
import { s3Backend as backend, type S3Backend } from "./backends/s3/s3.ts";
import { nodeTransport } from "./node/node-fetch.ts";

export type { S3Backend, S3BackendOptions, S3Credentials, S3CredentialsProvider } from "./backends/s3/s3.ts";
export type { S3Reader } from "./backends/s3/s3-reader.ts";
export type { EnvVars } from "./backends/s3/s3-env.ts";
export type { GcsBackendOptions } from "./backends/s3/gcs.ts";
export { GCS_ENDPOINT, GCS_STORAGE_TYPE } from "./backends/s3/gcs.ts";

/** `options` with nodeFetch as the transport where Node runs them, unless they name a `fetch`. */
const withNodeFetch = <T extends object>(options: T): T => ({ ...nodeTransport(), ...options });

export function s3Backend(options: S3BackendOptions): S3Backend {
  return backend(withNodeFetch(options));
}

export function s3Reader(options: S3BackendOptions): S3Reader {
  return reader(withNodeFetch(options));
}

export function s3BackendFromEnv(env?: EnvVars, overrides: Partial<S3BackendOptions> = {}): S3Backend {
  return s3FromEnv(env, withNodeFetch(overrides));
}

export function gcsBackend(options: GcsBackendOptions): S3Backend {
  return gcs(withNodeFetch(options));
}

export function gcsBackendFromEnv(env?: Record<string, string | undefined>, overrides: Partial<GcsBackendOptions> = {}): S3Backend {
  return gcsFromEnv(env, withNodeFetch(overrides));
}

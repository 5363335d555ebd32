/**
 * The `modelstore-js/s3` entry: the S3 backend on its own subpath, so bundles that
 * do not use S3 never include aws4fetch.
 */
export { s3Backend, type S3Backend, type S3BackendOptions, type S3Credentials, type S3CredentialsProvider } from "./backends/s3/s3.ts";
export { s3Reader, type S3Reader } from "./backends/s3/s3-reader.ts";
export { s3BackendFromEnv, type EnvVars } from "./backends/s3/s3-env.ts";
export { gcsBackend, GCS_ENDPOINT, GCS_STORAGE_TYPE, type GcsBackendOptions } from "./backends/s3/gcs.ts";
export { gcsBackendFromEnv } from "./backends/s3/gcs-env.ts";

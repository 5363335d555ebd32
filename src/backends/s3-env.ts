/**
 * Builds the S3 backend from the standard AWS environment variables plus
 * MODEL_STORE_AWS_BUCKET, the Python modelstore's name for the bucket.
 * @see https://docs.aws.amazon.com/sdkref/latest/guide/environment-variables.html
 * @see https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html
 */
import { InvalidArgumentError } from "../errors.js";
import { s3Backend, type S3Backend } from "./s3.js";
import type { S3BackendOptions, S3Credentials } from "./s3-options.js";

/** A variables object such as `process.env`, `Deno.env.toObject()` or a worker's `env`. */
export type EnvVars = Record<string, string | undefined>;

/** `process.env` where there is one (Node, Bun, Deno 2); workers must pass their `env`. */
function defaultEnv(): EnvVars {
  const g = globalThis as { process?: { env?: EnvVars } };
  return g.process?.env ?? {};
}

function required(env: EnvVars, name: string, why: string): string {
  const value = env[name];
  if (!value) throw new InvalidArgumentError(`${name} is not set: ${why}`);
  return value;
}

/**
 * Creates an S3 backend from environment variables:
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional),
 * AWS_REGION or AWS_DEFAULT_REGION (default us-east-1),
 * AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (optional, for S3-compatible servers),
 * and MODEL_STORE_AWS_BUCKET (required). A variable is only required when
 * `overrides` does not supply its option (`bucket`, `credentials`).
 * @param env the variables to read. @default `process.env` when the runtime has one
 * @param overrides options that win over the environment (bucket, credentials, partSize, fetch...)
 */
export function s3BackendFromEnv(env: EnvVars = defaultEnv(), overrides: Partial<S3BackendOptions> = {}): S3Backend {
  // A variable is required only where no override supplies its option.
  const bucket = overrides.bucket ?? required(env, "MODEL_STORE_AWS_BUCKET", "set it to the name of the bucket that holds the models, or pass `bucket`.");
  return s3Backend({
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
    endpoint: env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined,
    ...overrides,
    bucket,
    credentials: overrides.credentials ?? credentialsFromEnv(env),
  });
}

function credentialsFromEnv(env: EnvVars): S3Credentials {
  const accessKeyId = required(env, "AWS_ACCESS_KEY_ID", "set it (and AWS_SECRET_ACCESS_KEY) to the credentials of an identity that can use the bucket, or pass `credentials`.");
  const secretAccessKey = required(env, "AWS_SECRET_ACCESS_KEY", "set it to the secret that goes with AWS_ACCESS_KEY_ID, or pass `credentials`.");
  return { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
}

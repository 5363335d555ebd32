/**
 * Builds the S3 backend from the standard AWS environment variables plus
 * MODEL_STORE_AWS_BUCKET, the Python modelstore's name for the bucket.
 * Without keys in the environment, credentials come from the AWS SDK's
 * provider chain, as the AWS CLI finds them, when its package is installed.
 * @see https://docs.aws.amazon.com/sdkref/latest/guide/environment-variables.html
 * @see https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html
 * @see https://docs.aws.amazon.com/sdkref/latest/guide/standardized-credentials.html
 */
import { InvalidArgumentError } from "../../util/errors.ts";
import { s3Backend, type S3Backend } from "./s3.ts";
import type { S3BackendOptions, S3Credentials, S3CredentialsProvider } from "./s3-options.ts";

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
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional) or,
 * when neither key is set, the AWS SDK's credential chain (AWS_PROFILE and the
 * shared config and credentials files, SSO, web identity, container and
 * instance roles; needs the optional package `@aws-sdk/credential-providers`),
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

function credentialsFromEnv(env: EnvVars): S3Credentials | S3CredentialsProvider {
  if (!env.AWS_ACCESS_KEY_ID && !env.AWS_SECRET_ACCESS_KEY) return awsCredentialChain(env.AWS_PROFILE);
  const accessKeyId = required(env, "AWS_ACCESS_KEY_ID", "set it (and AWS_SECRET_ACCESS_KEY) to the credentials of an identity that can use the bucket, or pass `credentials`.");
  const secretAccessKey = required(env, "AWS_SECRET_ACCESS_KEY", "set it to the secret that goes with AWS_ACCESS_KEY_ID, or pass `credentials`.");
  return { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
}

/** The package holding the AWS SDK's credential chain: an optional peer dependency, loaded on first use. */
const CHAIN_PACKAGE = "@aws-sdk/credential-providers";

/** What is used of {@link CHAIN_PACKAGE}, typed here so the core needs none of the SDK's types. */
interface CredentialChainModule {
  fromNodeProviderChain(init?: { profile?: string }): () => Promise<S3Credentials>;
}

/**
 * Credentials found as the AWS CLI finds them, by `fromNodeProviderChain`:
 * environment, `profile` (or AWS_PROFILE) in ~/.aws/credentials and
 * ~/.aws/config (SSO, credential_process, assumed roles), web identity (EKS),
 * then container and instance roles. The chain caches what it found and
 * refreshes it before it expires. Its package is imported on the first
 * request, by a name bundlers leave alone, so a worker bundle never holds it.
 */
function awsCredentialChain(profile: string | undefined): S3CredentialsProvider {
  let chain: Promise<() => Promise<S3Credentials>> | undefined;
  return async () => {
    chain ??= (import(/* @vite-ignore */ /* webpackIgnore: true */ CHAIN_PACKAGE) as Promise<CredentialChainModule>).then(
      (module) => module.fromNodeProviderChain(profile ? { profile } : {}),
      (error) => {
        // Errors carry no `cause` here: the transport reports the innermost cause's message.
        throw new InvalidArgumentError(
          `No AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, and the AWS credential chain (profiles, SSO, roles) needs the package ${CHAIN_PACKAGE}, which did not load (${String((error as Error)?.message ?? error).split("\n")[0]}). ` +
            `Install it (npm install ${CHAIN_PACKAGE}), set the two variables, or pass \`credentials\`.`,
        );
      },
    );
    const provider = await chain;
    try {
      const { accessKeyId, secretAccessKey, sessionToken } = await provider();
      return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
    } catch (error) {
      throw new InvalidArgumentError(
        `No AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, and the AWS credential chain${profile ? ` (profile "${profile}")` : ""} found none: ${String((error as Error)?.message ?? error).split("\n")[0]}. ` +
          "Set AWS_PROFILE to a profile in ~/.aws/credentials or ~/.aws/config (aws configure, aws sso login), set the two variables, or pass `credentials`.",
      );
    }
  };
}

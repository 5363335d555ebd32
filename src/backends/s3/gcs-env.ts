/**
 * A GCS backend from environment variables: the bucket and project as the Python
 * modelstore reads them (`MODEL_STORE_GCP_BUCKET`, `MODEL_STORE_GCP_PROJECT`), and the
 * HMAC key this library signs with (`MODEL_STORE_GCP_HMAC_KEY_ID`,
 * `MODEL_STORE_GCP_HMAC_SECRET`; Python uses a service account's JSON key instead,
 * which SigV4 cannot sign with).
 */
import { InvalidArgumentError } from "../../util/errors.ts";
import { gcsBackend, type GcsBackendOptions } from "./gcs.ts";
import type { S3Backend } from "./s3.ts";

/** Builds a GCS {@link S3Backend} from `env`; `overrides` win. */
export function gcsBackendFromEnv(
  env: Record<string, string | undefined> = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {},
  overrides: Partial<GcsBackendOptions> = {},
): S3Backend {
  const bucket = overrides.bucket ?? (env.MODEL_STORE_GCP_BUCKET || undefined);
  if (!bucket) throw new InvalidArgumentError("Set MODEL_STORE_GCP_BUCKET to the Google Cloud Storage bucket that holds the model store.");
  const hmacKeyId = overrides.hmacKeyId ?? (env.MODEL_STORE_GCP_HMAC_KEY_ID || undefined);
  const hmacSecret = overrides.hmacSecret ?? (env.MODEL_STORE_GCP_HMAC_SECRET || undefined);
  if (!hmacKeyId || !hmacSecret) {
    throw new InvalidArgumentError(
      "Set MODEL_STORE_GCP_HMAC_KEY_ID and MODEL_STORE_GCP_HMAC_SECRET to an HMAC key of a service account that can use the bucket (Cloud Storage → Settings → Interoperability).",
    );
  }
  return gcsBackend({ project: env.MODEL_STORE_GCP_PROJECT || undefined, ...overrides, bucket, hmacKeyId, hmacSecret });
}

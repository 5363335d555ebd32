/**
 * Google Cloud Storage as a preset of the S3 backend: its XML API at
 * `storage.googleapis.com`, signed with SigV4 using an HMAC key (a service account's
 * access id and secret), which GCS accepts for S3 interoperability. What GCS does
 * differently is handled by the backend's "gcs" dialect:
 *   - conditional writes use `x-goog-if-generation-match` (gcs-conditional.ts), which GCS
 *     enforces; multipart uploads (GCS's XML multipart API) are checked by a HEAD right
 *     before completing, as the conditions GCS takes on completion are not documented;
 *   - many keys are deleted one request each (GCS's XML API has no DeleteObjects);
 *   - metadata records `{ "type": "google:cloud-storage", bucket, prefix }`, as the
 *     Python modelstore writes it;
 *   - its error documents (`<Error><Code>…<Message>…<Details>…`) are read like S3's.
 * @see https://cloud.google.com/storage/docs/interoperability
 * @see https://cloud.google.com/storage/docs/aws-simple-migration
 */
import { InvalidArgumentError } from "../../util/errors.ts";
import { s3BackendOfDialect, type S3Backend } from "./s3.ts";
import type { S3BackendOptions } from "./s3-options.ts";

/** GCS's XML API endpoint. */
export const GCS_ENDPOINT = "https://storage.googleapis.com";
/** The `storage.type` the Python modelstore records for GCS. */
export const GCS_STORAGE_TYPE = "google:cloud-storage";

/** Options of {@link gcsBackend}: the S3 backend's, with GCS's credentials and endpoint. */
export interface GcsBackendOptions extends Omit<S3BackendOptions, "credentials" | "region" | "endpoint" | "forcePathStyle" | "conditionalWrites"> {
  /** The bucket. */
  bucket: string;
  /** The HMAC key's access id (Cloud Storage → Settings → Interoperability), e.g. `GOOG1E…`. */
  hmacKeyId: string;
  /** The HMAC key's secret. */
  hmacSecret: string;
  /**
   * The Google Cloud project, for messages and `MODEL_STORE_GCP_PROJECT`; HMAC requests
   * name no project (the key belongs to one).
   */
  project?: string;
  /** The XML API endpoint. @default "https://storage.googleapis.com" */
  endpoint?: string;
  /**
   * The region in the SigV4 scope. GCS takes any for HMAC keys; S3 servers standing in
   * for it (the tests) check theirs. @default "auto"
   */
  region?: string;
  /**
   * `"native"`: GCS enforces `x-goog-if-generation-match`. `"emulate"` checks with a HEAD
   * first, for servers that only speak S3 (the tests run this preset against Swift and Ceph RGW).
   * @default "native"
   */
  conditionalWrites?: "native" | "emulate";
}

/** An S3 backend configured for Google Cloud Storage's XML API (see the file comment). */
export function gcsBackend(options: GcsBackendOptions): S3Backend {
  const { hmacKeyId, hmacSecret, project: _project, endpoint, region, conditionalWrites, ...rest } = options;
  if (!hmacKeyId || !hmacSecret) {
    throw new InvalidArgumentError(
      "gcsBackend: `hmacKeyId` and `hmacSecret` are required: create an HMAC key for a service account (Cloud Storage → Settings → Interoperability) and pass its access id and secret.",
    );
  }
  return s3BackendOfDialect(
    {
      ...rest,
      endpoint: endpoint ?? GCS_ENDPOINT,
      // GCS accepts SigV4 with any region for HMAC keys; "auto" is what its documentation signs with.
      region: region ?? "auto",
      forcePathStyle: true,
      credentials: { accessKeyId: hmacKeyId, secretAccessKey: hmacSecret },
      conditionalWrites: conditionalWrites ?? "native",
    },
    "gcs",
  );
}

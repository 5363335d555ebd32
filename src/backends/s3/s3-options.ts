/** Options of the S3 backend, their defaults and their validation. */
import { InvalidArgumentError } from "../../util/errors.ts";

/** Static AWS credentials. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** For temporary credentials (STS, SSO, instance roles). */
  sessionToken?: string;
}

/**
 * Returns the credentials to sign the next request with. Called before every
 * request, so a provider of rotating tokens should cache and refresh them itself.
 */
export type S3CredentialsProvider = () => Promise<S3Credentials>;

/** Options of {@link s3Backend}. */
export interface S3BackendOptions {
  /** The bucket every key lives in. */
  bucket: string;
  /** Signing region. @default "us-east-1" */
  region?: string;
  /**
   * Base URL of an S3-compatible server, e.g. `http://127.0.0.1:9000`.
   * @default `https://s3.<region>.amazonaws.com`
   */
  endpoint?: string;
  /** Static credentials or an async provider of rotating ones. Required. */
  credentials?: S3Credentials | S3CredentialsProvider;
  /**
   * Address the bucket in the path (`endpoint/bucket/key`) rather than the host
   * name (`bucket.endpoint/key`). Most self-hosted servers need path style.
   * @default true when `endpoint` is set, else false
   */
  forcePathStyle?: boolean;
  /**
   * Bytes per multipart part; objects up to this size go in one PUT. Memory of
   * one upload is bounded by about `partSize × (concurrency + 1)`.
   * S3 requires at least 5 MiB for every part but the last.
   * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
   * @default 8 MiB
   */
  partSize?: number;
  /** Parts uploaded at once. @default 4 */
  concurrency?: number;
  /**
   * Ranged GETs at once when reading a whole object larger than `partSize`,
   * each `partSize` long, pinned to one version by `If-Match` and delivered
   * in order. AWS advises byte-range fetches for throughput, as one
   * connection carries far less than a host can take; the cost is up to
   * `partSize × downloadConcurrency` read ahead. 1 reads with one GET.
   * `s3Reader` always reads with one GET (its bundles leave the parallel reads
   * out); use `s3Backend` for this.
   * @see https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/use-byte-range-fetches.html
   * @default 1
   */
  downloadConcurrency?: number;
  /**
   * How many times a failed replayable request (5xx, 429, SlowDown,
   * RequestTimeout, network error) is retried, with exponential backoff and jitter.
   * @default 3
   */
  retries?: number;
  /** Abort a request that has not been answered within this many milliseconds (then retry it). @default no limit */
  requestTimeoutMs?: number;
  /**
   * Whether `ifNoneMatch`/`ifMatch` puts are enforced by the server.
   * `"probe"` tests the server once, on the first conditional put (see `s3-conditional.ts`);
   * `"native"` trusts it (AWS S3 since 2024); `"emulate"` always checks with HEAD first.
   * @default "probe"
   */
  conditionalWrites?: "probe" | "native" | "emulate";
  /**
   * The fetch to send requests with (a test proxy, an instrumented client).
   * @default nodeFetch (node:http) where Node resolves modelstore-js/s3 to its Node build, else globalThis.fetch
   */
  fetch?: typeof fetch;
}

/** `"gcs"`: Google Cloud Storage's XML API, which differs in conditional writes and multi-delete (see gcs.ts). */
export type S3Dialect = "s3" | "gcs";

/** {@link S3BackendOptions} with defaults applied and values checked. */
export interface ResolvedS3Options {
  bucket: string;
  /** Whose S3 this is: AWS's and the S3-compatible servers', or Google Cloud Storage's XML API (see gcs.ts). */
  dialect: S3Dialect;
  region: string;
  /** Origin plus the path prefix every request starts with, ending without `/`. */
  baseUrl: string;
  /** Host name for messages: never the full URL. */
  host: string;
  credentials: S3CredentialsProvider;
  partSize: number;
  concurrency: number;
  downloadConcurrency: number;
  retries: number;
  requestTimeoutMs?: number;
  conditionalWrites: "probe" | "native" | "emulate";
  fetch: typeof fetch;
}

const MiB = 1024 * 1024;
/** S3's minimum part size (all parts but the last). */
export const MIN_PART_SIZE = 5 * MiB;
/** S3's maximum part size. */
export const MAX_PART_SIZE = 5 * 1024 * MiB;

function positiveInteger(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) {
    throw new InvalidArgumentError(`s3Backend: \`${name}\` must be an integer of at least ${min}, got ${value}.`);
  }
  return value;
}

/** Applies defaults and validates; throws {@link InvalidArgumentError} naming the bad option. */
export function resolveS3Options(options: S3BackendOptions, dialect: S3Dialect = "s3"): ResolvedS3Options {
  const { bucket } = options;
  if (typeof bucket !== "string" || !/^[a-zA-Z0-9.\-_]{1,255}$/.test(bucket)) {
    throw new InvalidArgumentError(`s3Backend: \`bucket\` must be a bucket name (letters, digits, ".", "-", "_"), got ${JSON.stringify(bucket)}.`);
  }
  const region = options.region ?? "us-east-1";
  const creds = options.credentials;
  if (!creds) {
    throw new InvalidArgumentError("s3Backend: `credentials` is required (an access key id and secret, or an async function returning them).");
  }
  const credentials: S3CredentialsProvider = typeof creds === "function" ? creds : async () => creds;
  if (typeof creds !== "function" && (!creds.accessKeyId || !creds.secretAccessKey)) {
    throw new InvalidArgumentError("s3Backend: `credentials` needs both `accessKeyId` and `secretAccessKey`.");
  }
  const partSize = positiveInteger("partSize", options.partSize, 8 * MiB);
  if (partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
    throw new InvalidArgumentError(`s3Backend: \`partSize\` must be between 5 MiB (${MIN_PART_SIZE}) and 5 GiB, got ${partSize}: S3 rejects smaller parts.`);
  }
  let endpoint: URL;
  try {
    endpoint = new URL(options.endpoint ?? `https://s3.${region}.amazonaws.com`);
  } catch (cause) {
    throw new InvalidArgumentError(`s3Backend: \`endpoint\` is not a URL: ${JSON.stringify(options.endpoint)}.`, { cause });
  }
  if (endpoint.search || endpoint.username || endpoint.password) {
    throw new InvalidArgumentError("s3Backend: `endpoint` must not carry a query or user info; pass credentials in `credentials`.");
  }
  // Dotted bucket names break TLS on virtual-hosted URLs, and legacy names with capitals or
  // "_" are no DNS labels at all, so those always go path-style.
  const pathStyle = options.forcePathStyle ?? (options.endpoint !== undefined || /[._A-Z]/.test(bucket));
  const basePath = endpoint.pathname.replace(/\/+$/, "");
  const baseUrl = pathStyle
    ? `${endpoint.origin}${basePath}/${encodeURIComponent(bucket)}`
    : `${endpoint.protocol}//${bucket}.${endpoint.host}${basePath}`;
  const fetchImpl = options.fetch ?? globalThis.fetch?.bind(globalThis);
  if (!fetchImpl) throw new InvalidArgumentError("s3Backend: no global fetch in this runtime; pass `fetch`.");
  const requestTimeoutMs = options.requestTimeoutMs === undefined ? undefined : positiveInteger("requestTimeoutMs", options.requestTimeoutMs, 0);
  return {
    bucket,
    dialect,
    region,
    baseUrl,
    host: new URL(baseUrl).host,
    credentials,
    partSize,
    concurrency: positiveInteger("concurrency", options.concurrency, 4),
    downloadConcurrency: positiveInteger("downloadConcurrency", options.downloadConcurrency, 1),
    retries: positiveInteger("retries", options.retries, 3, 0),
    requestTimeoutMs,
    conditionalWrites: options.conditionalWrites ?? "probe",
    fetch: fetchImpl,
  };
}

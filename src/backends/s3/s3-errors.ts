/**
 * Turns S3 failures into {@link BackendError}s whose messages say what failed
 * and what to do. Messages carry the operation, bucket, key, status and the
 * server's code and message, never credentials, signatures or URLs with queries.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
 */
import { BackendError } from "../../util/errors.ts";
import { decodeXmlText, xmlRootName, xmlText } from "../../util/xml.ts";

/** The S3 API action names the backend performs; used as `BackendError.operation`. */
export type S3Operation =
  | "GetObject"
  | "HeadObject"
  | "HeadBucket"
  | "PutObject"
  | "DeleteObject"
  | "DeleteObjects"
  | "ListObjectsV2"
  | "CreateMultipartUpload"
  | "UploadPart"
  | "CompleteMultipartUpload"
  | "AbortMultipartUpload"
  | "ListMultipartUploads";

/** Where a failure happened, for the message and the error details. */
export interface S3ErrorContext {
  operation: S3Operation;
  bucket: string;
  key?: string;
  /** How many times the request was sent, when it was retried. */
  attempts?: number;
  /** The endpoint's origin (`https://s3.eu-west-1.amazonaws.com`), named when an answer is not S3's. */
  endpoint?: string;
}

/** The IAM permission each operation needs, for AccessDenied advice. */
const PERMISSION: Record<S3Operation, string> = {
  GetObject: "s3:GetObject",
  HeadObject: "s3:GetObject",
  HeadBucket: "s3:ListBucket",
  PutObject: "s3:PutObject",
  DeleteObject: "s3:DeleteObject",
  DeleteObjects: "s3:DeleteObject",
  ListObjectsV2: "s3:ListBucket",
  CreateMultipartUpload: "s3:PutObject",
  UploadPart: "s3:PutObject",
  CompleteMultipartUpload: "s3:PutObject",
  AbortMultipartUpload: "s3:AbortMultipartUpload",
  ListMultipartUploads: "s3:ListBucketMultipartUploads",
};

/** Body-less answers (HEAD, some proxies) still deserve a code. */
const STATUS_CODES: Record<number, string> = {
  400: "BadRequest",
  403: "Forbidden",
  404: "NotFound",
  409: "Conflict",
  412: "PreconditionFailed",
  416: "InvalidRange",
  429: "TooManyRequests",
  500: "InternalError",
  501: "NotImplemented",
  503: "ServiceUnavailable",
};

/** What the caller should do about a server error code. */
function advice(code: string, status: number, ctx: S3ErrorContext): string {
  switch (code) {
    case "SignatureDoesNotMatch":
    case "AuthorizationHeaderMalformed":
      return "Check the secret access key (AWS_SECRET_ACCESS_KEY), the region, and the machine's clock.";
    case "InvalidAccessKeyId":
      return "Check the access key id (AWS_ACCESS_KEY_ID), the secret access key, and the machine's clock.";
    case "RequestTimeTooSkewed":
      return "The machine's clock is off by more than 15 minutes; synchronise it (NTP).";
    case "ExpiredToken":
    case "InvalidToken":
    case "TokenRefreshRequired":
      return "The session token (AWS_SESSION_TOKEN) expired or is invalid; refresh the credentials.";
    case "NoSuchBucket":
      return `Create the bucket "${ctx.bucket}" or fix MODEL_STORE_AWS_BUCKET.`;
    case "AccessDenied":
    case "Forbidden":
      return (
        `The credentials need ${PERMISSION[ctx.operation]} on bucket "${ctx.bucket}"` +
        // Without s3:ListBucket, AWS answers a read of a missing key with 403, not 404.
        (ctx.operation === "GetObject" || ctx.operation === "HeadObject" ? " (and s3:ListBucket, without which a missing key reads as 403)" : "") +
        `${status === 403 && code === "Forbidden" ? " (or the key or clock is wrong: HEAD answers carry no detail)" : ""}.`
      );
    case "PreconditionFailed":
      if (ctx.operation === "GetObject") return "The object was replaced while it was being read; read it again.";
      break;
    case "NoSuchUpload":
      return "The multipart upload was aborted or expired; upload the object again.";
    case "EntityTooSmall":
      return "A multipart part was under the server's minimum size; raise partSize (at least 5 MiB).";
    case "SlowDown":
    case "TooManyRequests":
    case "ServiceUnavailable":
      return "The server is throttling requests; lower `concurrency` or retry later.";
    case "NotImplemented":
      return "This S3-compatible server does not implement the request.";
    case "InternalError":
    case "RequestTimeout":
      return "The server failed; retry later, and check the server's health if it persists.";
  }
  if (status >= 500) return "The server failed; retry later, and check the server's health if it persists.";
  return "See the server's message above.";
}

/** Reads at most `limit` characters of an error body; a failing read yields "". */
async function readErrorBody(response: Response, limit = 64 * 1024): Promise<string> {
  try {
    const text = await response.text();
    return text.slice(0, limit);
  } catch {
    return "";
  }
}

/** Parses an S3 `<Error>` document (already read) into code, message and request id. */
export function parseErrorXml(xml: string): { code?: string; message?: string; requestId?: string } {
  return { code: xmlText(xml, "Code"), message: xmlText(xml, "Message"), requestId: xmlText(xml, "RequestId") };
}

/** `S3 <Operation> of "<key>" in bucket "<bucket>"`: how every message names its request. */
function requestLabel(ctx: S3ErrorContext): string {
  return `S3 ${ctx.operation}${ctx.key !== undefined ? ` of "${ctx.key}"` : ""} in bucket "${ctx.bucket}"`;
}

/** Builds a {@link BackendError} from a parsed error (status, code, message, request id). */
export function s3Error(
  ctx: S3ErrorContext,
  status: number,
  parsed: { code?: string; message?: string; requestId?: string },
  cause?: unknown,
): BackendError {
  const code = parsed.code || STATUS_CODES[status] || `HTTP${status}`;
  const what = requestLabel(ctx);
  const serverMessage = parsed.message ? `: ${parsed.message.replace(/\s+$/, "")}` : "";
  const tries = ctx.attempts && ctx.attempts > 1 ? ` after ${ctx.attempts} attempts` : "";
  // S3 can answer 200 and put the failure in the body (CompleteMultipartUpload does).
  const failed = status >= 200 && status < 300 ? `failed: the server answered ${status} with an error document, ${code}` : `failed with ${status} ${code}`;
  const message = `${what} ${failed}${serverMessage}${tries}. ${advice(code, status, ctx)}`;
  return new BackendError(
    message,
    { backend: "s3", operation: ctx.operation, key: ctx.key, status, serverCode: code, requestId: parsed.requestId },
    cause === undefined ? undefined : { cause },
  );
}

/** Reads a failed response's XML body into a {@link BackendError}. */
export async function errorFromResponse(response: Response, ctx: S3ErrorContext): Promise<BackendError> {
  return errorFromBody(ctx, response, response.bodyUsed ? "" : await readErrorBody(response));
}

/**
 * The failure a non-2xx answer's body describes. S3 explains every failure that has
 * a body with an `<Error>` document; any other body (a web page, a gateway's JSON)
 * did not come from S3, and says so instead of passing for an S3 code.
 */
export function errorFromBody(ctx: S3ErrorContext, response: Response, body: string): BackendError {
  if (isForeignErrorBody(body)) return notS3Error(ctx, { status: response.status, headers: response.headers, body }, "Error");
  const parsed = parseErrorXml(body);
  parsed.requestId ??= response.headers.get("x-amz-request-id") ?? response.headers.get("x-openstack-request-id") ?? undefined;
  return s3Error(ctx, response.status, parsed);
}

/** A failure's body that is not S3's `<Error>` document (an empty body proves nothing: HEAD answers have none). */
export function isForeignErrorBody(body: string): boolean {
  return body.trim() !== "" && xmlRootName(body) !== "Error";
}

const notS3Errors = new WeakSet<object>();

/** True for the errors {@link notS3Error} builds: answers that did not come from an S3 API. */
export function isNotS3Error(error: unknown): boolean {
  return typeof error === "object" && error !== null && notS3Errors.has(error);
}

/** What an answer was, for messages: status, content type and an HTML page's title, never its body. */
function describeAnswer(answer: { status: number; headers: Headers; body?: string }): string {
  const type = (answer.headers.get("content-type") ?? "").split(";")[0].trim().slice(0, 60) || "no content type";
  const rawTitle = answer.body ? /<title[^>]*>([\s\S]*?)<\/title\s*>/i.exec(answer.body)?.[1] : undefined;
  const title = rawTitle ? decodeXmlText(rawTitle).replace(/[\u0000-\u001f\u007f\s]+/g, " ").trim().slice(0, 80) : "";
  return `${answer.status} ${type}${title ? ` ("${title}")` : ""}`;
}

/**
 * An answer that is not S3's: a web server, a console page or a proxy answered in
 * the S3 API's place. Naming the endpoint is the point: the usual cause is an
 * `endpoint` that names a web site. `expected` is the root element S3 sends.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html#API_ListObjectsV2_ResponseSyntax
 */
export function notS3Error(
  ctx: S3ErrorContext,
  answer: { status: number; headers: Headers; body?: string },
  expected: string | undefined,
  cause?: unknown,
): BackendError {
  const where = ctx.endpoint ? ` from ${ctx.endpoint}` : "";
  const instead = expected ? `, where S3 sends <${expected}>` : ", and a listing of the bucket, which S3 answers with <ListBucketResult>, got no S3 answer either";
  const todo =
    answer.status >= 500 || answer.status === 429
      ? "A proxy or web server in front of the S3 API answered in its place (it may be down or overloaded): retry later, and check the endpoint and anything in between if it persists."
      : "The endpoint is not an S3 API (a web site, a console page, a proxy?): set `endpoint` (AWS_ENDPOINT_URL) to the S3 API's URL, and check any proxy in between.";
  const error = new BackendError(
    `${requestLabel(ctx)} got an answer that is not S3's${where}: ${describeAnswer(answer)}${instead}. ${todo}`,
    { backend: "s3", operation: ctx.operation, key: ctx.key, status: answer.status },
    cause === undefined ? undefined : { cause },
  );
  notS3Errors.add(error);
  return error;
}

/** A request that never got an HTTP answer (connection refused or reset, DNS, timeout). */
export function networkError(ctx: S3ErrorContext, endpointHost: string, cause: unknown): BackendError {
  const detail = describeNetworkCause(cause);
  const tries = ctx.attempts && ctx.attempts > 1 ? ` after ${ctx.attempts} attempts` : "";
  const what = requestLabel(ctx);
  return new BackendError(
    `${what} failed: no answer from ${endpointHost} (${detail})${tries}. Check the endpoint and the network.`,
    { backend: "s3", operation: ctx.operation, key: ctx.key },
    { cause },
  );
}

/**
 * A 3xx answer. Redirects are never followed: the request's signed headers (and a
 * session token) would go to another host, and its answer would not be from the endpoint.
 * AWS answers 301 PermanentRedirect with `x-amz-bucket-region` when the bucket is in
 * another region, and 307 TemporaryRedirect while a new bucket's DNS settles.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList
 */
export function redirectError(ctx: S3ErrorContext, response: Response, body: string): BackendError {
  const parsed = parseErrorXml(body);
  const status = response.status;
  const code = parsed.code || (status === 301 ? "PermanentRedirect" : status === 307 ? "TemporaryRedirect" : "Redirect");
  const region = response.headers.get("x-amz-bucket-region") ?? xmlText(body, "Region");
  const target = hostOf(response.headers.get("location")) ?? xmlText(body, "Endpoint");
  const what = requestLabel(ctx);
  const todo =
    code === "PermanentRedirect" || region
      ? `The bucket is not served at this endpoint${region ? ` but in region "${region}"` : ""}: set \`region\` (AWS_REGION)${region ? ` to "${region}"` : ""} or \`endpoint\` to the bucket's regional endpoint.`
      : "Set `endpoint` (and `region`) to where the bucket is served; redirects are not followed, so credentials never leave the endpoint.";
  return new BackendError(
    `${what} was redirected (${status || "redirect"} ${code}${target ? ` to ${target}` : ""}). ${todo}`,
    { backend: "s3", operation: ctx.operation, key: ctx.key, status, serverCode: code, requestId: parsed.requestId },
  );
}

/** The host of a URL, for messages: never its path or query. */
function hostOf(url: string | null): string | undefined {
  try {
    return url ? new URL(url).host : undefined;
  } catch {
    return undefined;
  }
}

/** A credentials provider that threw or returned no key: nothing was sent. */
export function credentialsError(ctx: S3ErrorContext, cause: unknown): BackendError {
  const what = requestLabel(ctx);
  return new BackendError(
    `${what} was not sent: the credentials provider failed (${describeNetworkCause(cause)}). Check the provider (its role, token source or environment) and retry.`,
    { backend: "s3", operation: ctx.operation, key: ctx.key },
    { cause },
  );
}

/** A GetObject body that broke off part-way and could not be resumed. */
export function cutOffError(ctx: S3ErrorContext, received: number, cause: unknown): BackendError {
  const what = `S3 GetObject of "${ctx.key}" in bucket "${ctx.bucket}"`;
  const tries = ctx.attempts && ctx.attempts > 1 ? ` after ${ctx.attempts} attempts` : "";
  return new BackendError(
    `${what} broke off after ${received} bytes of the body (${describeNetworkCause(cause)})${tries}. Read it again; check the network if it persists.`,
    { backend: "s3", operation: "GetObject", key: ctx.key },
    { cause },
  );
}

/** A short reason from fetch's error chain (`ECONNRESET`, `timed out after 30000 ms`...). */
function describeNetworkCause(cause: unknown): string {
  let e: unknown = cause;
  for (let depth = 0; depth < 4 && e; depth++) {
    const err = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof err.code === "string" && /^E[A-Z_]+$/.test(err.code)) return err.code;
    if (!err.cause) return typeof err.message === "string" ? err.message : String(e);
    e = err.cause;
  }
  return "network error";
}

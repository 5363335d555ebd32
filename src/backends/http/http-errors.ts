/** The public HTTP backend's errors: what failed, on which host (never the full URL), and what to do. */
import { BackendError, NotSupportedError } from "../../util/errors.ts";
import { xmlText } from "../../util/xml.ts";

/** A write on the read-only backend. */
export function readOnlyError(operation: "put" | "delete", key: string, host: string): NotSupportedError {
  return new NotSupportedError(
    `Cannot ${operation} "${key}": the public HTTP backend (${host}) is read-only. Upload and delete through a backend with credentials (s3Backend, azureBackend, fileSystemBackend) on the same bucket or folder.`,
  );
}

/** A listing on a server that does not answer S3's ListObjectsV2 anonymously. */
export function unlistableError(host: string, status: number | undefined): NotSupportedError {
  const why = status === undefined ? "listing is turned off (listing: false), so S3's ListObjectsV2 is not asked" : `it answered S3's ListObjectsV2 with ${status} and no <ListBucketResult>`;
  return new NotSupportedError(
    `${host} cannot be listed: ${why}. Without a listing, read models by id (getModelInfo, readFile with an id) and the latest through its pointer (getLatest); to list, make the bucket's listing public, or use a backend with credentials.`,
  );
}

/** Any other failed answer, with S3's error code when the body is an S3 error document. */
export async function httpError(response: Response, operation: string, key: string, host: string): Promise<BackendError> {
  const body = await response.text().catch(() => "");
  const serverCode = /<Error[\s>]/.test(body) ? xmlText(body, "Code") : undefined;
  const advice =
    response.status === 401 || response.status === 403
      ? "The object is not public: make it readable anonymously (a public-read bucket policy or ACL), or pass the header the server needs in `headers`."
      : "Check the URL and the server.";
  return new BackendError(
    `HTTP ${operation} of "${key}" on ${host} failed with ${response.status}${serverCode ? ` ${serverCode}` : ""}. ${advice}`,
    { backend: "http", operation, key, status: response.status, serverCode },
  );
}

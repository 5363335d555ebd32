/**
 * Conditional writes on Google Cloud Storage's XML API. GCS takes `If-Match` and
 * `If-None-Match` on reads only; writes are made conditional on the object's
 * generation instead: `x-goog-if-generation-match: 0` means "only if no live
 * object exists" (create-only), `x-goog-if-generation-match: <n>` "only if the live
 * object is generation n" (compare-and-swap); a failed one answers 412.
 *
 * The store's compare-and-swap passes the ETag it read. So `ifMatch` becomes a HEAD
 * that learns the object's generation (`x-goog-generation`) and checks its ETag,
 * then a PUT conditional on that generation: a writer that lands between the two
 * makes a new generation, and the PUT is refused. Both checks are the server's.
 * @see https://cloud.google.com/storage/docs/request-preconditions
 * @see https://cloud.google.com/storage/docs/xml-api/reference-headers#xgoogifgenerationmatch
 */
import { ConflictError } from "../../util/errors.ts";
import type { PutOptions } from "../backend.ts";
import { normalizeEtag } from "../http-wire.ts";
import type { S3Transport } from "./s3-transport.ts";

/** The generation header GCS answers every object request with. */
export const GENERATION_HEADER = "x-goog-generation";
/** The write precondition on the live object's generation; 0 = no live object. */
export const IF_GENERATION_MATCH = "x-goog-if-generation-match";

/** The headers that make a GCS write conditional as `options` asks; a HEAD first for `ifMatch`. */
export async function gcsConditionHeaders(transport: S3Transport, key: string, options: PutOptions): Promise<Record<string, string>> {
  if (options.ifNoneMatch === "*") return { [IF_GENERATION_MATCH]: "0" };
  if (options.ifMatch === undefined) return {};
  const response = await transport.send({ method: "HEAD", operation: "HeadObject", key, signal: options.signal, accept: [404] });
  const generation = response.headers.get(GENERATION_HEADER);
  const etag = response.headers.get("etag");
  if (response.status === 404 || !etag || normalizeEtag(etag) !== normalizeEtag(options.ifMatch)) {
    throw new ConflictError(
      `Cannot write "${key}": ${response.status === 404 ? "it no longer exists" : `its etag is ${etag}, not ${options.ifMatch}`}; it changed since it was read. Read it again and retry.`,
    );
  }
  if (!generation || !/^\d+$/.test(generation)) {
    throw new ConflictError(
      `Cannot write "${key}" conditionally: the server sent no ${GENERATION_HEADER} header, so it is not Google Cloud Storage. Use s3Backend for other servers.`,
    );
  }
  return { [IF_GENERATION_MATCH]: generation };
}

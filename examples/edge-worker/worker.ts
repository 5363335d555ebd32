/**
 * A Cloudflare-style module worker that serves models out of an R2 bucket
 * bound as MODELS (no keys in code), or any S3 bucket when no binding is set:
 *
 *   GET /models/:domain/latest           the latest model's metadata (JSON)
 *   GET /models/:domain/latest/files/*   one file of the latest model, streamed out of its archive;
 *                                        `Range` answered with 206, ETag = the file's SHA-256
 *   GET /models/:domain/:state           the newest model in a model state ("production"), likewise
 *   GET /models/:domain/:state/files/*   one file of it
 *
 * Each request reads `latest.json`, and for a file the archive only up to the
 * end of that file: nothing is buffered, so archives far larger than a
 * worker's 128 MB of memory are fine. Responses carry the model id as `ETag`
 * (a matching `If-None-Match` gets 304 without touching the archive), files of
 * archives with a table of contents their SHA-256, and a short `Cache-Control`,
 * so a CDN can cache them and revalidate cheaply.
 *
 * Bindings: MODELS (an R2 bucket), or else S3_BUCKET, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and optionally S3_ENDPOINT (S3-compatible servers),
 * S3_REGION (default us-east-1); MODEL_STORE_ROOT_PREFIX either way.
 * wrangler.toml beside this file declares them.
 * The package is imported by name, as an app would: in this repository
 * tsconfig.json `paths` points the name at src/, which esbuild (build.mjs,
 * wrangler) and tsc both follow.
 */
import { ModelStore, ModelStoreError, type ModelMetadata } from "modelstore-js";
import { s3Backend } from "modelstore-js/s3";
import { r2Backend, type R2BucketBinding } from "modelstore-js/r2";

/** The worker's bindings (wrangler `vars` and secrets). */
export interface Env {
  /** An R2 bucket binding ([[r2_buckets]] in wrangler.toml): used when set. */
  MODELS?: R2BucketBinding;
  S3_BUCKET?: string;
  AWS_ACCESS_KEY_ID?: string;
  AWS_SECRET_ACCESS_KEY?: string;
  S3_ENDPOINT?: string;
  S3_REGION?: string;
  MODEL_STORE_ROOT_PREFIX?: string;
}

// "latest" moves when a model is uploaded: let caches keep an answer briefly,
// then revalidate with the ETag (a 304 costs one small latest.json read).
const CACHE_CONTROL = "public, max-age=60, stale-while-revalidate=300";

// The second segment is "latest" or a model state (see store.setModelState).
const ROUTE = /^\/models\/([^/]+)\/([^/]+)(?:\/files\/(.+))?$/;

// HTTP status per ModelStoreError code; anything else is the server's fault.
const STATUS: Record<string, number> = { NOT_FOUND: 404, INVALID_ARGUMENT: 400, INTEGRITY: 502, INVALID_ARCHIVE: 502, BACKEND: 502 };

function storeFor(env: Env): ModelStore {
  const backend = env.MODELS
    ? r2Backend({ bucket: env.MODELS })
    : s3Backend({
        bucket: env.S3_BUCKET ?? "",
        endpoint: env.S3_ENDPOINT || undefined,
        region: env.S3_REGION || undefined,
        credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID ?? "", secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? "" },
      });
  // As in the Python library, a root prefix goes in front of the layout's own root.
  const prefix = env.MODEL_STORE_ROOT_PREFIX?.replace(/\/+$/, "");
  return new ModelStore({ backend, rootPrefix: prefix ? `${prefix}/operatorai-model-store` : undefined });
}

function jsonError(status: number, code: string, message: string, headers: HeadersInit = {}): Response {
  return Response.json({ error: { code, message } }, { status, headers: { "cache-control": "no-store", ...headers } });
}

function contentType(path: string): string {
  if (path.endsWith(".json")) return "application/json";
  if (path.endsWith(".txt") || path.endsWith(".md")) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

/** Headers that let a CDN cache by model id. */
function cacheHeaders(meta: ModelMetadata): Record<string, string> {
  return { etag: `"${meta.model.model_id}"`, "cache-control": CACHE_CONTROL, "x-model-id": meta.model.model_id };
}

function notModified(request: Request, meta: ModelMetadata): boolean {
  const wanted = request.headers.get("if-none-match");
  return wanted !== null && wanted.split(",").some((tag) => tag.trim().replace(/^W\//, "") === `"${meta.model.model_id}"`);
}

async function handle(request: Request, env: Env): Promise<Response> {
  if (request.method !== "GET") return jsonError(405, "METHOD_NOT_ALLOWED", "Only GET is supported.", { allow: "GET" });
  const match = ROUTE.exec(new URL(request.url).pathname);
  if (!match) return jsonError(404, "NOT_FOUND", "No such route. Use GET /models/:domain/latest, /models/:domain/:state or either followed by /files/:path.");
  let domain: string;
  let state: string | undefined;
  let path: string | undefined;
  try {
    domain = decodeURIComponent(match[1]);
    state = match[2] === "latest" ? undefined : decodeURIComponent(match[2]);
    path = match[3] === undefined ? undefined : decodeURIComponent(match[3]);
  } catch {
    return jsonError(400, "INVALID_ARGUMENT", "The path is not valid percent-encoding.");
  }

  const store = storeFor(env);
  const meta = await store.getLatest(domain, { state, signal: request.signal });
  if (notModified(request, meta)) return new Response(null, { status: 304, headers: cacheHeaders(meta) });
  if (path === undefined) return Response.json(meta, { headers: cacheHeaders(meta) });
  if (meta.archive?.index) return serveIndexedFile(request, store, meta, path);

  // openFile is readFile for metadata already in hand: latest.json is read once, then only the archive.
  const body = await store.openFile(meta, path, { signal: request.signal });
  if (!body) {
    return jsonError(404, "NOT_FOUND", `Model "${meta.model.model_id}" in domain "${domain}" has no file "${path}".`);
  }
  return new Response(body, { headers: { ...cacheHeaders(meta), "content-type": contentType(path) } });
}

/**
 * A file of an archive with a table of contents: its SHA-256 is the ETag (a
 * matching If-None-Match is a 304 after one small read of the index), and a
 * single `Range` is answered with 206 from the members that hold those bytes
 * (RFC 9110 §14, https://www.rfc-editor.org/rfc/rfc9110#section-14).
 */
async function serveIndexedFile(request: Request, store: ModelStore, meta: ModelMetadata, path: string): Promise<Response> {
  const signal = request.signal;
  const wanted = path.replace(/^(\.\/|\/)+/, "");
  const file = (await store.listFilesOf(meta, { signal })).find((f) => f.path === wanted);
  if (!file) return jsonError(404, "NOT_FOUND", `Model "${meta.model.model_id}" in domain "${meta.model.domain}" has no file "${path}".`);
  const headers: Record<string, string> = { ...cacheHeaders(meta), etag: `"${file.sha256}"`, "accept-ranges": "bytes", "content-type": contentType(path) };
  const tags = request.headers.get("if-none-match");
  if (tags !== null && tags.split(",").some((tag) => [`"${file.sha256}"`, "*"].includes(tag.trim().replace(/^W\//, "")))) {
    return new Response(null, { status: 304, headers });
  }
  const range = parseRange(request.headers.get("range"), file.size);
  if (range === "unsatisfiable") {
    return new Response(null, { status: 416, headers: { ...headers, "content-range": `bytes */${file.size}` } });
  }
  if (range) {
    const length = range.end - range.start + 1;
    const body = await store.openFile(meta, wanted, { signal, range: { offset: range.start, length } });
    if (!body) return jsonError(404, "NOT_FOUND", `Model "${meta.model.model_id}" in domain "${meta.model.domain}" has no file "${path}".`);
    return new Response(withLength(body, length), {
      status: 206,
      headers: { ...headers, "content-range": `bytes ${range.start}-${range.end}/${file.size}` },
    });
  }
  const body = await store.openFile(meta, wanted, { signal });
  if (!body) return jsonError(404, "NOT_FOUND", `Model "${meta.model.model_id}" in domain "${meta.model.domain}" has no file "${path}".`);
  return new Response(withLength(body, file.size), { headers });
}

/** workerd's stream that sends a Content-Length and errors unless exactly that many bytes pass. */
declare const FixedLengthStream: (new (length: number) => TransformStream<Uint8Array, Uint8Array>) | undefined;

/**
 * `body` sent with its length declared (workerd's FixedLengthStream). A read
 * that fails part-way (a corrupted member, a lying index) then ends the
 * response short of its Content-Length, which clients and caches see as
 * truncated, instead of as a complete file that happens to be shorter.
 */
function withLength(body: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  if (typeof FixedLengthStream !== "function") return body;
  return body.pipeThrough(new FixedLengthStream(length));
}

/**
 * One `bytes=` range as first and last byte positions (RFC 9110 §14.1.2), or
 * "unsatisfiable" (416). Several ranges, or a header that does not parse, are
 * ignored (the whole file is served), as RFC 9110 §14.2 allows.
 */
function parseRange(header: string | null, size: number): { start: number; end: number } | "unsatisfiable" | undefined {
  const match = header === null ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return undefined;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (match[2] !== "" && Number(match[2]) < start) return undefined;
  return start >= size ? "unsatisfiable" : { start, end };
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    try {
      return await handle(request, env);
    } catch (error) {
      if (error instanceof ModelStoreError) return jsonError(STATUS[error.code] ?? 500, error.code, error.message);
      console.error(error);
      return jsonError(500, "INTERNAL", "The worker failed; see its logs.");
    }
  },
};

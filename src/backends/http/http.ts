/**
 * The public HTTP backend: a read-only store served over plain HTTP(S) with no
 * credentials (a public bucket, an R2 custom domain, a CDN, a static file host).
 * Reads are GETs, ranged with `Range`, and HEADs; listing is S3's ListObjectsV2,
 * only where the server answers it anonymously (a public-read bucket). Every write
 * fails with `NOT_SUPPORTED`. Runtime-neutral: browsers and workers can read models.
 * @see https://www.rfc-editor.org/rfc/rfc9110#name-range-requests
 */
import type { Backend, BackendCapabilities, BaseOptions, GetOptions, ListOptions, ObjectInfo, StorageLocation } from "../backend.ts";
import { emptyStream, isEmptyRange, listQuery, nextPageCursor, normalizeEtag, parseListPage, rangeHeader, type ListPage } from "../http-wire.ts";
import { BackendError, InvalidArgumentError, throwIfAborted } from "../../util/errors.ts";
import { sliceStream } from "../../util/streams.ts";
import { httpError, readOnlyError, unlistableError } from "./http-errors.ts";

/** Options of {@link httpBackend}. */
export interface HttpBackendOptions {
  /**
   * The URL the store's keys are relative to: a public bucket's URL
   * (`https://models.s3.eu-west-1.amazonaws.com`, `https://<host>/<bucket>`), an R2
   * custom domain, or the folder a file-system store is served from. Keys are
   * appended after a `/`, each segment percent-encoded.
   */
  baseUrl: string;
  /**
   * List with S3's ListObjectsV2 at `baseUrl`. A server that does not answer it with a
   * `<ListBucketResult>` makes every listing fail with `NOT_SUPPORTED` (getLatest then
   * reads the latest pointers alone). `false` never asks.
   * @default true
   */
  listing?: boolean;
  /** Headers sent with every request (an `Authorization` for a private CDN, say). @default none */
  headers?: Record<string, string>;
  /** Retries of a GET, HEAD or list that failed with 5xx, 429 or a network error. @default 2 */
  retries?: number;
  /** The fetch to send requests with. @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** The public HTTP {@link Backend}: reads only. */
export interface HttpBackend extends Backend {
  readonly name: "http";
  /** `baseUrl` without a trailing `/`. */
  readonly baseUrl: string;
}

/** Creates an {@link HttpBackend}; throws {@link InvalidArgumentError} for a `baseUrl` that is not an http(s) URL. */
export function httpBackend(options: HttpBackendOptions): HttpBackend {
  return new HttpReadOnlyBackend(options);
}

/** Keys per listing page, S3's maximum. */
const PAGE_SIZE = 1000;

class HttpReadOnlyBackend implements HttpBackend {
  readonly name = "http" as const;
  readonly capabilities: BackendCapabilities = { conditionalWrites: false };
  readonly baseUrl: string;
  /** Host for messages: never the full URL, which may carry a token. */
  readonly #host: string;
  readonly #fetch: typeof fetch;
  readonly #headers: Record<string, string>;
  readonly #retries: number;
  /** Whether the server answered ListObjectsV2: unknown until asked, then settled. */
  #listing: boolean | undefined;
  /** The status the server refused its first listing with. */
  #listingRefusal: number | undefined;
  /** Milliseconds before the first retry; doubled each time. Tests lower it. */
  backoffMs = 100;

  constructor(options: HttpBackendOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch (cause) {
      throw new InvalidArgumentError(`httpBackend: \`baseUrl\` is not a URL: ${JSON.stringify(options.baseUrl)}. Pass e.g. "https://models.example.com/store".`, { cause });
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new InvalidArgumentError(`httpBackend: \`baseUrl\` must be an http or https URL, got ${url.protocol}.`);
    }
    if (url.search || url.hash) throw new InvalidArgumentError("httpBackend: `baseUrl` must not carry a query or fragment; pass headers in `headers`.");
    this.baseUrl = url.toString().replace(/\/+$/, "");
    this.#host = url.host;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#headers = options.headers ?? {};
    this.#retries = options.retries ?? 2;
    this.#listing = options.listing === false ? false : undefined;
  }

  #url(key: string | undefined, query?: Record<string, string | undefined>): string {
    if (key !== undefined) checkKey(key);
    let url = this.baseUrl + "/" + (key === undefined ? "" : key.split("/").map(encodeURIComponent).join("/"));
    const params = Object.entries(query ?? {}).filter((entry): entry is [string, string] => entry[1] !== undefined);
    if (params.length > 0) url += "?" + new URLSearchParams(params).toString();
    return url;
  }

  /** One request, retried on 5xx, 429 and network errors; any other status is the caller's to read. */
  async #send(method: "GET" | "HEAD", key: string | undefined, headers: Record<string, string>, signal?: AbortSignal, query?: Record<string, string | undefined>): Promise<Response> {
    const url = this.#url(key, query);
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal);
      let response: Response;
      try {
        response = await this.#fetch(url, { method, headers: { ...this.#headers, ...headers }, signal });
      } catch (cause) {
        throwIfAborted(signal);
        if (attempt < this.#retries) {
          await sleep(this.backoffMs * 2 ** attempt);
          continue;
        }
        throw new BackendError(
          `HTTP ${method}${key === undefined ? "" : ` of "${key}"`} could not reach ${this.#host}: ${(cause as Error)?.message ?? cause}. Check the URL and the network.`,
          { backend: "http", operation: method, key },
          { cause },
        );
      }
      if ((response.status >= 500 || response.status === 429) && attempt < this.#retries) {
        await response.body?.cancel().catch(() => {});
        await sleep(this.backoffMs * 2 ** attempt);
        continue;
      }
      return response;
    }
  }

  /** GET, ranged when asked; 404 and 410 → null. A server that ignores `Range` (200) is sliced here. */
  async get(key: string, options: GetOptions = {}): Promise<ReadableStream<Uint8Array> | null> {
    const { range } = options;
    if (isEmptyRange(key, range)) return (await this.head(key, options)) ? emptyStream() : null;
    const response = await this.#send("GET", key, range ? { range: rangeHeader(range.offset, range.length) } : {}, options.signal);
    if (response.status === 404 || response.status === 410) {
      await response.body?.cancel().catch(() => {});
      return null;
    }
    if (response.status === 416) {
      await response.body?.cancel().catch(() => {});
      return emptyStream();
    }
    if (!response.ok) throw await httpError(response, "GET", key, this.#host);
    const body = response.body ?? emptyStream();
    if (range && response.status === 200) {
      const end = range.length === undefined ? Number.MAX_SAFE_INTEGER : range.offset + range.length;
      return body.pipeThrough(sliceStream(range.offset, end));
    }
    return body;
  }

  /** HEAD; 404 and 410 → null. Size from Content-Length, the version tag from ETag (else Last-Modified). */
  async head(key: string, options: BaseOptions = {}): Promise<ObjectInfo | null> {
    const response = await this.#send("HEAD", key, {}, options.signal);
    if (response.status === 404 || response.status === 410) return null;
    if (!response.ok) throw await httpError(response, "HEAD", key, this.#host);
    const modified = response.headers.get("last-modified");
    const date = modified ? new Date(modified) : undefined;
    const valid = date && !Number.isNaN(date.getTime());
    const etag = response.headers.get("etag") ?? (modified ? `W/"${modified}"` : "");
    return {
      key,
      size: Number(response.headers.get("content-length") ?? 0),
      etag: etag ? normalizeEtag(etag) : "",
      ...(valid ? { lastModified: date.toISOString() } : {}),
    };
  }

  async put(key: string): Promise<ObjectInfo> {
    throw readOnlyError("put", key, this.#host);
  }

  async delete(key: string): Promise<void> {
    throw readOnlyError("delete", key, this.#host);
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    let remaining = options.limit ?? Infinity;
    for await (const page of this.#pages(prefix, undefined, options.signal)) {
      for (const object of page.objects) {
        if (remaining-- <= 0) return;
        yield object;
      }
    }
  }

  async *listPrefixes(prefix: string, options: BaseOptions = {}): AsyncIterable<string> {
    for await (const page of this.#pages(prefix, "/", options.signal)) yield* page.prefixes;
  }

  /** ListObjectsV2 pages, anonymously; `NOT_SUPPORTED` when the server does not answer it. */
  async *#pages(prefix: string, delimiter: string | undefined, signal?: AbortSignal): AsyncGenerator<ListPage> {
    if (this.#listing === false) throw unlistableError(this.#host, this.#listingRefusal);
    let token: string | undefined;
    let startAfter: string | undefined;
    for (;;) {
      const response = await this.#send("GET", undefined, {}, signal, listQuery(prefix, { delimiter, maxKeys: PAGE_SIZE, token, startAfter }));
      const text = await response.text().catch(() => "");
      if (!response.ok || !/<ListBucketResult[\s>]/.test(text)) {
        // Only a server that never listed is marked unlistable: a failure mid-way is a failure.
        if (this.#listing === undefined && (response.ok || response.status === 403 || response.status === 404 || response.status === 405 || response.status === 400)) {
          this.#listing = false;
          this.#listingRefusal = response.status;
          throw unlistableError(this.#host, response.status);
        }
        throw await httpError(new Response(text, { status: response.status, headers: response.headers }), "LIST", prefix, this.#host);
      }
      this.#listing = true;
      const page = parseListPage(text);
      yield page;
      const next = nextPageCursor(page);
      if (!next) return;
      ({ token, startAfter } = next);
    }
  }

  locate(key: string): StorageLocation {
    return { type: "http", prefix: key };
  }

  /**
   * The key a recorded location names: the prefix of a bucket's location (`aws:s3`,
   * `google:cloud-storage`, `azure:blob-storage`...), read below this URL whatever
   * bucket it names, since a public URL is how that bucket is reached. A file-system
   * location (no prefix) throws, and the store finds the key below its root prefix.
   */
  keyOf(location: StorageLocation): string {
    if (!location.prefix) {
      throw new InvalidArgumentError(`This model's archive is stored at ${JSON.stringify(location)}, which names no key; serve the store's root folder at ${this.#host}.`);
    }
    return location.prefix;
  }
}

/** Keys travel in the URL path: `.` and `..` segments would be resolved away, naming another object. */
function checkKey(key: string): void {
  if (typeof key !== "string" || key.length === 0 || key.split("/").some((segment) => segment === "." || segment === "..")) {
    throw new InvalidArgumentError(`HTTP keys must be non-empty, without "." or ".." segments, got ${JSON.stringify(key)}.`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The Azure Blob Storage backend, over `fetch` with a SharedKey signer on WebCrypto
 * (or a SAS token), so it runs in Node, Deno, Bun and workers.
 * REST reference: https://learn.microsoft.com/rest/api/storageservices/blob-service-rest-api
 */
import type { Backend, BackendCapabilities, BaseOptions, CollectGarbageOptions, GetOptions, Leftover, ListOptions, ObjectInfo, PutOptions, SignedUrlOptions, StorageLocation } from "../backend.ts";
import { AbortedError, AlreadyExistsError, BackendError, ConflictError, InvalidArgumentError } from "../../util/errors.ts";
import { xmlElements, xmlText } from "../../util/xml.ts";
import { accountFromEndpoint, base64Encode, parseConnectionString, SharedKeySigner, type AzureCredentials } from "./azure-auth.ts";
import { azureError, parseAzureError } from "./azure-errors.ts";
import { signedBlobUrl } from "./azure-sas.ts";

/** The `storage.type` the Python modelstore records for Azure, with `{ container, prefix }`. */
export const AZURE_STORAGE_TYPE = "azure:blob-storage";
/** The REST API version sent as `x-ms-version`; Azurite 3.35 accepts it. */
const API_VERSION = "2024-11-04";
const MiB = 1024 * 1024;

/** Options for {@link azureBackend}. Give one of `accountKey`, `sasToken` or `connectionString`. */
export interface AzureBackendOptions {
  /** The container holding the store. */
  container: string;
  /** The storage account name; read from `connectionString` or `endpoint` when omitted. */
  account?: string;
  /** The account key (base64), for SharedKey signing. */
  accountKey?: string;
  /** A SAS token (with or without the leading `?`), appended to every request. */
  sasToken?: string;
  /** A connection string from the portal, or `UseDevelopmentStorage=true` for Azurite. */
  connectionString?: string;
  /** The blob endpoint. @default `https://<account>.blob.core.windows.net` */
  endpoint?: string;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Bytes per staged block; bodies up to this size go in one Put Blob. @default 8 MiB */
  blockSize?: number;
  /** Blocks staged at once; memory stays near `blockSize × (concurrency + 1)`. @default 4 */
  concurrency?: number;
  /** Retries of a request that failed with 408, 429, 5xx or a network error. @default 3 */
  retries?: number;
}

/** The Azure Blob backend's type: a Backend with locate/keyOf for Python's metadata. */
export interface AzureBackend extends Backend {
  readonly container: string;
  locate(key: string): StorageLocation;
  keyOf(location: StorageLocation): string;
  signedUrl(key: string, options: SignedUrlOptions): Promise<string>;
}

/** Creates an Azure Blob Storage backend. */
export function azureBackend(options: AzureBackendOptions): AzureBackend {
  return new AzureBlobBackend(options);
}

function checkSignal(signal?: AbortSignal): void {
  if (signal?.aborted) throw new AbortedError("The Azure request was aborted by its AbortSignal; an interrupted upload leaves nothing visible.", { cause: signal.reason });
}

function normalizeEtag(etag: string): string {
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

class AzureBlobBackend implements AzureBackend {
  readonly name = "azure";
  readonly capabilities: BackendCapabilities = { conditionalWrites: true };
  readonly container: string;
  private readonly credentials: AzureCredentials;
  private readonly signer?: SharedKeySigner;
  private readonly sas?: URLSearchParams;
  private readonly fetchFn: typeof fetch;
  private readonly blockSize: number;
  private readonly concurrency: number;
  private readonly retries: number;
  /** Milliseconds before the first retry; doubled each time. */
  backoffMs = 200;

  constructor(options: AzureBackendOptions) {
    if (!options.container) throw new InvalidArgumentError("azureBackend() needs a container name (MODEL_STORE_AZURE_CONTAINER).");
    this.container = options.container;
    let creds: AzureCredentials;
    if (options.connectionString) {
      creds = parseConnectionString(options.connectionString);
      if (options.endpoint) creds.endpoint = options.endpoint.replace(/\/+$/, "");
    } else {
      const endpoint = (options.endpoint ?? (options.account ? `https://${options.account}.blob.core.windows.net` : "")).replace(/\/+$/, "");
      if (!endpoint) throw new InvalidArgumentError("azureBackend() needs an account, an endpoint or a connection string (AZURE_STORAGE_ACCOUNT or AZURE_STORAGE_CONNECTION_STRING).");
      creds = { account: options.account ?? accountFromEndpoint(endpoint), endpoint, accountKey: options.accountKey, sasToken: options.sasToken };
    }
    if (options.account) creds.account = options.account;
    this.credentials = creds;
    if (creds.accountKey) this.signer = new SharedKeySigner(creds.account, creds.accountKey);
    else if (creds.sasToken) this.sas = new URLSearchParams(creds.sasToken.replace(/^\?/, ""));
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.blockSize = options.blockSize ?? 8 * MiB;
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.retries = options.retries ?? 3;
    if (!(this.blockSize > 0) || this.blockSize > 4000 * MiB) throw new InvalidArgumentError("blockSize must be between 1 byte and 4000 MiB (Azure's largest block).");
  }

  private url(key: string | undefined, query: Record<string, string | undefined>): URL {
    const path = key === undefined ? "" : "/" + key.split("/").map(encodeURIComponent).join("/");
    const url = new URL(`${this.credentials.endpoint}/${encodeURIComponent(this.container)}${path}`);
    for (const [name, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(name, value);
    if (this.sas) for (const [name, value] of this.sas) url.searchParams.set(name, value);
    return url;
  }

  /** Sends one signed request, retrying throttling, server errors and network failures. */
  private async request(
    operation: string,
    method: string,
    key: string | undefined,
    init: { query?: Record<string, string | undefined>; headers?: Record<string, string>; body?: Uint8Array; signal?: AbortSignal },
  ): Promise<Response> {
    const url = this.url(key, init.query ?? {});
    for (let attempt = 0; ; attempt++) {
      checkSignal(init.signal);
      const headers = new Headers(init.headers);
      headers.set("x-ms-date", new Date().toUTCString());
      headers.set("x-ms-version", API_VERSION);
      const length = init.body?.byteLength ?? 0;
      if (method === "PUT") headers.set("content-length", String(length));
      if (this.signer) await this.signer.sign(method, url, headers, length);
      let response: Response;
      try {
        response = await this.fetchFn(url, { method, headers, body: init.body as BodyInit | undefined, signal: init.signal });
      } catch (cause) {
        if (init.signal?.aborted) checkSignal(init.signal);
        if (attempt < this.retries) {
          await this.sleep(attempt, init.signal);
          continue;
        }
        throw new BackendError(
          `Azure Blob ${operation}${key === undefined ? "" : ` of "${key}"`} could not reach ${url.host}: ${(cause as Error)?.message ?? cause}. Check the endpoint and the network.`,
          { backend: "azure", operation, key },
          { cause },
        );
      }
      if ((response.status === 408 || response.status === 429 || response.status >= 500) && attempt < this.retries) {
        await response.body?.cancel();
        await this.sleep(attempt, init.signal);
        continue;
      }
      return response;
    }
  }

  private sleep(attempt: number, signal?: AbortSignal): Promise<void> {
    const ms = this.backoffMs * 2 ** attempt * (0.5 + Math.random() / 2);
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
    });
  }

  private async fail(operation: string, key: string | undefined, response: Response): Promise<never> {
    const body = await response.text().catch(() => "");
    throw azureError(operation, key, response, body);
  }

  async get(key: string, options: GetOptions = {}): Promise<ReadableStream<Uint8Array> | null> {
    const headers: Record<string, string> = {};
    const range = options.range;
    if (range) {
      if (range.length === 0) {
        // A zero-length read: Azure has no empty range, so check the blob exists and yield nothing.
        return (await this.head(key, options)) ? new ReadableStream({ start: (c) => c.close() }) : null;
      }
      headers["x-ms-range"] = `bytes=${range.offset}-${range.length === undefined ? "" : range.offset + range.length - 1}`;
    }
    const response = await this.request("GET", "GET", key, { headers, signal: options.signal });
    if (response.status === 404) {
      await response.body?.cancel();
      return null;
    }
    if (response.status === 416) {
      await response.body?.cancel();
      return new ReadableStream({ start: (c) => c.close() });
    }
    if (!response.ok) return this.fail("GET", key, response);
    const body = response.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    const signal = options.signal;
    if (!signal) return body;
    // fetch ends an aborted body with a DOMException: report the library's ABORTED instead.
    const reader = body.getReader();
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (cause) {
          controller.error(signal.aborted ? new AbortedError("The Azure download was aborted by its AbortSignal.", { cause }) : cause);
        }
      },
      cancel: (reason) => reader.cancel(reason),
    });
  }

  async head(key: string, options: BaseOptions = {}): Promise<ObjectInfo | null> {
    const response = await this.request("HEAD", "HEAD", key, { signal: options.signal });
    if (response.status === 404) return null;
    if (!response.ok) {
      const code = response.headers.get("x-ms-error-code") ?? undefined;
      throw azureError("HEAD", key, response, code ? `<Error><Code>${code}</Code></Error>` : "");
    }
    return infoFromHeaders(key, response.headers);
  }

  async delete(key: string, options: BaseOptions = {}): Promise<void> {
    const response = await this.request("DELETE", "DELETE", key, { signal: options.signal });
    if (response.status === 404) {
      await response.body?.cancel();
      return;
    }
    if (!response.ok) return this.fail("DELETE", key, response);
    await response.body?.cancel();
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    let remaining = options.limit ?? Infinity;
    for await (const page of this.pages(prefix, undefined, options.signal)) {
      const infos = xmlElements(page, "Blob").map((blob): ObjectInfo => {
        const properties = xmlElements(blob, "Properties")[0] ?? "";
        const lastModified = xmlText(properties, "Last-Modified");
        return {
          key: xmlText(blob, "Name") ?? "",
          size: Number(xmlText(properties, "Content-Length") ?? 0),
          etag: normalizeEtag(xmlText(properties, "Etag") ?? ""),
          lastModified: lastModified ? new Date(lastModified).toISOString() : undefined,
        };
      });
      // Azurite orders names by UTF-16 units; the contract is code-point order (Azure's own, UTF-8 byte order).
      // Sorting within a page fixes the keys that differ only above U+FFFF (surrogate pairs).
      infos.sort((a, b) => compareCodePoints(a.key, b.key));
      for (const info of infos) {
        if (remaining <= 0) return;
        yield info;
        remaining--;
      }
      if (remaining <= 0) return;
    }
  }

  async *listPrefixes(prefix: string, options: BaseOptions = {}): AsyncIterable<string> {
    for await (const page of this.pages(prefix, "/", options.signal)) {
      for (const entry of xmlElements(page, "BlobPrefix")) {
        const name = xmlText(entry, "Name");
        if (name) yield name;
      }
    }
  }

  /**
   * Blobs below `prefix` that hold only uncommitted blocks (an upload killed
   * before its Put Block List), last touched before `options.before`: listed
   * with `include=uncommittedblobs` and not without it. Each is deleted unless
   * `dryRun`. Blocks staged over a committed blob cannot be dropped without
   * touching it; Azure discards those, like all uncommitted blocks, after a week.
   */
  async *collectGarbage(prefix: string, options: CollectGarbageOptions): AsyncIterable<Leftover> {
    const committed = new Set<string>();
    for await (const page of this.pages(prefix, undefined, options.signal)) {
      for (const blob of xmlElements(page, "Blob")) committed.add(xmlText(blob, "Name") ?? "");
    }
    for await (const page of this.pages(prefix, undefined, options.signal, "uncommittedblobs")) {
      for (const blob of xmlElements(page, "Blob")) {
        const key = xmlText(blob, "Name") ?? "";
        const modified = xmlText(xmlElements(blob, "Properties")[0] ?? "", "Last-Modified");
        const lastModified = modified ? new Date(modified) : undefined;
        if (!key || committed.has(key) || !lastModified || !(lastModified < options.before)) continue;
        if (!options.dryRun) await this.delete(key, { signal: options.signal });
        yield { kind: "uncommitted-blocks", key, lastModified: lastModified.toISOString() };
      }
    }
  }

  /** List Blobs pages, following NextMarker. */
  private async *pages(prefix: string, delimiter: string | undefined, signal?: AbortSignal, include?: string): AsyncIterable<string> {
    let marker: string | undefined;
    do {
      const response = await this.request("LIST", "GET", undefined, {
        query: { restype: "container", comp: "list", prefix: prefix || undefined, delimiter, marker, include },
        signal,
      });
      if (!response.ok) await this.fail("LIST", prefix, response);
      const page = await response.text();
      yield page;
      marker = xmlText(page, "NextMarker") || undefined;
    } while (marker);
  }

  /** A read-only service SAS URL for the blob (see azure-sas.ts); needs the account key. */
  signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    checkSignal(options.signal);
    return signedBlobUrl(this.signer, this.credentials.account, this.container, key, this.url(key, {}), options);
  }

  locate(key: string): StorageLocation {
    return { type: AZURE_STORAGE_TYPE, container: this.container, prefix: key };
  }

  keyOf(location: StorageLocation): string {
    if (location.type !== AZURE_STORAGE_TYPE || location.container !== this.container || !location.prefix) {
      throw new InvalidArgumentError(
        `This model's archive is stored at ${JSON.stringify(location)}, not in Azure container "${this.container}". Open a store on that location to read it.`,
      );
    }
    return location.prefix;
  }

  /**
   * Put Blob for bodies up to `blockSize`; else blocks staged `concurrency` at a time
   * and committed with Put Block List. Uncommitted blocks are invisible, so a failed
   * upload leaves nothing a reader can see (Azure discards them after a week).
   */
  async put(key: string, body: Uint8Array | ReadableStream<Uint8Array>, options: PutOptions = {}): Promise<ObjectInfo> {
    checkSignal(options.signal);
    const conditions = conditionHeaders(options);
    const contentType = options.contentType ?? "application/octet-stream";
    if (body instanceof Uint8Array && body.byteLength <= this.blockSize) {
      return this.putBlob(key, body, contentType, conditions, options);
    }
    const reader = chunksOf(body instanceof Uint8Array ? streamOf(body) : body, this.blockSize, options.signal);
    const first = await reader.next();
    const firstBlock = first.done ? new Uint8Array(0) : first.value;
    const second = first.done ? first : await reader.next();
    if (second.done) return this.putBlob(key, firstBlock, contentType, conditions, options);
    // Fail early on create-only writes to a key that exists, before uploading every block.
    if (options.ifNoneMatch === "*" && (await this.head(key, options))) throw alreadyExists(key);
    const ids: string[] = [];
    const running = new Set<Promise<void>>();
    let failure: unknown;
    const stage = (block: Uint8Array) => {
      const id = base64Encode(new TextEncoder().encode(`block-${String(ids.length).padStart(6, "0")}`));
      ids.push(id);
      const task = this.putBlock(key, id, block, options.signal).catch((error) => { failure ??= error; });
      running.add(task);
      void task.finally(() => running.delete(task));
    };
    try {
      stage(firstBlock);
      stage(second.value);
      for (let next = await reader.next(); !next.done; next = await reader.next()) {
        if (failure) break;
        checkSignal(options.signal);
        while (running.size >= this.concurrency) await Promise.race(running);
        stage(next.value);
      }
      await Promise.all(running);
      if (failure) throw failure;
      checkSignal(options.signal);
    } catch (error) {
      await reader.return(undefined);
      throw error;
    }
    const xml = `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join("")}</BlockList>`;
    const response = await this.request("PUT", "PUT", key, {
      query: { comp: "blocklist" },
      headers: { ...conditions, "content-type": "application/xml", "x-ms-blob-content-type": contentType },
      body: new TextEncoder().encode(xml),
      signal: options.signal,
    });
    await this.checkWrite(key, response, options);
    return (await this.head(key, options)) ?? { key, size: 0, etag: normalizeEtag(response.headers.get("etag") ?? "") };
  }

  private async putBlob(key: string, body: Uint8Array, contentType: string, conditions: Record<string, string>, options: PutOptions): Promise<ObjectInfo> {
    const response = await this.request("PUT", "PUT", key, {
      headers: { ...conditions, "x-ms-blob-type": "BlockBlob", "content-type": contentType },
      body,
      signal: options.signal,
    });
    await this.checkWrite(key, response, options);
    return {
      key,
      size: body.byteLength,
      etag: normalizeEtag(response.headers.get("etag") ?? ""),
      lastModified: new Date(response.headers.get("last-modified") ?? Date.now()).toISOString(),
    };
  }

  private async putBlock(key: string, id: string, block: Uint8Array, signal?: AbortSignal): Promise<void> {
    const response = await this.request("PUT block", "PUT", key, { query: { comp: "block", blockid: id }, body: block, signal });
    if (!response.ok) await this.fail("PUT block", key, response);
    await response.body?.cancel();
  }

  /** Maps a conditional write's refusal: 409 BlobAlreadyExists, 412 ConditionNotMet, 404 for If-Match on a missing blob. */
  private async checkWrite(key: string, response: Response, options: PutOptions): Promise<void> {
    if (response.ok) {
      await response.body?.cancel();
      return;
    }
    const body = await response.text().catch(() => "");
    const { code } = parseAzureError(response, body);
    if (options.ifNoneMatch === "*" && (response.status === 409 || response.status === 412) && code !== "ContainerNotFound") throw alreadyExists(key);
    if (options.ifMatch !== undefined && (response.status === 412 || (response.status === 404 && code === "BlobNotFound"))) {
      throw new ConflictError(`Azure Blob PUT of "${key}" lost a compare-and-swap: the blob changed or was removed since it was read. Read it again and retry.`);
    }
    throw azureError("PUT", key, response, body);
  }
}

function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

function alreadyExists(key: string): AlreadyExistsError {
  return new AlreadyExistsError(`Azure Blob PUT of "${key}" refused: the blob already exists and the write was create-only.`);
}

function conditionHeaders(options: PutOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  if (options.ifNoneMatch === "*") headers["if-none-match"] = "*";
  if (options.ifMatch !== undefined) headers["if-match"] = options.ifMatch;
  return headers;
}

function infoFromHeaders(key: string, headers: Headers): ObjectInfo {
  const lastModified = headers.get("last-modified");
  return {
    key,
    size: Number(headers.get("content-length") ?? 0),
    etag: normalizeEtag(headers.get("etag") ?? ""),
    lastModified: lastModified ? new Date(lastModified).toISOString() : undefined,
  };
}

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => { c.enqueue(bytes); c.close(); } });
}

/** Regroups a byte stream into blocks of exactly `size` bytes (the last may be shorter), one buffer per block. */
async function* chunksOf(stream: ReadableStream<Uint8Array>, size: number, signal?: AbortSignal): AsyncGenerator<Uint8Array, void, undefined> {
  const reader = stream.getReader();
  let block = new Uint8Array(size);
  let filled = 0;
  // A source that stalls must not hold an aborted upload open: the abort cancels the read.
  const onAbort = () => void reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      checkSignal(signal);
      const { done, value } = await reader.read();
      checkSignal(signal);
      if (done) break;
      let offset = 0;
      while (offset < value.byteLength) {
        const n = Math.min(size - filled, value.byteLength - offset);
        block.set(value.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === size) {
          yield block;
          block = new Uint8Array(size);
          filled = 0;
        }
      }
    }
    if (filled > 0) yield block.subarray(0, filled);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
}

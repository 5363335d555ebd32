/**
 * The ModelStore: upload, list, inspect, read and delete models over one
 * {@link Backend}, in the bucket layout shared with the Python modelstore.
 * Knows the Backend interface only, never a concrete backend.
 */
import { v4 as uuidv4 } from "uuid";
import { createArchive } from "./archive/create-archive.js";
import { readArchive } from "./archive/read-archive.js";
import type { ArchiveInputEntry, CreateArchiveOptions, EntrySource } from "./archive/types.js";
import type { Backend, StorageLocation } from "./backends/backend.js";
import { AlreadyExistsError, IntegrityError, ModelStoreError, NotFoundError, throwIfAborted } from "./errors.js";
import { BucketLayout, DEFAULT_ROOT_PREFIX } from "./layout.js";
import { compareNewestFirst, encodeMetadata, type JsonValue, type ModelMetadata, type ModelType } from "./meta.js";
import { validateDomain, validateModelId } from "./names.js";
import { detectRuntime } from "./runtime-info.js";
import { advanceLatest, readMetadata, repairLatest, settle } from "./store-documents.js";
import { MeasuringStream, readSmallText, verifyingStream } from "./streams.js";
import { DEPENDENCY_VERSIONS, LIBRARY_VERSION } from "./version.js";

/** Options for {@link ModelStore}. */
export interface ModelStoreOptions {
  /** Where the bytes go. */
  backend: Backend;
  /** Top-level prefix of every key. @default "operatorai-model-store" */
  rootPrefix?: string;
}

/** Progress of an upload, reported as archive bytes are stored. */
export interface UploadProgress {
  /** Compressed archive bytes written so far. */
  bytes: number;
}

/** Options for {@link ModelStore.upload}. */
export interface UploadOptions {
  /** The model's files, stored at the top of the archive. */
  files: EntrySource<ArchiveInputEntry>;
  /** Extra files, stored under `extras/` in the archive. */
  extras?: EntrySource<ArchiveInputEntry>;
  /** Your own JSON metadata, stored as `extra`. */
  extraMetadata?: JsonValue;
  /** The model's id. @default a new UUID4 */
  modelId?: string;
  /** Which library and class produced the model. */
  modelType?: ModelType;
  /** Versions of libraries the model needs, recorded in metadata and `runtime-info.json`. */
  dependencies?: Record<string, string>;
  /** Archive settings (compression level, engine, determinism). */
  archive?: Omit<CreateArchiveOptions, "signal" | "dependencies">;
  /** Aborts the upload; nothing stays visible. */
  signal?: AbortSignal;
  /** Called as archive bytes are stored. */
  onProgress?: (progress: UploadProgress) => void;
}

/** Options for reads that may take long. */
export interface ReadOptions {
  signal?: AbortSignal;
}

// How many later seconds an upload tries when uploads in the same second hold the earlier keys.
const MAX_ARCHIVE_SLOTS = 3600;
// Version documents read at once when listing a domain.
const LIST_CONCURRENCY = 8;

const hasCode = (error: unknown, code: string) => error instanceof ModelStoreError && error.code === code;

/** Uploads, lists, reads and deletes models in one backend. */
export class ModelStore {
  readonly backend: Backend;
  readonly layout: BucketLayout;

  constructor(options: ModelStoreOptions) {
    this.backend = options.backend;
    this.layout = new BucketLayout(options.rootPrefix ?? DEFAULT_ROOT_PREFIX);
  }

  /**
   * Archives the files, stores the archive, then `versions/<id>.json`, then
   * moves `latest.json` forward. On any failure or abort, whatever was written
   * is removed again and no version becomes visible.
   */
  async upload(domain: string, options: UploadOptions): Promise<ModelMetadata> {
    validateDomain(domain);
    const modelId = validateModelId(options.modelId ?? uuidv4());
    const { signal } = options;
    const versionKey = this.layout.versionKey(domain, modelId);
    if (await this.backend.head(versionKey, { signal })) {
      throw new AlreadyExistsError(
        `Model "${modelId}" already exists in domain "${domain}". Choose another modelId, or omit it to get a UUID4.`,
      );
    }
    const created = new Date();
    const archiveKey = await this.claimArchiveKey(domain, created, signal);
    let versionWritten = false;
    try {
      const measure = new MeasuringStream(options.onProgress && ((bytes) => options.onProgress!({ bytes })));
      const archive = createArchive(
        { files: options.files, extras: options.extras },
        { ...options.archive, dependencies: options.dependencies, signal },
      ).pipeThrough(measure);
      await this.backend.put(archiveKey, archive, { signal, contentType: "application/gzip" });
      const metadata = this.describe(domain, modelId, created, archiveKey, measure.result(), options);
      throwIfAborted(signal);
      await this.backend.put(versionKey, encodeMetadata(metadata), { signal, ifNoneMatch: "*", contentType: "application/json" });
      versionWritten = true;
      await advanceLatest(this.backend, this.layout.latestKey(domain), metadata, signal);
      return metadata;
    } catch (error) {
      await this.removeQuietly(versionWritten ? [versionKey, archiveKey] : [archiveKey]);
      if (versionWritten) {
        // The latest.json write may have landed before its response was lost: point it back.
        await repairLatest(this.backend, this.layout.latestKey(domain), modelId, async () => (await this.listModels(domain))[0]).catch(() => undefined);
      }
      if (hasCode(error, "ALREADY_EXISTS") && !versionWritten) {
        throw new AlreadyExistsError(`Model "${modelId}" was uploaded to domain "${domain}" by someone else meanwhile. Choose another modelId.`, { cause: error });
      }
      throw error;
    }
  }

  /** Domains in the store, sorted by name. */
  async listDomains(options: ReadOptions = {}): Promise<string[]> {
    const domains: string[] = [];
    for await (const prefix of this.backend.listPrefixes(this.layout.domainsPrefix(), options)) {
      const name = this.layout.domainOfPrefix(prefix);
      if (name !== undefined && isValidDomain(name)) domains.push(name);
    }
    return domains.sort();
  }

  /** Ids of a domain's models, in key order (cheap: one listing, no documents read). */
  async listModelIds(domain: string, options: ReadOptions = {}): Promise<string[]> {
    const ids: string[] = [];
    for await (const object of this.backend.list(this.layout.versionsPrefix(domain), options)) {
      const id = this.layout.modelIdOfVersionKey(domain, object.key);
      if (id !== undefined) ids.push(id);
    }
    return ids;
  }

  /** Metadata of every model in a domain, newest first. An unknown domain lists nothing. */
  async listModels(domain: string, options: ReadOptions = {}): Promise<ModelMetadata[]> {
    const ids = await this.listModelIds(domain, options);
    const models: ModelMetadata[] = [];
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++];
        const metadata = await readMetadata(this.backend, this.layout.versionKey(domain, id), options.signal);
        if (metadata) models.push(metadata); // deleted while listing: leave it out
      }
    };
    await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, ids.length) }, worker));
    return models.sort(compareNewestFirst);
  }

  /** One model's metadata. @throws NotFoundError when the domain or model does not exist */
  async getModelInfo(domain: string, modelId: string, options: ReadOptions = {}): Promise<ModelMetadata> {
    const metadata = await readMetadata(this.backend, this.layout.versionKey(domain, modelId), options.signal);
    if (metadata) return metadata;
    throw await this.notFound(domain, modelId, options);
  }

  /** The newest model's metadata. @throws NotFoundError when the domain has no models */
  async getLatest(domain: string, options: ReadOptions = {}): Promise<ModelMetadata> {
    const metadata = await readMetadata(this.backend, this.layout.latestKey(domain), options.signal);
    if (metadata) return metadata;
    throw new NotFoundError(`Domain "${domain}" has no models. List the domains with store.listDomains(), or upload one with store.upload("${domain}", ...).`);
  }

  /** True when the domain holds a model with this id. */
  async modelExists(domain: string, modelId: string, options: ReadOptions = {}): Promise<boolean> {
    return (await this.backend.head(this.layout.versionKey(domain, modelId), options)) !== null;
  }

  /**
   * Streams a model's `.tar.gz` (the latest when `modelId` is omitted). The size
   * and sha256 are verified as it streams: a mismatch fails the stream with IntegrityError.
   */
  async getArchive(domain: string, modelId?: string, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const metadata = modelId === undefined ? await this.getLatest(domain, options) : await this.getModelInfo(domain, modelId, options);
    return this.openArchive(metadata, options);
  }

  /** Streams an archive described by `metadata`, verifying it. */
  async openArchive(metadata: ModelMetadata, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const { domain, model_id: id } = metadata.model;
    const key = this.keyOf(metadata.storage, id);
    const body = await this.backend.get(key, { signal: options.signal });
    if (!body) {
      throw new NotFoundError(
        `The archive of model "${id}" in domain "${domain}" is missing at "${key}". Its metadata is stale; remove it with store.deleteModel("${domain}", "${id}").`,
      );
    }
    return body.pipeThrough(verifyingStream(metadata.archive, `The archive of model "${id}" in domain "${domain}"`));
  }

  /**
   * Streams one file out of a model's archive (the latest when `modelId` is
   * undefined) without buffering the archive; `null` when the model has no such file.
   * Reading stops at the end of that file: the rest of the archive is not fetched.
   */
  async readFile(domain: string, modelId: string | undefined, path: string, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array> | null> {
    const metadata = modelId === undefined ? await this.getLatest(domain, options) : await this.getModelInfo(domain, modelId, options);
    return this.openFile(metadata, path, options);
  }

  /**
   * Streams one file out of the archive described by `metadata`, like
   * {@link readFile} but without reading the metadata again (a server that
   * already holds it reads nothing but the archive, up to the end of the file).
   */
  async openFile(metadata: ModelMetadata, path: string, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array> | null> {
    const wanted = path.replace(/^(\.\/|\/)+/, "");
    const archive = await this.openArchive(metadata, options);
    const entries = readArchive(archive, { signal: options.signal })[Symbol.asyncIterator]();
    for (;;) {
      const { done, value: entry } = await entries.next();
      if (done) return null;
      if (entry.type !== "file" || entry.path !== wanted) continue;
      const reader = entry.body.getReader();
      const finish = () => void entries.return?.().catch(() => undefined);
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done: ended, value } = await reader.read();
          if (ended) {
            controller.close();
            finish();
          } else controller.enqueue(value);
        },
        async cancel(reason) {
          await reader.cancel(reason);
          finish();
        },
      });
    }
  }

  /**
   * Removes a model's version document and archive. If it was the latest,
   * `latest.json` is moved to the newest remaining model, or removed.
   */
  async deleteModel(domain: string, modelId: string, options: ReadOptions = {}): Promise<void> {
    const metadata = await this.getModelInfo(domain, modelId, options);
    // Version first: a reader must never find a version whose archive is gone.
    await this.backend.delete(this.layout.versionKey(domain, modelId), options);
    await this.backend.delete(this.keyOf(metadata.storage, modelId), options);
    await repairLatest(this.backend, this.layout.latestKey(domain), modelId, async () => (await this.listModels(domain, options))[0], options.signal);
  }

  /** Reserves a free `<datetime>/artifacts.tar.gz` key with a create-only write, moving to later seconds on conflict. */
  private async claimArchiveKey(domain: string, created: Date, signal?: AbortSignal): Promise<string> {
    for (let slot = 0; slot < MAX_ARCHIVE_SLOTS; slot++) {
      throwIfAborted(signal);
      const key = this.layout.archiveKey(domain, new Date(created.getTime() + slot * 1000));
      // A placeholder naming this upload: no version points at it, so readers never see it,
      // and the real archive replaces it.
      const claim = new TextEncoder().encode(`modelstore upload claim ${uuidv4()}`);
      try {
        await this.backend.put(key, claim, { signal, ifNoneMatch: "*", contentType: "application/gzip" });
      } catch (error) {
        if (!hasCode(error, "ALREADY_EXISTS")) throw error;
        continue;
      }
      if (this.backend.capabilities.conditionalWrites || (await holdsClaim(this.backend, key, claim, signal))) return key;
    }
    throw new ModelStoreError("CONFLICT", `No free archive slot in domain "${domain}" within an hour of ${created.toISOString()}. Retry later.`);
  }

  private describe(domain: string, modelId: string, created: Date, archiveKey: string, archive: { size: number; sha256: string }, options: UploadOptions): ModelMetadata {
    const runtime = detectRuntime();
    return {
      model: { domain, model_id: modelId, ...(options.modelType ? { model_type: options.modelType } : {}) },
      storage: this.backend.locate?.(archiveKey) ?? { type: this.backend.name, prefix: archiveKey },
      modelstore: LIBRARY_VERSION,
      code: {
        runtime: runtime.label,
        user: runtime.user ?? "unknown",
        created: created.toISOString(),
        dependencies: { ...DEPENDENCY_VERSIONS, ...options.dependencies },
      },
      ...(options.extraMetadata !== undefined ? { extra: options.extraMetadata } : {}),
      archive,
    };
  }

  private keyOf(location: StorageLocation, modelId: string): string {
    const key = this.backend.keyOf ? this.backend.keyOf(location) : location.prefix;
    if (!key) throw new IntegrityError(`The metadata of model "${modelId}" does not say where its archive is (storage.prefix is missing).`);
    return key;
  }

  private async notFound(domain: string, modelId: string, options: ReadOptions): Promise<NotFoundError> {
    const domainExists = (await this.backend.head(this.layout.latestKey(domain), options)) !== null;
    return domainExists
      ? new NotFoundError(`Model "${modelId}" does not exist in domain "${domain}". List the domain's models with store.listModels("${domain}").`)
      : new NotFoundError(`Domain "${domain}" does not exist (looking for model "${modelId}"). List the domains with store.listDomains().`);
  }

  private async removeQuietly(keys: string[]): Promise<void> {
    for (const key of keys) {
      // Cleanup runs after the caller's signal may have fired, so it takes none.
      await this.backend.delete(key).catch(() => undefined);
    }
  }
}

/**
 * Where create-only writes are emulated (check, then write), two uploads can both
 * "win" a slot. Reading the claim back, twice with a pause between, makes the one
 * whose claim was overwritten move on; what remains is a window of a few
 * milliseconds, documented in the README.
 */
async function holdsClaim(backend: Backend, key: string, claim: Uint8Array, signal?: AbortSignal): Promise<boolean> {
  for (let check = 0; check < 2; check++) {
    if (check > 0) await settle(signal);
    const body = await backend.get(key, { signal });
    const stored = body ? await readSmallText(body, `The claim at "${key}"`) : "";
    if (stored !== new TextDecoder().decode(claim)) return false;
  }
  return true;
}

function isValidDomain(name: string): boolean {
  try {
    validateDomain(name);
    return true;
  } catch {
    return false;
  }
}

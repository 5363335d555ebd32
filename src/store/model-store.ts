/**
 * The ModelStore: upload, list, inspect, read and delete models, with the
 * archives in one {@link Backend} (the artifact repository) and their
 * descriptions in one {@link MetadataRepository} (by default the bucket layout
 * shared with the Python modelstore, in the same backend). Knows both
 * interfaces only, never a concrete backend or repository.
 */
import type { Backend, StorageLocation } from "../backends/backend.ts";
import { InvalidArgumentError, hasErrorCode, NotFoundError } from "../util/errors.ts";
import { BucketLayout, DEFAULT_ROOT_PREFIX } from "../metadata/layout.ts";
import type { ModelMetadata, UploadedModel } from "../metadata/document.ts";
import type { DeleteOptions, EnsureTaskOptions, ListTasksOptions, ModelIterationOptions, ModelPageQuery, ModelQueryOptions, ModelStoreOptions, ReadOptions, StateChangeOptions, UploadOptions } from "./options.ts";
import { pageOf, type ModelPage } from "../metadata/model-pages.ts";
import { validateStateName, type ModelStateRecord, type StateEvent } from "../metadata/model-states.ts";
import { bucketMetadata } from "../metadata/bucket.ts";
import { DEFAULT_PROJECT, type MetadataRepository, type ProjectRecord, type TaskRecord } from "../metadata/repository.ts";
import { validateDomain, validateModelId, validateProject } from "../metadata/names.ts";
import { detectRuntime } from "../archive/runtime-info.ts";
import { uploadModel } from "./upload-model.ts";
import { collectGarbage, type GcOptions, type GcReport } from "./gc.ts";
import { signArchiveUrl, type SignedArchiveUrl, type SignedUrlRequest } from "./signed-url.ts";
import type { ModelFile, OpenFileOptions } from "./archive-index-reads.ts";
import { ArchiveReads, pythonArchiveFolder } from "./archive-reads.ts";

export type { GcItem, GcOptions, GcReport } from "./gc.ts";
export type { SignedArchiveUrl, SignedUrlRequest } from "./signed-url.ts";
export type { ModelFile, OpenFileOptions } from "./archive-index-reads.ts";
export type { ModelPage } from "../metadata/model-pages.ts";
export type { DeleteOptions, EnsureTaskOptions, ListTasksOptions, ModelIterationOptions, ModelPageQuery, ModelQueryOptions, ModelStoreOptions, ReadOptions, StateChangeOptions, UploadOptions, UploadProgress } from "./options.ts";

/** Uploads, lists, reads and deletes models, projects and tasks. */
export class ModelStore {
  /** The artifact repository: where archives are stored. */
  readonly backend: Backend;
  /** The metadata repository: where model documents, tasks and projects live. */
  readonly metadata: MetadataRepository;
  /** Where archives (and, with the default metadata, documents) live in the backend. */
  readonly layout: BucketLayout;
  /** Recorded as `code.user` by every upload, before the environment's user (see {@link ModelStoreOptions.user}). */
  readonly user: string | undefined;
  /** Where uploads put their archives (see {@link ModelStoreOptions.archiveLayout}). */
  readonly archiveLayout: "seed" | "python";
  /** Reads archives and the files in them (see archive-reads.ts). */
  private readonly reads: ArchiveReads;

  constructor(options: ModelStoreOptions) {
    this.backend = options.backend;
    this.user = options.user;
    if (options.archiveLayout !== undefined && options.archiveLayout !== "seed" && options.archiveLayout !== "python") {
      throw new InvalidArgumentError(`archiveLayout must be "seed" or "python", not ${JSON.stringify(options.archiveLayout)}.`);
    }
    this.archiveLayout = options.archiveLayout ?? "seed";
    this.layout = new BucketLayout(options.rootPrefix ?? DEFAULT_ROOT_PREFIX);
    this.reads = new ArchiveReads(options.backend, this.layout);
    this.metadata = options.metadata ?? bucketMetadata({ backend: options.backend, rootPrefix: this.layout.root });
  }

  /**
   * Archives the files and stores the archive in a create-only slot, then
   * records its metadata. On any failure or abort the archive is removed again
   * and no model becomes visible (the repository's write is itself all or nothing).
   */
  async upload(domain: string, options: UploadOptions): Promise<UploadedModel> {
    return uploadModel({ backend: this.backend, metadata: this.metadata, layout: this.layout, archiveLayout: this.archiveLayout, user: this.user, keyOf: (location, id) => this.keyOf(location, id) }, domain, options);
  }

  /** Domains (tasks) in the store, sorted by name. */
  async listDomains(options: ReadOptions = {}): Promise<string[]> {
    return (await this.metadata.listTasks(options)).map((task) => task.name);
  }

  /** Ids of a domain's models, in no promised order (cheap: no documents read where the repository allows). */
  async listModelIds(domain: string, options: ReadOptions = {}): Promise<string[]> {
    return this.metadata.listModelIds(validateDomain(domain), options);
  }

  /**
   * Metadata of every model in a domain, newest first; with `state`, only the models in that state.
   * An unknown domain lists nothing. @throws NotFoundError when `state` does not exist
   */
  async listModels(domain: string, options: ModelQueryOptions = {}): Promise<ModelMetadata[]> {
    if (options.state !== undefined) return this.metadata.listModelsInState(validateDomain(domain), validateStateName(options.state, { allowReserved: true }), options);
    return this.metadata.listModels(validateDomain(domain), options);
  }

  /**
   * One page of a domain's models, newest first; pass the returned `cursor` for the
   * next. Pages never repeat or skip a model; on the bucket layout a page reads only
   * the documents that can sort into it. @throws InvalidArgumentError for a bad `limit` or `cursor`
   */
  async listModelsPage(domain: string, options: ModelPageQuery = {}): Promise<ModelPage> {
    if (options.state === undefined) return this.metadata.listModelsPage(validateDomain(domain), options);
    return pageOf(await this.listModels(domain, options), options);
  }

  /** Every model of a domain, newest first, fetched a page at a time: `for await (const m of store.models("d"))`. */
  async *models(domain: string, options: ModelIterationOptions = {}): AsyncGenerator<ModelMetadata> {
    let cursor: string | undefined;
    do {
      const page = await this.listModelsPage(domain, { ...options, limit: options.pageSize, cursor });
      yield* page.items;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  /** One model's metadata. @throws NotFoundError when the domain or model does not exist */
  async getModelInfo(domain: string, modelId: string, options: ReadOptions = {}): Promise<ModelMetadata> {
    const metadata = await this.metadata.getModel(validateDomain(domain), validateModelId(modelId), options);
    if (metadata) return metadata;
    throw await this.notFound(domain, modelId, options);
  }

  /**
   * The newest model's metadata; with `state`, the newest model in that state.
   * @throws NotFoundError when the domain has no models (in that state), or the state does not exist
   */
  async getLatest(domain: string, options: ModelQueryOptions = {}): Promise<ModelMetadata> {
    if (options.state !== undefined) {
      const [newest] = await this.listModels(domain, options);
      if (newest) return newest;
      throw new NotFoundError(
        `Domain "${domain}" has no model in state "${options.state}". Put one there with store.setModelState("${domain}", modelId, "${options.state}").`,
      );
    }
    const metadata = await this.metadata.latestModel(validateDomain(domain), options);
    if (metadata) return metadata;
    throw new NotFoundError(`Domain "${domain}" has no models. List the domains with store.listDomains(), or upload one with store.upload("${domain}", ...).`);
  }

  /**
   * Creates a model state (global to the store) unless it exists, where the Python modelstore finds it too.
   * @throws ReservedStateError for `modelstore-deleted`; InvalidArgumentError for a name Python refuses (shorter than 3 characters...)
   */
  async createModelState(name: string, options: ReadOptions = {}): Promise<ModelStateRecord> {
    return this.metadata.createModelState(validateStateName(name), options);
  }

  /** Every model state, sorted by name (the reserved `modelstore-deleted` is not listed). */
  async listModelStates(options: ReadOptions = {}): Promise<ModelStateRecord[]> {
    return this.metadata.listModelStates(options);
  }

  /**
   * Removes a model state. Removing a missing one is not an error. With `cascade`,
   * first takes every model of every domain out of it (each recorded in the history),
   * as the Python modelstore's `delete_model_state` does.
   * @throws ConflictError while models of any domain are in it (without `cascade`)
   */
  async deleteModelState(name: string, options: DeleteOptions & StateChangeOptions = {}): Promise<void> {
    const state = validateStateName(name);
    if (options.cascade && (await this.metadata.listModelStates(options)).some((s) => s.name === state)) {
      for (const domain of await this.listDomains(options)) {
        for (const model of await this.metadata.listModelsInState(domain, state, options)) {
          await this.removeModelState(domain, model.model.model_id, state, options);
        }
      }
    }
    await this.metadata.deleteModelState(state, options);
  }

  /**
   * Puts a model in a state (it can be in many), and records the change in the domain's state history.
   * @throws NotFoundError when the state or the model does not exist
   */
  async setModelState(domain: string, modelId: string, state: string, options: StateChangeOptions = {}): Promise<void> {
    await this.metadata.setModelState(validateDomain(domain), validateModelId(modelId), validateStateName(state), { ...options, user: this.changedBy(options) });
  }

  /**
   * Takes a model out of a state (recording the change); a model that was not in it is left as it is.
   * @throws NotFoundError when the state does not exist
   */
  async removeModelState(domain: string, modelId: string, state: string, options: StateChangeOptions = {}): Promise<void> {
    await this.metadata.removeModelState(validateDomain(domain), validateModelId(modelId), validateStateName(state), { ...options, user: this.changedBy(options) });
  }

  /** The states a model is in, sorted by name. */
  async getModelStates(domain: string, modelId: string, options: ReadOptions = {}): Promise<string[]> {
    return this.metadata.getModelStates(validateDomain(domain), validateModelId(modelId), options);
  }

  /**
   * Every state change of a domain's models, oldest first: who put which model in
   * or out of which state, and when. {@link modelsInStateAt} answers "which model
   * was in production on a given date" from it.
   */
  async stateHistory(domain: string, options: ReadOptions = {}): Promise<StateEvent[]> {
    return this.metadata.stateHistory(validateDomain(domain), options);
  }

  /** True when the domain holds a model with this id. */
  async modelExists(domain: string, modelId: string, options: ReadOptions = {}): Promise<boolean> {
    return (await this.metadata.getModel(validateDomain(domain), validateModelId(modelId), options)) !== null;
  }

  /** A project. @throws NotFoundError when it does not exist */
  async getProject(name: string, options: ReadOptions = {}): Promise<ProjectRecord> {
    const project = await this.metadata.getProject(validateProject(name), options);
    if (project) return project;
    throw new NotFoundError(`Project "${name}" does not exist. List the projects with store.listProjects(), or create it with store.ensureProject("${name}").`);
  }

  /** Gets a project, creating it when missing. */
  async ensureProject(name: string, options: ReadOptions = {}): Promise<ProjectRecord> {
    return this.metadata.ensureProject(validateProject(name), options);
  }

  /** Every project, sorted by name; the default project ("default") is always there. */
  async listProjects(options: ReadOptions = {}): Promise<ProjectRecord[]> {
    return this.metadata.listProjects(options);
  }

  /**
   * Deletes a project. With `cascade`, its tasks go too, with their models'
   * metadata and archives; without, a project that has tasks fails with `ConflictError`.
   * The default project itself always exists: `cascade` empties it.
   * @throws NotFoundError when it does not exist
   */
  async deleteProject(name: string, options: DeleteOptions = {}): Promise<void> {
    await this.getProject(name, options);
    if (options.cascade) {
      for (const task of await this.metadata.listTasks({ project: name, signal: options.signal })) {
        await this.deleteTask(task.name, options);
      }
      if (name === DEFAULT_PROJECT) return;
    }
    await this.metadata.deleteProject(name, options);
  }

  /** A task (domain) and its project. @throws NotFoundError when it does not exist */
  async getTask(name: string, options: ReadOptions = {}): Promise<TaskRecord> {
    const task = await this.metadata.getTask(validateDomain(name), options);
    if (task) return task;
    throw new NotFoundError(`Task "${name}" does not exist. List the tasks with store.listTasks(), or create it with store.ensureTask("${name}").`);
  }

  /**
   * Gets a task, creating it (in `options.project`, created too when missing) when it does not exist.
   * @throws ConflictError when the task exists in another project
   */
  async ensureTask(name: string, options: EnsureTaskOptions = {}): Promise<TaskRecord> {
    const project = options.project === undefined ? DEFAULT_PROJECT : validateProject(options.project);
    return this.metadata.ensureTask(validateDomain(name), project, options);
  }

  /** Tasks sorted by name: all, or one project's. @throws NotFoundError for an unknown project */
  async listTasks(options: ListTasksOptions = {}): Promise<TaskRecord[]> {
    if (options.project !== undefined) await this.getProject(options.project, options);
    return this.metadata.listTasks(options);
  }

  /**
   * Deletes a task. With `cascade`, its models go too (metadata, then archive,
   * oldest first so the latest moves once); without, a task that still holds
   * models fails with `ConflictError`.
   * @throws NotFoundError when it does not exist
   */
  async deleteTask(name: string, options: DeleteOptions = {}): Promise<void> {
    await this.getTask(name, options);
    if (options.cascade) {
      const models = await this.metadata.listModels(name, options);
      const readable = new Set(models.map((model) => model.model.model_id));
      // Documents too corrupt to list go first (their archives stay: see deleteModel).
      for (const id of await this.metadata.listModelIds(name, options)) {
        if (!readable.has(id)) await this.deleteDescribed(name, id, undefined, options);
      }
      for (const model of models.reverse()) await this.deleteDescribed(name, model.model.model_id, model, options);
    }
    await this.metadata.deleteTask(name, options);
  }

  /**
   * Removes what interrupted uploads left behind, once older than
   * `olderThanMs` (24 hours by default, so that running uploads are safe): the
   * backend's temp files and stale locks (file system) or incomplete multipart
   * uploads (S3), and archives or slot placeholders that no model points at.
   * Models, and anything a model points at, are never touched; a domain with an
   * unreadable document is skipped and named in the report.
   */
  async gc(options: GcOptions = {}): Promise<GcReport> {
    return collectGarbage({ backend: this.backend, metadata: this.metadata, layout: this.layout, keyOf: (location, id) => this.keyOf(location, id) }, options);
  }

  /** Releases the metadata repository's connections (PostgreSQL); a no-op for the others. */
  async close(): Promise<void> {
    await this.metadata.close?.();
  }

  /**
   * Streams a model's `.tar.gz` (the latest when `modelId` is omitted). The size
   * and sha256 are verified as it streams: a mismatch fails the stream with IntegrityError.
   */
  async getArchive(domain: string, modelId?: string, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const metadata = modelId === undefined ? await this.getLatest(domain, options) : await this.getModelInfo(domain, modelId, options);
    return this.openArchive(metadata, options);
  }

  /**
   * A time-limited GET URL for a model's archive (the latest, or the newest in `state`, when
   * `modelId` is omitted), signed by the backend: S3 presigned, Azure SAS. Others fail with
   * `NotSupportedError`. The URL grants access to whoever holds it: do not log it.
   */
  async signedUrl(domain: string, modelId: string | undefined, options: SignedUrlRequest): Promise<SignedArchiveUrl> {
    const find = (d: string, id: string | undefined, o: ModelQueryOptions) => (id === undefined ? this.getLatest(d, o) : this.getModelInfo(d, id, o));
    return signArchiveUrl({ backend: this.backend, keyOf: (location, id) => this.keyOf(location, id), find }, domain, modelId, options);
  }

  /** Streams an archive described by `metadata`, verifying its size and sha256 as it streams. */
  async openArchive(metadata: ModelMetadata, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    return this.reads.openArchive(metadata, options);
  }

  /**
   * Streams one file out of a model's archive (the latest when `modelId` is
   * undefined) without buffering the archive; `null` when the model has no such file.
   * Reading stops at the end of that file: the rest of the archive is not fetched.
   */
  async readFile(domain: string, modelId: string | undefined, path: string, options: OpenFileOptions = {}): Promise<ReadableStream<Uint8Array> | null> {
    const metadata = modelId === undefined ? await this.getLatest(domain, options) : await this.getModelInfo(domain, modelId, options);
    return this.openFile(metadata, path, options);
  }

  /**
   * Streams one file out of the archive described by `metadata`, like
   * {@link readFile} but without reading the metadata again: one ranged read
   * through the archive's table of contents, or a scan up to the end of the file.
   */
  async openFile(metadata: ModelMetadata, path: string, options: OpenFileOptions = {}): Promise<ReadableStream<Uint8Array> | null> {
    return this.reads.openFile(metadata, path, options);
  }

  /**
   * A model's files (path, size, sha256), in archive order: from the archive's
   * table of contents with one small ranged read, or, for archives without one
   * (older uploads, the Python library's), by reading the archive whole.
   */
  async listFiles(domain: string, modelId: string | undefined, options: ReadOptions = {}): Promise<ModelFile[]> {
    const metadata = modelId === undefined ? await this.getLatest(domain, options) : await this.getModelInfo(domain, modelId, options);
    return this.listFilesOf(metadata, options);
  }

  /** {@link listFiles} for metadata you already hold. */
  async listFilesOf(metadata: ModelMetadata, options: ReadOptions = {}): Promise<ModelFile[]> {
    return this.reads.listFilesOf(metadata, options);
  }

  /**
   * Removes a model's metadata, then its archive. If it was the latest, the
   * latest becomes the newest remaining model (`latest.json` is moved or removed).
   * A document that is corrupt or describes another model (copied by hand) is
   * removed, but the archive it names is left alone: it may be another model's.
   */
  async deleteModel(domain: string, modelId: string, options: ReadOptions = {}): Promise<void> {
    let metadata: ModelMetadata | undefined;
    try {
      metadata = await this.getModelInfo(domain, modelId, options);
    } catch (error) {
      if (!hasErrorCode(error, "INTEGRITY")) throw error;
    }
    await this.deleteDescribed(validateDomain(domain), validateModelId(modelId), metadata, options);
  }

  private async deleteDescribed(domain: string, id: string, metadata: ModelMetadata | undefined, options: ReadOptions): Promise<void> {
    // Metadata first: a reader must never find a model whose archive is gone. Its leaving its states is recorded as by this store's user.
    await this.metadata.deleteModel(domain, id, { ...options, user: this.changedBy(options) });
    if (!metadata) return;
    const key = this.keyOf(metadata.storage, id);
    await this.backend.delete(key, options);
    // The extra files the Python modelstore 0.0.72-0.0.73 stored beside the archive go with it.
    const folder = pythonArchiveFolder(metadata, key);
    if (folder === undefined) return;
    for await (const object of this.backend.list(folder, options)) {
      if (!object.key.slice(folder.length).includes("/")) await this.backend.delete(object.key, options);
    }
  }

  private keyOf(location: StorageLocation, modelId: string): string {
    return this.reads.keyOf(location, modelId);
  }

  private changedBy(options: StateChangeOptions): string {
    return options.user ?? this.user ?? detectRuntime().user ?? "unknown";
  }

  private async notFound(domain: string, modelId: string, options: ReadOptions): Promise<NotFoundError> {
    if (await this.backend.head(this.layout.tombstoneKey(domain, modelId), options)) {
      return new NotFoundError(`Model "${modelId}" was deleted from domain "${domain}". List the domain's models with store.listModels("${domain}").`);
    }
    // Without a listing (a public HTTP store) whether the domain exists cannot be told: say the model is missing.
    const domainExists = await this.metadata.getTask(domain, options).then(
      (task) => task !== null,
      (error: unknown) => (hasErrorCode(error, "NOT_SUPPORTED") ? true : Promise.reject(error)),
    );
    return domainExists
      ? new NotFoundError(`Model "${modelId}" does not exist in domain "${domain}". List the domain's models with store.listModels("${domain}").`)
      : new NotFoundError(`Domain "${domain}" does not exist (looking for model "${modelId}"). List the domains with store.listDomains().`);
  }
}

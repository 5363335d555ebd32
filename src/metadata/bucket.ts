/**
 * Metadata in the bucket itself, next to the archives: the default repository,
 * and the Python modelstore's layout (`versions/<id>.json`, `latest.json`, see
 * layout.ts). Projects add small documents under `<root>/.projects/` only when
 * a project other than the default is used, so a store written without
 * projects is byte-for-byte what it was.
 */
import type { Backend } from "../backends/backend.ts";
import { hasErrorCode, InvalidArgumentError } from "../util/errors.ts";
import { BucketLayout, DEFAULT_ROOT_PREFIX, DELETED_STATE, formatLayoutTime } from "./layout.ts";
import { readSmallText } from "../util/streams.ts";
import type { ModelMetadata } from "./document.ts";
import { validateDomain } from "./names.ts";
import { advanceLatest, readMetadata, repairLatest } from "./latest-pointer.ts";
import { bucketReads } from "./latest-model.ts";
import { bucketStates, forgetModelStates } from "./bucket-states.ts";
import { bucketListing, listingCacheKey } from "./bucket-listing.ts";
import { listJournal, writeIntent, writePointerMoves } from "./listing-journal.ts";
import { defaultProjectUndeletable, modelExists, projectNotEmpty, taskInOtherProject, taskNotEmpty } from "./errors.ts";
import {
  DEFAULT_PROJECT,
  type AddModelOptions,
  type ListTasksOptions,
  type MetadataCallOptions,
  type MetadataRepository,
  type ProjectRecord,
  type TaskRecord,
} from "./repository.ts";

/** Options for {@link bucketMetadata}. */
export interface BucketMetadataOptions {
  /** The backend that holds the archives; the documents go beside them. */
  backend: Backend;
  /** Top-level prefix of every key. @default "operatorai-model-store" */
  rootPrefix?: string;
  /** Documents read at once where a listing must read them (1 to 256). @default 16 */
  readConcurrency?: number;
}

// Version documents read at once when listing a domain: enough to hide S3 latency, few enough to be polite.
const DEFAULT_READ_CONCURRENCY = 16;

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n");

/** What one listing of `<root>/.projects/` says. */
interface ProjectsIndex {
  projects: Map<string, string | undefined>; // name → created
  tasks: Map<string, { project: string; created?: string }>;
}

/** A {@link MetadataRepository} kept as JSON documents in the artifact backend, in the bucket layout. */
export function bucketMetadata(options: BucketMetadataOptions): MetadataRepository & { readonly layout: BucketLayout } {
  const { backend } = options;
  const layout = new BucketLayout(options.rootPrefix ?? DEFAULT_ROOT_PREFIX);
  const concurrency = options.readConcurrency ?? DEFAULT_READ_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new InvalidArgumentError(`readConcurrency must be a whole number from 1 to 256, got ${String(concurrency)}.`);
  }
  const { mapLimited, readVersion, versionObjects, latestModel, getModel } = bucketReads({
    backend,
    layout,
    readConcurrency: concurrency,
    // With no pointer to start from, the listing (and its cache) finds the newest.
    newestListed: async (task, _versions, options) => (await listModels(task, options))[0] ?? null,
  });

  async function readIndex(signal?: AbortSignal): Promise<ProjectsIndex> {
    const index: ProjectsIndex = { projects: new Map(), tasks: new Map() };
    for await (const object of backend.list(layout.projectsPrefix(), { signal })) {
      const parsed = layout.parseProjectsKey(object.key);
      if (!parsed) continue;
      if (parsed.task === undefined) index.projects.set(parsed.project, object.lastModified);
      // Two racing creations in different projects can leave two memberships; the first in key order wins.
      else if (!index.tasks.has(parsed.task)) index.tasks.set(parsed.task, { project: parsed.project, created: object.lastModified });
    }
    return index;
  }

  async function hasModels(task: string, signal?: AbortSignal): Promise<boolean> {
    if (await backend.head(layout.latestKey(task), { signal })) return true;
    // Only a version document counts: Python's tombstones and state copies sit below versions/ too.
    for await (const object of backend.list(layout.versionsPrefix(task), { signal })) if (layout.modelIdOfVersionKey(task, object.key) !== undefined) return true;
    return false;
  }

  async function domainsWithModels(signal?: AbortSignal): Promise<string[]> {
    const candidates = new Set<string>();
    for await (const prefix of backend.listPrefixes(layout.domainsPrefix(), { signal })) {
      const name = layout.domainOfPrefix(prefix);
      if (name !== undefined && isValidDomain(name)) candidates.add(name);
    }
    // The Python modelstore lists its domains by their pointers, domains/<domain>.json.
    for await (const object of backend.list(layout.pythonDomainsPrefix(), { signal })) {
      const name = layout.domainOfPythonLatestKey(object.key);
      if (name !== undefined && isValidDomain(name)) candidates.add(name);
    }
    return withModels([...candidates], signal);
  }

  async function withModels(candidates: string[], signal?: AbortSignal): Promise<string[]> {
    // A prefix holding only an upload's archive placeholder (a first upload in
    // progress, or one whose process died) is not a domain yet.
    const found = await mapLimited(candidates, (name) => hasModels(name, signal));
    return candidates.filter((_, i) => found[i]);
  }

  async function listModelIds(task: string, options: MetadataCallOptions = {}): Promise<string[]> {
    return (await versionObjects(task, options.signal)).map((version) => version.id);
  }

  const listing = bucketListing({ backend, layout, versionObjects, readVersion, mapLimited });
  const { listModels, listModelsPage } = listing;

  const pointerKeys = (task: string) => [layout.latestKey(task), layout.pythonLatestKey(task)];

  /** `model_states/modelstore-deleted.json`, which the Python modelstore writes with its first tombstone. */
  async function ensureDeletedState(signal?: AbortSignal): Promise<void> {
    const key = `${layout.root}/model_states/${DELETED_STATE}.json`;
    if (await backend.head(key, { signal })) return;
    const doc = { created: formatLayoutTime(new Date()), state_name: DELETED_STATE };
    await backend.put(key, new TextEncoder().encode(JSON.stringify(doc)), { signal, ifNoneMatch: "*", contentType: "application/json" }).catch((error: unknown) => {
      if (!hasErrorCode(error, "ALREADY_EXISTS")) throw error;
    });
  }

  /** The listing cache and journal of a domain: derived, never needed. */
  async function deleteListing(task: string, options: MetadataCallOptions): Promise<void> {
    await backend.delete(listingCacheKey(layout, task), options);
    for (const entry of await listJournal(backend, layout, task, options.signal)) await backend.delete(entry.key, options);
  }

  const newestOf = (task: string, signal?: AbortSignal) => async () => (await listModels(task, { signal }))[0];
  const versionExists = (task: string, signal?: AbortSignal) => async (id: string) => (await backend.head(layout.versionKey(task, id), { signal })) !== null;

  async function getTask(name: string, options: MetadataCallOptions = {}): Promise<TaskRecord | null> {
    const member = (await readIndex(options.signal)).tasks.get(name);
    if (member) return { name, project: member.project, created: member.created };
    return (await hasModels(name, options.signal)) ? { name, project: DEFAULT_PROJECT } : null;
  }

  async function ensureProject(name: string, options: MetadataCallOptions = {}): Promise<ProjectRecord> {
    if (name === DEFAULT_PROJECT) return { name };
    const key = layout.projectKey(name);
    const created = new Date().toISOString();
    try {
      await backend.put(key, json({ name, created }), { signal: options.signal, ifNoneMatch: "*", contentType: "application/json" });
      return { name, created };
    } catch (error) {
      if (!hasErrorCode(error, "ALREADY_EXISTS")) throw error;
      const info = await backend.head(key, options);
      return { name, created: info?.lastModified };
    }
  }

  async function ensureTask(name: string, project: string, options: MetadataCallOptions = {}): Promise<TaskRecord> {
    const found = await getTask(name, options);
    if (found) {
      if (found.project !== project) throw taskInOtherProject(name, found.project, project);
      return found;
    }
    await ensureProject(project, options);
    const created = new Date().toISOString();
    try {
      await backend.put(layout.membershipKey(project, name), json({ project, task: name, created }), {
        signal: options.signal,
        ifNoneMatch: "*",
        contentType: "application/json",
      });
    } catch (error) {
      if (!hasErrorCode(error, "ALREADY_EXISTS")) throw error; // created by someone else meanwhile: same result
    }
    return { name, project, created };
  }

  return {
    name: "bucket",
    layout,

    async getProject(name, options = {}) {
      if (name === DEFAULT_PROJECT) return { name };
      const info = await backend.head(layout.projectKey(name), options);
      return info ? { name, created: info.lastModified } : null;
    },

    ensureProject,

    async listProjects(options = {}) {
      const { projects } = await readIndex(options.signal);
      const names = new Set([DEFAULT_PROJECT, ...projects.keys()]);
      return [...names].sort().map((name) => (name === DEFAULT_PROJECT ? { name } : { name, created: projects.get(name) }));
    },

    async deleteProject(name, options = {}) {
      if (name === DEFAULT_PROJECT) throw defaultProjectUndeletable();
      const index = await readIndex(options.signal);
      if (!index.projects.has(name)) return false;
      const tasks = [...index.tasks.values()].filter((task) => task.project === name).length;
      if (tasks > 0) throw projectNotEmpty(name, tasks);
      await backend.delete(layout.projectKey(name), options);
      return true;
    },

    getTask,
    ensureTask,

    async listTasks(options: ListTasksOptions = {}) {
      const [index, domains] = await Promise.all([readIndex(options.signal), domainsWithModels(options.signal)]);
      const tasks = new Map<string, TaskRecord>();
      for (const name of domains) tasks.set(name, { name, project: DEFAULT_PROJECT });
      for (const [name, member] of index.tasks) tasks.set(name, { name, project: member.project, created: member.created });
      return [...tasks.values()]
        .filter((task) => options.project === undefined || task.project === options.project)
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },

    async deleteTask(name, options = {}) {
      const task = await getTask(name, options);
      // A domain whose last model was deleted is no task any more, but its listing cache (derived, never needed) goes now.
      if (!task) return (await deleteListing(name, options), false);
      const models = (await listModelIds(name, options)).length;
      if (models > 0) throw taskNotEmpty(name, models);
      // Stray pointers left by an interrupted delete, and the tombstones of deleted models: the domain goes with them.
      for (const key of pointerKeys(name)) await backend.delete(key, options);
      await deleteListing(name, options);
      for await (const object of backend.list(layout.tombstonesPrefix(name), options)) await backend.delete(object.key, options);
      const index = await readIndex(options.signal);
      for (const [project] of index.projects) await backend.delete(layout.membershipKey(project, name), options);
      await backend.delete(layout.membershipKey(task.project, name), options);
      return true;
    },

    async addModel(metadata: ModelMetadata, options: AddModelOptions = {}) {
      const { domain: task, model_id: id } = metadata.model;
      const { signal } = options;
      // Without a project the model joins its task wherever it is: nothing to look up.
      if (options.project !== undefined) {
        const existing = await getTask(task, options);
        if (existing && existing.project !== options.project) throw taskInOtherProject(task, existing.project, options.project);
        // Tasks of the default project need no document: the Python layout stays untouched.
        if (!existing && options.project !== DEFAULT_PROJECT) await ensureTask(task, options.project, options);
      }
      const versionKey = layout.versionKey(task, id);
      // Before the document: a first page served from the listing cache reads every intent's document.
      const intent = await writeIntent(backend, layout, task, id, signal);
      try {
        await backend.put(versionKey, new TextEncoder().encode(JSON.stringify(metadata, null, 2) + "\n"), {
          signal,
          ifNoneMatch: "*",
          contentType: "application/json",
        });
      } catch (error) {
        if (!hasErrorCode(error, "ALREADY_EXISTS")) throw error;
        // A retried create-only write whose first attempt landed (its answer lost) is
        // refused too: then the document there is this one, and the model is recorded.
        const existing = await readMetadata(backend, versionKey, signal).catch(() => null);
        if (!existing || JSON.stringify(existing) !== JSON.stringify(metadata)) {
          await backend.delete(intent).catch(() => undefined);
          throw modelExists(task, id);
        }
      }
      try {
        // Both pointers: ours, and domains/<domain>.json, which the Python modelstore lists and reads as its latest.
        const writtenAt = async (m: ModelMetadata) =>
          m.code.created_at === undefined ? (await backend.head(layout.versionKey(task, m.model.model_id), { signal }).catch(() => null))?.lastModified : undefined;
        await advanceLatest(backend, layout.latestKey(task), metadata, signal, writtenAt);
        const moves = await advanceLatest(backend, layout.pythonLatestKey(task), metadata, signal, writtenAt);
        await writePointerMoves(backend, layout, task, id, moves, signal);
      } catch (error) {
        // Cleanup runs after the caller's signal may have fired, so it takes none.
        // The intent goes only once the document is gone: an intent without a document is harmless, a document without one is not.
        if (await backend.delete(versionKey).then(() => true, () => false)) await backend.delete(intent).catch(() => undefined);
        // A pointer write may have landed before its response was lost: point it back.
        for (const key of pointerKeys(task)) await repairLatest(backend, key, id, newestOf(task), versionExists(task)).catch(() => undefined);
        throw error;
      }
    },

    getModel,
    listModelIds,
    listModels,
    listModelsPage,
    latestModel,

    ...bucketStates({ backend, layout, domains: domainsWithModels, mapLimited }),

    async deleteModel(task, id, options = {}) {
      const key = layout.versionKey(task, id);
      const body = await backend.get(key, options);
      if (!body) return false;
      const document = await readSmallText(body, `The document at "${key}"`);
      // The Python modelstore's tombstone (0.0.74+): its readers then say "deleted", not "not found".
      await backend.put(layout.tombstoneKey(task, id), new TextEncoder().encode(document), { signal: options.signal, contentType: "application/json" });
      await ensureDeletedState(options.signal);
      await backend.delete(key, options);
      // Its journal objects: the tombstone now tells the newest page (a broken chain of pointer moves only costs a full listing).
      for (const entry of await listJournal(backend, layout, task, options.signal)) if (entry.id === id) await backend.delete(entry.key, options);
      await forgetModelStates(backend, layout, task, id, options);
      for (const pointer of pointerKeys(task)) {
        await repairLatest(backend, pointer, id, newestOf(task, options.signal), versionExists(task, options.signal), options.signal);
      }
      return true;
    },
  };
}

function isValidDomain(name: string): boolean {
  try {
    validateDomain(name);
    return true;
  } catch {
    return false;
  }
}


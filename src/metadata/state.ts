/**
 * The whole metadata of a store as one JSON-native object, with the operations
 * on it. The in-memory repository keeps one in a variable; the local JSON file
 * repository loads it, applies one operation under a lock and writes it back.
 */
import { compareNewestFirst, createdTime, type ModelMetadata } from "./document.ts";
import { defaultProjectUndeletable, modelExists, projectNotEmpty, taskInOtherProject, taskNotEmpty } from "./errors.ts";
import { DEFAULT_PROJECT, type ProjectRecord, type TaskRecord } from "./repository.ts";

/** The stored shape (`metadata.json`). Plain objects keyed by name, so JSON round-trips it. */
export interface MetadataState {
  /** Format version of this document. */
  version: 1;
  projects: Record<string, { created: string }>;
  tasks: Record<string, { project: string; created: string }>;
  /** task → model id → metadata. */
  models: Record<string, Record<string, ModelMetadata>>;
}

// The newest model per task's models record, so latestModel() is one lookup while
// nothing changes. Keyed by the record object: a record replaced (a reloaded file) starts afresh.
const latestCache = new WeakMap<object, ModelMetadata | null>();

/** An empty store's state. */
export function emptyState(): MetadataState {
  return { version: 1, projects: {}, tasks: {}, models: {} };
}

const own = <T>(record: Record<string, T>, key: string): T | undefined => (Object.hasOwn(record, key) ? record[key] : undefined);
// defineProperty, not assignment: a task or project named "__proto__" is a valid name and must stay data.
const put = <T>(record: Record<string, T>, key: string, value: T) =>
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** A project, or `null`; the default project always exists. */
export function getProject(state: MetadataState, name: string): ProjectRecord | null {
  const project = own(state.projects, name);
  if (project) return { name, created: project.created };
  return name === DEFAULT_PROJECT ? { name } : null;
}

/** Creates a project unless it exists (the default project needs no record). */
export function ensureProject(state: MetadataState, name: string, now: string): ProjectRecord {
  const found = getProject(state, name);
  if (found) return found;
  put(state.projects, name, { created: now });
  return { name, created: now };
}

/** Every project, the default included. */
export function listProjects(state: MetadataState): ProjectRecord[] {
  const names = new Set([DEFAULT_PROJECT, ...Object.keys(state.projects)]);
  return [...names].map((name) => getProject(state, name)!).sort(byName);
}

/** Removes an empty project. */
export function deleteProject(state: MetadataState, name: string): boolean {
  if (name === DEFAULT_PROJECT) throw defaultProjectUndeletable();
  if (!own(state.projects, name)) return false;
  const tasks = listTasks(state, name).length;
  if (tasks > 0) throw projectNotEmpty(name, tasks);
  delete state.projects[name];
  return true;
}

/** A task, or `null`. */
export function getTask(state: MetadataState, name: string): TaskRecord | null {
  const task = own(state.tasks, name);
  return task ? { name, project: task.project, created: task.created } : null;
}

/** Creates a task in `project` unless it exists there; a task in another project is a conflict. */
export function ensureTask(state: MetadataState, name: string, project: string, now: string): TaskRecord {
  const found = getTask(state, name);
  if (found) {
    if (found.project !== project) throw taskInOtherProject(name, found.project, project);
    return found;
  }
  ensureProject(state, project, now);
  put(state.tasks, name, { project, created: now });
  return { name, project, created: now };
}

/** Tasks sorted by name, all or one project's. */
export function listTasks(state: MetadataState, project?: string): TaskRecord[] {
  return Object.keys(state.tasks)
    .map((name) => getTask(state, name)!)
    .filter((task) => project === undefined || task.project === project)
    .sort(byName);
}

/** Removes a task without models. */
export function deleteTask(state: MetadataState, name: string): boolean {
  if (!own(state.tasks, name)) return false;
  const models = Object.keys(own(state.models, name) ?? {}).length;
  if (models > 0) throw taskNotEmpty(name, models);
  delete state.tasks[name];
  delete state.models[name];
  return true;
}

/** Records a model, creating its task (and project) when missing. */
export function addModel(state: MetadataState, metadata: ModelMetadata, project: string | undefined, now: string): void {
  const { domain: task, model_id: id } = metadata.model;
  const existing = getTask(state, task);
  ensureTask(state, task, project ?? existing?.project ?? DEFAULT_PROJECT, now);
  const models = own(state.models, task) ?? put(state.models, task, {} as Record<string, ModelMetadata>)[task];
  if (own(models, id)) throw modelExists(task, id);
  put(models, id, metadata);
  latestCache.delete(models);
}

/** One model, or `null`. */
export function getModel(state: MetadataState, task: string, id: string): ModelMetadata | null {
  const models = own(state.models, task);
  return (models && own(models, id)) ?? null;
}

/** A task's models, newest first. */
export function listModels(state: MetadataState, task: string): ModelMetadata[] {
  // Parse each creation time once, not once per comparison.
  const keyed = Object.values(own(state.models, task) ?? {}).map((model) => ({ model, time: createdTime(model.code.created) }));
  keyed.sort((a, b) => b.time - a.time || compareNewestFirst(a.model, b.model));
  return keyed.map((entry) => entry.model);
}

/** A deep copy of JSON-native data (documents are JSON by design; this is faster than structuredClone). */
export function copyJson<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** The newest model of a task: one pass (no sort) the first time, then cached until the task changes. */
export function latestModel(state: MetadataState, task: string): ModelMetadata | null {
  const models = own(state.models, task);
  if (!models) return null;
  const cached = latestCache.get(models);
  if (cached !== undefined) return cached;
  let newest: ModelMetadata | null = null;
  for (const model of Object.values(models)) {
    if (!newest || compareNewestFirst(model, newest) < 0) newest = model;
  }
  latestCache.set(models, newest);
  return newest;
}

/** Removes one model's metadata. */
export function deleteModel(state: MetadataState, task: string, id: string): boolean {
  const models = own(state.models, task);
  if (!models || !own(models, id)) return false;
  delete models[id];
  latestCache.delete(models);
  return true;
}

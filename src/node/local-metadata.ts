/**
 * Metadata in one local JSON file (`metadata.json` in the store directory).
 * Every change runs under a lock file (so two processes never interleave a
 * read-modify-write) and is committed by writing a temp file and renaming it
 * over the old one (so a reader, or a crash, sees the old file or the new one,
 * never half). Readers take no lock. Node, Deno and Bun only: it needs `node:fs`.
 */
import { mkdir, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { fsCall, isErrno } from "../backends/fs/fs-errors.ts";
import { tempName } from "../backends/fs/fs-keys.ts";
import { withFileLock } from "../backends/fs/fs-lock.ts";
import { IntegrityError } from "../util/errors.ts";
import { checkMetadata } from "../metadata/document.ts";
import type { ModelMetadata } from "../metadata/document.ts";
import type { AddModelOptions, ListTasksOptions, MetadataCallOptions, MetadataRepository } from "../metadata/repository.ts";
import * as S from "../metadata/state.ts";
import * as M from "../metadata/model-states.ts";
import { pageOf } from "../metadata/model-pages.ts";

/** Options for {@link localMetadata}. */
export interface LocalMetadataOptions {
  /** The JSON file. @default ".modelstore/metadata.json" */
  path?: string;
  /**
   * A lock older than this belongs to a crashed process and is broken. Changes
   * hold the lock for as long as one rewrite of the file takes.
   * @default 30_000
   */
  staleLockMs?: number;
}

/** The file name inside a store directory. */
export const LOCAL_METADATA_FILE = "metadata.json";

/** A {@link MetadataRepository} in one JSON file, safe for several processes at once. */
export function localMetadata(options: LocalMetadataOptions = {}): MetadataRepository & { readonly path: string } {
  const path = resolve(options.path ?? join(".modelstore", LOCAL_METADATA_FILE));
  const dir = dirname(path);
  // The lock and temp names are the file-system backend's hidden ones, so a
  // backend rooted in the same directory never lists them as objects.
  const lockPath = join(dir, `.${basename(path)}.lock`);
  const context = { operation: "metadata", key: basename(path), root: dir };
  // The parsed file, reused while the file is unchanged: every write renames a new
  // file into place, so a new inode (or size, or mtime) means new contents.
  let cache: { stamp: string; state: S.MetadataState } | undefined;
  const staleMs = options.staleLockMs;

  /** The file's state; the cached one unless `fresh` (a change works on its own copy, parsed anew). */
  async function load(fresh = false): Promise<S.MetadataState> {
    for (;;) {
      const info = await stat(path, { bigint: true }).catch((error) => {
        if (isErrno(error, "ENOENT")) return undefined;
        throw error;
      });
      if (!info) return S.emptyState();
      const stamp = `${info.ino}:${info.size}:${info.mtimeNs}`;
      if (!fresh && cache?.stamp === stamp) return cache.state;
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch (error) {
        if (isErrno(error, "ENOENT")) continue; // replaced between stat and read: look again
        throw error;
      }
      const state = parse(text, path);
      if (!fresh) cache = { stamp, state };
      return state;
    }
  }

  const read = <T>(action: (state: S.MetadataState) => T, _options?: MetadataCallOptions): Promise<T> =>
    fsCall(context, async () => S.copyJson(action(await load())));

  function change<T>(action: (state: S.MetadataState, now: string) => T, callOptions: MetadataCallOptions = {}): Promise<T> {
    return fsCall(context, async () => {
      await mkdir(dir, { recursive: true });
      return withFileLock(
        lockPath,
        async () => {
          // Parsed anew, not the cached state: if the action throws halfway, the cache stays what the file says.
          const state = await load(true);
          const result = action(state, new Date().toISOString());
          const stamp = await writeAtomically(dir, path, JSON.stringify(state));
          cache = { stamp, state }; // what we wrote is what the file now holds: no re-read
          return S.copyJson(result);
        },
        { signal: callOptions.signal, staleMs },
      );
    });
  }

  return {
    name: "local",
    path,
    getProject: (name, o) => read((s) => S.getProject(s, name), o),
    ensureProject: (name, o) => change((s, now) => S.ensureProject(s, name, now), o),
    listProjects: (o) => read((s) => S.listProjects(s), o),
    deleteProject: (name, o) => change((s) => S.deleteProject(s, name), o),
    getTask: (name, o) => read((s) => S.getTask(s, name), o),
    ensureTask: (name, project, o) => change((s, now) => S.ensureTask(s, name, project, now), o),
    listTasks: (o: ListTasksOptions = {}) => read((s) => S.listTasks(s, o.project), o),
    deleteTask: (name, o) => change((s) => S.deleteTask(s, name), o),
    addModel: (metadata: ModelMetadata, o: AddModelOptions = {}) => change((s, now) => S.addModel(s, S.copyJson(metadata), o.project, now), o),
    getModel: (task, id, o) => read((s) => S.getModel(s, task, id), o),
    listModelIds: (task, o) => read((s) => S.listModels(s, task).map((m) => m.model.model_id), o),
    listModels: (task, o) => read((s) => S.listModels(s, task), o),
    listModelsPage: (task, o = {}) => read((s) => pageOf(S.listModels(s, task), o), o),
    latestModel: (task, o) => read((s) => S.latestModel(s, task), o),
    deleteModel: (task, id, o) =>
      change((s, now) => {
        if (S.getModel(s, task, id)) M.forgetModel(s, task, id, o?.user ?? "unknown", now);
        return S.deleteModel(s, task, id);
      }, o),
    createModelState: (name, o) => change((s, now) => M.createState(s, name, now), o),
    listModelStates: (o) => read((s) => M.listStates(s), o),
    deleteModelState: (name, o) => change((s) => M.deleteState(s, name), o),
    setModelState: (task, id, name, o = {}) => change((s, now) => M.setState(s, task, id, name, o.user ?? "unknown", now), o),
    removeModelState: (task, id, name, o = {}) => change((s, now) => M.removeState(s, task, id, name, o.user ?? "unknown", now), o),
    getModelStates: (task, id, o) => read((s) => M.statesOf(s, task, id), o),
    listModelsInState: (task, name, o) => read((s) => M.modelsInState(s, task, name), o),
    stateHistory: (task, o) => read((s) => M.historyOf(s, task), o),
  };
}

function parse(text: string, path: string): S.MetadataState {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new IntegrityError(`The metadata file "${path}" is not valid JSON. Restore it from a backup, or delete it to start an empty store (the archives stay).`, { cause });
  }
  const state = doc as Partial<S.MetadataState> | null;
  if (!state || state.version !== 1 || typeof state.projects !== "object" || typeof state.tasks !== "object" || typeof state.models !== "object") {
    throw new IntegrityError(`The metadata file "${path}" is not a modelstore metadata file (version 1). Point the store at another path, or restore the file.`);
  }
  for (const [task, models] of Object.entries(state.models!)) {
    if (typeof models !== "object" || models === null) {
      throw new IntegrityError(`The metadata file "${path}" is corrupt: the models of task "${task}" are not an object. Restore the file from a backup.`);
    }
    // Each entry is checked as a bucket document would be, so a hand-edited file fails here, with its place named.
    for (const [id, metadata] of Object.entries(models)) {
      checkMetadata(metadata, `The entry for model "${id}" of task "${task}" in "${path}"`, { domain: task, modelId: id });
    }
  }
  return state as S.MetadataState;
}

/**
 * Writes `text` to a temp file beside `path`, flushes it, and renames it over `path`.
 * Returns the new file's stamp (inode, size, mtime), taken from the temp file: a rename
 * keeps all three, and reading them before the rename cannot pick up a later writer's file.
 */
async function writeAtomically(dir: string, path: string, text: string): Promise<string> {
  const temp = join(dir, tempName(basename(path)));
  const handle = await open(temp, "wx");
  try {
    let stamp: string;
    try {
      await handle.writeFile(text);
      // Flushed before the rename: after a crash the file is the old one or the whole new one.
      await handle.sync();
      const info = await handle.stat({ bigint: true });
      stamp = `${info.ino}:${info.size}:${info.mtimeNs}`;
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    return stamp;
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

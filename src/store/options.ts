/** The options of `ModelStore` and of its methods. */
import type { ArchiveInputEntry, CreateArchiveOptions, EntrySource } from "../archive/types.ts";
import type { Backend } from "../backends/backend.ts";
import type { GitInfo, JsonValue, ModelType } from "../metadata/document.ts";
import type { MetadataRepository } from "../metadata/repository.ts";

/** Options for `ModelStore`. */
export interface ModelStoreOptions {
  /** Where the bytes go (the artifact repository). */
  backend: Backend;
  /**
   * Where model metadata, tasks and projects live.
   * @default the bucket layout in `backend` (`versions/<id>.json`, `latest.json`), see {@link bucketMetadata}
   */
  metadata?: MetadataRepository;
  /** Top-level prefix of every key. @default "operatorai-model-store" */
  rootPrefix?: string;
  /**
   * Where uploads put their archives. `"python"` writes them exactly where the
   * Python modelstore 0.0.77 and later does, `<domain>/<%Y.%m.%d-%H.%M.%S>/<model-id>/artifacts.tar.gz`
   * (times in UTC): one key per model, so no slot is claimed, and no `:` in keys,
   * which Windows file systems and some tools refuse. Both are read whatever this says.
   * @default "seed": `<domain>/<%Y/%m/%d/%H:%M:%S>/artifacts.tar.gz` (with `<model-id>/` after the time where a backend cannot refuse a second writer)
   */
  archiveLayout?: "seed" | "python";
  /**
   * Recorded as `code.user` by every upload.
   * @default LOGNAME, USER, LNAME or USERNAME, the first set, as Python's `getpass.getuser()`;
   * "unknown" when none is. The Node factories (`local`, `custom`) and the CLI pass
   * `currentUser()` from `modelstore-js/fs`, which falls back to the OS account.
   */
  user?: string;
}

/** Options for deleting a project or task. */
export interface DeleteOptions extends ReadOptions {
  /**
   * Also delete what it holds: a task's models (metadata and archives), a
   * project's tasks with their models. Without it, deleting something that is
   * not empty fails with `ConflictError`. @default false
   */
  cascade?: boolean;
}

/** Options for `ModelStore.listTasks`. */
export interface ListTasksOptions extends ReadOptions {
  /** Only this project's tasks. @default every task */
  project?: string;
}

/** Options for `ModelStore.ensureTask`. */
export interface EnsureTaskOptions extends ReadOptions {
  /** The project to create the task in (created too when missing). @default "default" */
  project?: string;
}

/** Progress of an upload, reported as archive bytes are stored. */
export interface UploadProgress {
  /** Compressed archive bytes written so far. */
  bytes: number;
}

/** Options for `ModelStore.upload`. */
export interface UploadOptions {
  /** The model's files, stored at the top of the archive. */
  files: EntrySource<ArchiveInputEntry>;
  /** Extra files, stored under `extras/` in the archive. */
  extras?: EntrySource<ArchiveInputEntry>;
  /** Your own JSON metadata, stored as `extra`. */
  extraMetadata?: JsonValue;
  /**
   * The project the domain (task) belongs to. A new task is created in it (and a
   * new project too); a task already in another project fails with `ConflictError`.
   * @default the task's own project, or "default" for a new task
   */
  project?: string;
  /** The model's id. @default a new UUID4 */
  modelId?: string;
  /**
   * Which library and class produced the model. Always recorded: the Python
   * modelstore (0.0.75+) cannot read a document without `model.model_type`.
   * @default { library: "model_file" }, the Python modelstore's type for files it did not produce
   */
  modelType?: ModelType;
  /**
   * Exact versions of the libraries the model needs (`{ "onnxruntime-node": "1.20.1" }`),
   * recorded in `code.dependencies` and `runtime-info.json` next to this library's own.
   * On Node, `installedVersions()` from `modelstore-js/fs` reads them from node_modules.
   */
  dependencies?: Record<string, string>;
  /** What a framework adapter knows of the model (inputs, outputs, signature), recorded as `model.info`. */
  modelInfo?: { [key: string]: JsonValue };
  /** The git checkout the model was trained in, recorded as `code.git` (`gitInfo()` from `modelstore-js/fs` finds it). */
  git?: GitInfo;
  /** Archive settings (compression level, engine, determinism). */
  archive?: Omit<CreateArchiveOptions, "signal" | "dependencies">;
  /** Aborts the upload; nothing stays visible. */
  signal?: AbortSignal;
  /** Called as archive bytes are stored. */
  onProgress?: (progress: UploadProgress) => void;
}

/** Options for reads that may take long. */
export interface ReadOptions {
  /** Aborts the call. */
  signal?: AbortSignal;
}

/** Options for `ModelStore.listModels` and `ModelStore.getLatest`. */
export interface ModelQueryOptions extends ReadOptions {
  /** Only the models in this model state (see `createModelState`). @default every model */
  state?: string;
}

/** Options for `ModelStore.listModelsPage`: one page of a domain's models. */
export interface ModelPageQuery extends ModelQueryOptions {
  /** Models per page, 1 to 10,000. @default 100 */
  limit?: number;
  /** The `cursor` the previous page returned; none for the newest page. */
  cursor?: string;
}

/** Options for `ModelStore.models`, which pages for the caller. */
export interface ModelIterationOptions extends ModelQueryOptions {
  /** Models fetched per page. @default 100 */
  pageSize?: number;
}

/** Options for `ModelStore.setModelState` and `ModelStore.removeModelState`. */
export interface StateChangeOptions extends ReadOptions {
  /** Recorded in the state history as who made the change. @default the store's `user`, else the environment's */
  user?: string;
}

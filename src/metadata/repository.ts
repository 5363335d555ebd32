/**
 * The MetadataRepository contract: where model descriptions, tasks and projects
 * live, apart from the artifact bytes (which go to a {@link Backend}). Every
 * implementation (bucket, memory, local JSON file, PostgreSQL) passes the one
 * contract suite in `test/metadata/contract.ts`.
 *
 * The world is project → task → model: a task is a domain, a model is one
 * uploaded version in a task, and a project groups tasks. Task names are unique
 * in the whole store (not only within their project) because a task is the
 * domain that names the archive keys `<root>/<domain>/…` and `model.domain`.
 */
import type { ModelMetadata } from "./document.ts";
import type { ModelPage, ModelPageOptions } from "./model-pages.ts";

/** The project every task belongs to unless it was put in another one. It always exists. */
export const DEFAULT_PROJECT = "default";

/** Options every repository call accepts. */
export interface MetadataCallOptions {
  /** Aborts the call where the repository can stop safely. */
  signal?: AbortSignal;
}

/** A project: a named group of tasks. */
export interface ProjectRecord {
  name: string;
  /** ISO-8601 creation time; `undefined` for the implicit default project. */
  created?: string;
}

/** A task (a domain): a named series of models inside one project. */
export interface TaskRecord {
  name: string;
  /** The project it belongs to ({@link DEFAULT_PROJECT} unless put elsewhere). */
  project: string;
  /** ISO-8601 creation time, when the repository records it. */
  created?: string;
}

/** Options for {@link MetadataRepository.addModel}. */
export interface AddModelOptions extends MetadataCallOptions {
  /**
   * The project the model's task must belong to. A missing task is created in it
   * (and a missing project too); a task already in another project fails with
   * `ConflictError`. @default the task's project, or {@link DEFAULT_PROJECT} for a new task
   */
  project?: string;
}

/** Options for {@link MetadataRepository.listTasks}. */
export interface ListTasksOptions extends MetadataCallOptions {
  /** Only the tasks of this project. @default every task */
  project?: string;
}

/**
 * Where model metadata, tasks and projects are kept. Calls validate nothing:
 * the {@link ModelStore} validates names before calling. A missing thing
 * resolves `null` (or `false`); a real failure throws a `ModelStoreError`.
 */
export interface MetadataRepository {
  /** Short name used in messages: `"bucket"`, `"memory"`, `"local"`, `"postgres"`. */
  readonly name: string;

  /** A project, or `null`. {@link DEFAULT_PROJECT} always exists. */
  getProject(name: string, options?: MetadataCallOptions): Promise<ProjectRecord | null>;
  /** Creates the project unless it exists; returns it either way. */
  ensureProject(name: string, options?: MetadataCallOptions): Promise<ProjectRecord>;
  /** Every project, sorted by name; always includes {@link DEFAULT_PROJECT}. */
  listProjects(options?: MetadataCallOptions): Promise<ProjectRecord[]>;
  /**
   * Removes an empty project; `false` when it did not exist.
   * @throws ConflictError when it still has tasks (the store deletes them first for `cascade`)
   * @throws InvalidArgumentError for {@link DEFAULT_PROJECT}, which always exists
   */
  deleteProject(name: string, options?: MetadataCallOptions): Promise<boolean>;

  /** A task, or `null`. A task exists once created or once it holds a model. */
  getTask(name: string, options?: MetadataCallOptions): Promise<TaskRecord | null>;
  /**
   * Creates the task in `project` (creating the project too) unless it exists.
   * @throws ConflictError when the task exists in another project
   */
  ensureTask(name: string, project: string, options?: MetadataCallOptions): Promise<TaskRecord>;
  /** Tasks sorted by name, all or one project's. */
  listTasks(options?: ListTasksOptions): Promise<TaskRecord[]>;
  /**
   * Removes a task that holds no models; `false` when it did not exist.
   * @throws ConflictError when it still holds models
   */
  deleteTask(name: string, options?: MetadataCallOptions): Promise<boolean>;

  /**
   * Records a model (its task is `metadata.model.domain`), atomically: on failure
   * nothing of it is visible. The latest model of the task becomes the newest by
   * creation time, whatever the order of racing adds.
   * @throws AlreadyExistsError when the task already holds a model with this id
   * @throws ConflictError when `options.project` names another project than the task's
   */
  addModel(metadata: ModelMetadata, options?: AddModelOptions): Promise<void>;
  /** One model's metadata, or `null`. */
  getModel(task: string, modelId: string, options?: MetadataCallOptions): Promise<ModelMetadata | null>;
  /** Ids of a task's models, in no promised order (cheap where the repository allows). */
  listModelIds(task: string, options?: MetadataCallOptions): Promise<string[]>;
  /** A task's models, newest first (see `compareNewestFirst`); an unknown task lists nothing. */
  listModels(task: string, options?: MetadataCallOptions): Promise<ModelMetadata[]>;
  /**
   * One page of a task's models, newest first by page key (creation instant,
   * archive location, id); `cursor` continues after the previous page. Where the
   * repository allows, a page reads only the documents that can sort into it.
   * @throws InvalidArgumentError for a bad `limit` or a cursor no page handed out
   */
  listModelsPage(task: string, options?: ModelPageOptions): Promise<ModelPage>;
  /** The newest model of a task, or `null` when it has none. */
  latestModel(task: string, options?: MetadataCallOptions): Promise<ModelMetadata | null>;
  /**
   * Removes a model's metadata (the latest moves to the newest remaining); `false` when it did not exist.
   * The model leaves its states, each recorded as a `remove` event by `options.user`.
   */
  deleteModel(task: string, modelId: string, options?: StateChangeOptions): Promise<boolean>;

  /** Creates a model state unless it exists; returns it either way. Names arrive validated. */
  createModelState(name: string, options?: MetadataCallOptions): Promise<ModelStateRecord>;
  /** Every model state, sorted by name, without the reserved ones (`modelstore-deleted`). */
  listModelStates(options?: MetadataCallOptions): Promise<ModelStateRecord[]>;
  /**
   * Removes a model state; `false` when it did not exist.
   * @throws ConflictError when models of any domain are still in it
   */
  deleteModelState(name: string, options?: MetadataCallOptions): Promise<boolean>;
  /**
   * Puts a model in a state (a no-op when it is already there) and appends a `set` event to the task's history.
   * @throws NotFoundError when the state or the model does not exist
   */
  setModelState(task: string, modelId: string, state: string, options?: StateChangeOptions): Promise<void>;
  /**
   * Takes a model out of a state and appends a `remove` event; `false` (nothing recorded) when it was not in it.
   * @throws NotFoundError when the state does not exist
   */
  removeModelState(task: string, modelId: string, state: string, options?: StateChangeOptions): Promise<boolean>;
  /** The states a model is in, sorted by name, without the reserved ones. */
  getModelStates(task: string, modelId: string, options?: MetadataCallOptions): Promise<string[]>;
  /**
   * A task's models in a state, newest first. A reserved state that was never written lists nothing.
   * @throws NotFoundError when the state does not exist
   */
  listModelsInState(task: string, state: string, options?: MetadataCallOptions): Promise<ModelMetadata[]>;
  /** Every state change of a task's models, oldest first (deleting a model records its leaving its states). */
  stateHistory(task: string, options?: MetadataCallOptions): Promise<StateEvent[]>;

  /** Releases connections or handles. The repository is unusable afterwards. */
  close?(): Promise<void>;
}

/** A model state: a global tag models of any domain can carry. */
export interface ModelStateRecord {
  name: string;
  /** When it was created (ISO-8601), where the repository knows. */
  created?: string;
}

/** One change of a model's states, as recorded in the append-only history. */
export interface StateEvent {
  domain: string;
  modelId: string;
  state: string;
  /** `set`: the model entered the state; `remove`: it left it. */
  action: "set" | "remove";
  /** ISO-8601 UTC time of the change. */
  at: string;
  /** Who made the change (the store's user, else the environment's). */
  user: string;
}

/** Options for the calls that change a model's states. */
export interface StateChangeOptions extends MetadataCallOptions {
  /** Recorded in the history as who made the change. @default "unknown" */
  user?: string;
}

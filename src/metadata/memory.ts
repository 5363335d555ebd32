/**
 * In-memory metadata: for tests, ephemeral workers and `inMemory()` stores.
 * Documents are copied in and out, so callers never share objects with it.
 */
import type { ModelMetadata } from "./document.ts";
import type { AddModelOptions, ListTasksOptions, MetadataRepository, ProjectRecord, TaskRecord } from "./repository.ts";
import * as S from "./state.ts";
import * as M from "./model-states.ts";
import { pageOf } from "./model-pages.ts";

const copy = S.copyJson;

/** A {@link MetadataRepository} that lives in this process's memory. */
export function memoryMetadata(): MetadataRepository {
  const state = S.emptyState();
  const now = () => new Date().toISOString();
  return {
    name: "memory",
    getProject: async (name): Promise<ProjectRecord | null> => S.getProject(state, name),
    ensureProject: async (name) => S.ensureProject(state, name, now()),
    listProjects: async () => S.listProjects(state),
    deleteProject: async (name) => S.deleteProject(state, name),
    getTask: async (name): Promise<TaskRecord | null> => S.getTask(state, name),
    ensureTask: async (name, project) => S.ensureTask(state, name, project, now()),
    listTasks: async (options: ListTasksOptions = {}) => S.listTasks(state, options.project),
    deleteTask: async (name) => S.deleteTask(state, name),
    addModel: async (metadata: ModelMetadata, options: AddModelOptions = {}) => S.addModel(state, copy(metadata), options.project, now()),
    getModel: async (task, id) => copy(S.getModel(state, task, id)),
    listModelIds: async (task) => S.listModels(state, task).map((m) => m.model.model_id),
    listModels: async (task) => copy(S.listModels(state, task)),
    listModelsPage: async (task, options) => copy(pageOf(S.listModels(state, task), options ?? {})),
    latestModel: async (task) => copy(S.latestModel(state, task)),
    deleteModel: async (task, id, options = {}) => {
      if (S.getModel(state, task, id)) M.forgetModel(state, task, id, options.user ?? "unknown", now());
      return S.deleteModel(state, task, id);
    },
    createModelState: async (name) => M.createState(state, name, now()),
    listModelStates: async () => M.listStates(state),
    deleteModelState: async (name) => M.deleteState(state, name),
    setModelState: async (task, id, name, options = {}) => M.setState(state, task, id, name, options.user ?? "unknown", now()),
    removeModelState: async (task, id, name, options = {}) => M.removeState(state, task, id, name, options.user ?? "unknown", now()),
    getModelStates: async (task, id) => M.statesOf(state, task, id),
    listModelsInState: async (task, name) => copy(M.modelsInState(state, task, name)),
    stateHistory: async (task) => copy(M.historyOf(state, task)),
  };
}

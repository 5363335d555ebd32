/**
 * The errors every metadata repository throws, built in one place so that the
 * same mistake reads the same whichever repository is configured.
 */
import { AlreadyExistsError, ConflictError, InvalidArgumentError } from "../util/errors.ts";
import { DEFAULT_PROJECT } from "./repository.ts";

/** A task already belongs to another project than the one asked for. */
export function taskInOtherProject(task: string, actual: string, wanted: string): ConflictError {
  return new ConflictError(
    `Task "${task}" belongs to project "${actual}", not "${wanted}". Pass project: "${actual}" (or omit project), or use another task name: task names are unique in the store.`,
  );
}

/** A project still has tasks. */
export function projectNotEmpty(project: string, tasks: number): ConflictError {
  return new ConflictError(
    `Project "${project}" still has ${tasks} task(s). Delete them first, or pass { cascade: true } to delete the tasks, their models and their archives too.`,
  );
}

/** A task still holds models. */
export function taskNotEmpty(task: string, models: number): ConflictError {
  return new ConflictError(
    `Task "${task}" still holds ${models} model(s). Delete them first, or pass { cascade: true } to delete the models and their archives too.`,
  );
}

/** A model id is taken in its task. */
export function modelExists(task: string, modelId: string): AlreadyExistsError {
  return new AlreadyExistsError(`Model "${modelId}" already exists in domain "${task}". Choose another modelId, or omit it to get a UUID4.`);
}

/** The default project cannot be removed: tasks without a project live in it. */
export function defaultProjectUndeletable(): InvalidArgumentError {
  return new InvalidArgumentError(
    `The project "${DEFAULT_PROJECT}" always exists: tasks without a project belong to it. Delete its tasks instead (store.deleteTask(name, { cascade: true })).`,
  );
}

/**
 * Model states (a lifecycle: "staging", "production"...), as the Python
 * modelstore (>= 0.0.7) keeps them, and their append-only history. States are
 * global to a store; a model can be in many. This file holds what every
 * repository shares: the records, the name rules, the errors, and the
 * operations on the whole-store state the memory and local-file repositories keep.
 *
 * Python's rules (modelstore/storage/states/model_states.py): a state name has
 * at least 3 characters, is one path segment, and is not reserved; the library
 * reserves `modelstore-deleted` for its tombstones.
 */
import { ConflictError, InvalidArgumentError, NotFoundError } from "../util/errors.ts";
import { createdTime, compareNewestFirst, type ModelMetadata } from "./document.ts";
import { validateModelId } from "./names.ts";
import type { ModelStateRecord, StateEvent } from "./repository.ts";

export type { ModelStateRecord, StateChangeOptions, StateEvent } from "./repository.ts";
import type { MetadataState } from "./state.ts";

/** State names the Python modelstore manages itself; nobody may create, set or delete them. */
export const RESERVED_STATES: readonly string[] = ["modelstore-deleted"];

/** A state name is reserved by the Python modelstore (or by this library's layout). */
export class ReservedStateError extends InvalidArgumentError {
  /** The refused name. */
  readonly state: string;
  constructor(state: string) {
    super(
      `The model state "${state}" is reserved: the modelstore library manages it itself (deleted models are kept in "modelstore-deleted"). Choose another name, such as "archived".`,
    );
    this.name = "ReservedStateError";
    this.state = state;
  }
}

/** Throws unless `state` can be a model state Python reads too (and a key segment here). */
export function validateStateName(state: unknown, options: { allowReserved?: boolean } = {}): string {
  if (typeof state !== "string") throw new InvalidArgumentError(`A model state must be a string, got ${typeof state}. Pass a name such as "production".`);
  if (RESERVED_STATES.includes(state)) {
    if (options.allowReserved) return state;
    throw new ReservedStateError(state);
  }
  let problem: string | undefined;
  if (state.length < 3) problem = "it is shorter than 3 characters (the Python modelstore refuses it)";
  else if (state.endsWith(".json")) problem = 'it ends in ".json", like the model documents beside the state folders';
  if (!problem) {
    try {
      validateModelId(state); // the same rules as any other key segment
    } catch (error) {
      problem = (error as Error).message.replace(/^Invalid model id [^:]*: /, "").replace(/\. Omit the id.*$/, "");
    }
  }
  if (problem) throw new InvalidArgumentError(`Invalid model state ${JSON.stringify(state)}: ${problem}. Use a single name such as "production".`);
  return state;
}

/** A state that was never created. */
export function unknownState(state: string): NotFoundError {
  return new NotFoundError(`The model state "${state}" does not exist. Create it first with store.createModelState("${state}"), or list the states with store.listModelStates().`);
}

/** A model to put in a state does not exist. */
export function unknownModel(domain: string, modelId: string): NotFoundError {
  return new NotFoundError(`Model "${modelId}" does not exist in domain "${domain}", so it cannot change state. List the domain's models with store.listModels("${domain}").`);
}

/** A state still holds models. */
export function stateInUse(state: string, count: number): ConflictError {
  return new ConflictError(`The model state "${state}" still holds ${count} model(s). Remove them from it first (store.removeModelState(domain, id, "${state}")).`);
}

/** A sortable, zone-free time stamp for keys: `20261204T234501123Z`. */
export function eventStamp(at: string): string {
  return at.replace(/[-:.]/g, "");
}

// ---- the whole-store state (memory and local-file repositories) ----

/** What the whole-store document keeps about states; optional fields, so older files stay valid. */
export interface StatesPart {
  /** state → created */
  modelStates?: Record<string, string>;
  /** state → task → model ids */
  memberships?: Record<string, Record<string, string[]>>;
  /** task → events, oldest first */
  stateEvents?: Record<string, StateEvent[]>;
}

const own = <T>(record: Record<string, T> | undefined, key: string): T | undefined => (record && Object.hasOwn(record, key) ? record[key] : undefined);
const put = <T>(record: Record<string, T>, key: string, value: T): T => {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  return value;
};
const parts = (state: MetadataState) => state as MetadataState & StatesPart;

/** Creates a state unless it exists. */
export function createState(state: MetadataState, name: string, now: string): ModelStateRecord {
  const s = parts(state);
  const states = (s.modelStates ??= {});
  const created = own(states, name) ?? put(states, name, now);
  return { name, created };
}

/** Every state but the reserved ones, sorted by name. */
export function listStates(state: MetadataState): ModelStateRecord[] {
  return Object.entries(parts(state).modelStates ?? {})
    .filter(([name]) => !RESERVED_STATES.includes(name))
    .map(([name, created]) => ({ name, created }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Removes a state that holds no model. */
export function deleteState(state: MetadataState, name: string): boolean {
  const s = parts(state);
  if (!own(s.modelStates, name)) return false;
  const count = Object.values(own(s.memberships, name) ?? {}).reduce((n, ids) => n + ids.length, 0);
  if (count > 0) throw stateInUse(name, count);
  delete s.modelStates![name];
  if (s.memberships) delete s.memberships[name];
  return true;
}

function record(state: MetadataState, event: StateEvent): void {
  const s = parts(state);
  const events = (s.stateEvents ??= {});
  (own(events, event.domain) ?? put(events, event.domain, [])).push(event);
}

/** Puts a model in a state and records the change. */
export function setState(state: MetadataState, task: string, id: string, name: string, user: string, now: string): void {
  const s = parts(state);
  if (!own(s.modelStates, name)) throw unknownState(name);
  if (!own(own(state.models, task) ?? {}, id)) throw unknownModel(task, id);
  const byTask = own((s.memberships ??= {}), name) ?? put(s.memberships, name, {});
  const ids = own(byTask, task) ?? put(byTask, task, []);
  if (!ids.includes(id)) ids.push(id);
  record(state, { domain: task, modelId: id, state: name, action: "set", at: now, user });
}

/** Takes a model out of a state; `false` (and nothing recorded) when it was not in it. */
export function removeState(state: MetadataState, task: string, id: string, name: string, user: string, now: string): boolean {
  const s = parts(state);
  if (!own(s.modelStates, name)) throw unknownState(name);
  const ids = own(own(s.memberships, name) ?? {}, task);
  const at = ids ? ids.indexOf(id) : -1;
  if (at < 0) return false;
  ids!.splice(at, 1);
  record(state, { domain: task, modelId: id, state: name, action: "remove", at: now, user });
  return true;
}

/** Takes a deleted model out of every state it was in, recording each as a `remove` event. */
export function forgetModel(state: MetadataState, task: string, id: string, user: string, now: string): void {
  for (const [name, byTask] of Object.entries(parts(state).memberships ?? {})) {
    const ids = own(byTask, task);
    if (!ids?.includes(id)) continue;
    ids.splice(ids.indexOf(id), 1);
    record(state, { domain: task, modelId: id, state: name, action: "remove", at: now, user });
  }
}

/** The states a model is in, sorted by name. */
export function statesOf(state: MetadataState, task: string, id: string): string[] {
  return Object.entries(parts(state).memberships ?? {})
    .filter(([name, byTask]) => !RESERVED_STATES.includes(name) && own(byTask, task)?.includes(id))
    .map(([name]) => name)
    .sort();
}

/** A task's models in a state, newest first. */
export function modelsInState(state: MetadataState, task: string, name: string): ModelMetadata[] {
  const s = parts(state);
  if (!own(s.modelStates, name)) {
    if (RESERVED_STATES.includes(name)) return [];
    throw unknownState(name);
  }
  const models = own(state.models, task) ?? {};
  return (own(own(s.memberships, name) ?? {}, task) ?? [])
    .map((id) => own(models, id))
    .filter((m): m is ModelMetadata => m !== undefined)
    .map((model) => ({ model, time: createdTime(model.code.created) }))
    .sort((a, b) => b.time - a.time || compareNewestFirst(a.model, b.model))
    .map((entry) => entry.model);
}

/** A task's state history, oldest first. */
export function historyOf(state: MetadataState, task: string): StateEvent[] {
  return [...(own(parts(state).stateEvents, task) ?? [])];
}

/**
 * The ids of the models that were in `state` at `when`, replaying a domain's
 * {@link StateEvent}s (from `store.stateHistory(domain)`): "which model was in
 * production on 1 March?". Changes made by the Python modelstore, which keeps
 * no history, are not in it.
 */
export function modelsInStateAt(events: readonly StateEvent[], state: string, when: Date | string): string[] {
  const limit = typeof when === "string" ? Date.parse(when) : when.getTime();
  const inState = new Set<string>();
  for (const event of events) {
    if (event.state !== state || Date.parse(event.at) > limit) continue;
    if (event.action === "set") inState.add(event.modelId);
    else inState.delete(event.modelId);
  }
  return [...inState];
}

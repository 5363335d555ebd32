/**
 * Model states in the bucket, where the Python modelstore (>= 0.0.7) keeps them,
 * so both libraries see the same states:
 *
 * ```
 * <root>/model_states/<state>.json                     {created, state_name}: the state exists
 * <root>/<domain>/versions/<state>/<model-id>.json     a copy of the model's document: it is in the state
 * <root>/.state-history/<domain>/<stamp>-<seq>-<random>.json one state change (this library only)
 * ```
 * The history is append-only: every change is its own object under a key made
 * of the time, a per-process sequence (for changes in the same millisecond) and
 * 64 random bits, written create-only, so concurrent writers never overwrite
 * one another and a listing in key order is oldest first.
 */
import type { Backend } from "../backends/backend.ts";
import { hasErrorCode, IntegrityError } from "../util/errors.ts";
import { readSmallText } from "../util/streams.ts";
import { compareNewestFirst, type ModelMetadata } from "./document.ts";
import { formatLayoutTime, jsonNameUnder, type BucketLayout } from "./layout.ts";
import { readMetadata } from "./latest-pointer.ts";
import {
  eventStamp,
  RESERVED_STATES,
  stateInUse,
  unknownModel,
  unknownState,
  type ModelStateRecord,
  type StateChangeOptions,
  type StateEvent,
} from "./model-states.ts";
import type { MetadataCallOptions, MetadataRepository } from "./repository.ts";

type StateMethods = Pick<
  MetadataRepository,
  | "createModelState"
  | "listModelStates"
  | "deleteModelState"
  | "setModelState"
  | "removeModelState"
  | "getModelStates"
  | "listModelsInState"
  | "stateHistory"
>;

/** What the bucket repository lends the state methods. */
export interface BucketStatesContext {
  backend: Backend;
  layout: BucketLayout;
  /** Domains that hold models. */
  domains(signal?: AbortSignal): Promise<string[]>;
  /** Runs `fn` over `items` a few at a time, results in input order. */
  mapLimited<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]>;
}

const JSON_PUT = { contentType: "application/json" } as const;
const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

// Orders this process's events within one millisecond; the random part keeps other writers' keys apart.
let sequence = 0;

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The state methods of the bucket repository. */
export function bucketStates(context: BucketStatesContext): StateMethods {
  const { backend, layout, mapLimited } = context;
  const statesPrefix = () => `${layout.root}/model_states/`;
  const stateKey = (state: string) => `${statesPrefix()}${state}.json`;
  const memberPrefix = (task: string, state: string) => `${layout.versionsPrefix(task)}${state}/`;
  const memberKey = (task: string, id: string, state: string) => `${memberPrefix(task, state)}${id}.json`;
  const historyPrefix = (task: string) => historyPrefixOf(layout, task);

  const stateExists = async (state: string, signal?: AbortSignal) => (await backend.head(stateKey(state), { signal })) !== null;

  async function requireState(state: string, signal?: AbortSignal): Promise<void> {
    if (!(await stateExists(state, signal))) throw unknownState(state);
  }

  const append = (event: StateEvent, signal?: AbortSignal) => appendEvent(backend, layout, event, signal);

  async function stateNames(signal?: AbortSignal): Promise<ModelStateRecord[]> {
    const found: ModelStateRecord[] = [];
    for await (const object of backend.list(statesPrefix(), { signal })) {
      const name = jsonNameUnder(statesPrefix(), object.key);
      if (name !== undefined) found.push({ name, created: object.lastModified });
    }
    return found;
  }

  async function idsInState(task: string, state: string, signal?: AbortSignal): Promise<string[]> {
    const prefix = memberPrefix(task, state);
    const ids: string[] = [];
    for await (const object of backend.list(prefix, { signal })) {
      const id = jsonNameUnder(prefix, object.key);
      if (id !== undefined) ids.push(id);
    }
    return ids;
  }

  return {
    async createModelState(name, options: MetadataCallOptions = {}) {
      // Python's document: its `created` is the layout's time (Python writes local time, this library UTC).
      const now = new Date();
      try {
        await backend.put(stateKey(name), encode({ created: formatLayoutTime(now), state_name: name }), { ...JSON_PUT, signal: options.signal, ifNoneMatch: "*" });
        return { name, created: now.toISOString() };
      } catch (error) {
        if (!hasErrorCode(error, "ALREADY_EXISTS")) throw error;
        return { name, created: (await backend.head(stateKey(name), options))?.lastModified };
      }
    },

    async listModelStates(options = {}) {
      return (await stateNames(options.signal)).filter((s) => !RESERVED_STATES.includes(s.name)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },

    async deleteModelState(name, options = {}) {
      if (!(await stateExists(name, options.signal))) return false;
      const domains = await context.domains(options.signal);
      const counts = await mapLimited(domains, async (task) => (await idsInState(task, name, options.signal)).length);
      const count = counts.reduce((a, b) => a + b, 0);
      if (count > 0) throw stateInUse(name, count);
      await backend.delete(stateKey(name), options);
      return true;
    },

    async setModelState(task, id, state, options: StateChangeOptions = {}) {
      const { signal } = options;
      const [exists, body] = await Promise.all([stateExists(state, signal), backend.get(layout.versionKey(task, id), { signal })]);
      if (!exists) {
        await body?.cancel();
        throw unknownState(state);
      }
      if (!body) throw unknownModel(task, id);
      // Python reads the copy as the model's document (list_models(state_name=...)): a copy of its bytes, as Python makes.
      const document = await readSmallText(body, `The document of model "${id}" in domain "${task}"`);
      await backend.put(memberKey(task, id, state), new TextEncoder().encode(document), { ...JSON_PUT, signal });
      await append({ domain: task, modelId: id, state, action: "set", at: new Date().toISOString(), user: options.user ?? "unknown" }, signal);
    },

    async removeModelState(task, id, state, options: StateChangeOptions = {}) {
      const { signal } = options;
      await requireState(state, signal);
      const key = memberKey(task, id, state);
      if (!(await backend.head(key, { signal }))) return false;
      await backend.delete(key, { signal });
      await append({ domain: task, modelId: id, state, action: "remove", at: new Date().toISOString(), user: options.user ?? "unknown" }, signal);
      return true;
    },

    async getModelStates(task, id, options = {}) {
      const states = (await stateNames(options.signal)).map((s) => s.name).filter((name) => !RESERVED_STATES.includes(name));
      const inIt = await mapLimited(states, async (state) => (await backend.head(memberKey(task, id, state), options)) !== null);
      return states.filter((_, i) => inIt[i]).sort();
    },

    async listModelsInState(task, state, options = {}) {
      const { signal } = options;
      if (!(await stateExists(state, signal)) && !RESERVED_STATES.includes(state)) throw unknownState(state);
      const ids = await idsInState(task, state, signal);
      // A copy is only a membership: the model's own document is what is described
      // (a copy of a deleted model, left by an interrupted delete, is not listed).
      const models = await mapLimited(ids, (id) =>
        readMetadata(backend, RESERVED_STATES.includes(state) ? memberKey(task, id, state) : layout.versionKey(task, id), signal, { domain: task, modelId: id }).catch(
          (error: unknown) => {
            if (hasErrorCode(error, "INTEGRITY")) return null;
            throw error;
          },
        ),
      );
      return models.filter((m): m is ModelMetadata => m !== null).sort(compareNewestFirst);
    },

    async stateHistory(task, options = {}) {
      const keys: string[] = [];
      for await (const object of backend.list(historyPrefix(task), { signal: options.signal })) if (object.key.endsWith(".json")) keys.push(object.key);
      keys.sort();
      const events = await mapLimited(keys, async (key) => {
        const body = await backend.get(key, options);
        if (!body) return null; // removed by hand meanwhile
        const text = await readSmallText(body, `The state history event at "${key}"`);
        try {
          return JSON.parse(text) as StateEvent;
        } catch (cause) {
          throw new IntegrityError(`The state history event at "${key}" is not JSON. Delete it or restore it from a backup.`, { cause });
        }
      });
      return events.filter((e): e is StateEvent => e !== null);
    },
  };
}

/**
 * Takes a deleted model out of its states (not Python's tombstone), recording
 * each as a `remove` event; called by the bucket repository's deleteModel.
 */
export async function forgetModelStates(backend: Backend, layout: BucketLayout, task: string, id: string, options: StateChangeOptions = {}): Promise<void> {
  const { signal } = options;
  const prefix = layout.versionsPrefix(task);
  for await (const object of backend.list(prefix, { signal })) {
    const parts = object.key.slice(prefix.length).split("/");
    if (parts.length !== 2 || parts[1] !== `${id}.json` || RESERVED_STATES.includes(parts[0])) continue;
    await backend.delete(object.key, { signal });
    await appendEvent(backend, layout, { domain: task, modelId: id, state: parts[0], action: "remove", at: new Date().toISOString(), user: options.user ?? "unknown" }, signal);
  }
}

/** Appends one event to a domain's history under a key no other writer can produce. */
async function appendEvent(backend: Backend, layout: BucketLayout, event: StateEvent, signal?: AbortSignal): Promise<void> {
  sequence = (sequence + 1) % 1_000_000;
  const key = `${historyPrefixOf(layout, event.domain)}${eventStamp(event.at)}-${String(sequence).padStart(6, "0")}-${randomHex(8)}.json`;
  await backend.put(key, encode(event), { ...JSON_PUT, signal, ifNoneMatch: "*" });
}

const historyPrefixOf = (layout: BucketLayout, task: string) => `${layout.root}/.state-history/${task}/`;

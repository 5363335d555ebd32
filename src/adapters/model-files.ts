/** What the framework adapters share: finding a model, reading one of its files whole, framework versions. */
import type { ModelStore } from "../store/model-store.ts";
import type { ModelMetadata } from "../metadata/document.ts";
import { InvalidArgumentError, NotFoundError } from "../util/errors.ts";
import { concatBytes } from "../util/bytes.ts";
import { forEachChunk } from "../util/streams.ts";

/** Which model an adapter loads: one id, or the newest (in a state). */
export interface ModelChoice {
  /** @default the newest model (in `state`, when given) */
  id?: string;
  /** The newest model in this model state. */
  state?: string;
  signal?: AbortSignal;
}

export async function chooseModel(store: ModelStore, domain: string, choice: ModelChoice): Promise<ModelMetadata> {
  if (choice.id !== undefined && choice.state !== undefined) throw new InvalidArgumentError("Give a model id or a state, not both: an id names one model already.");
  return choice.id === undefined ? store.getLatest(domain, choice) : store.getModelInfo(domain, choice.id, choice);
}

/** A file of the model, whole, checked against the archive's table of contents as it streams. */
export async function readModelFile(store: ModelStore, metadata: ModelMetadata, path: string, signal?: AbortSignal): Promise<Uint8Array> {
  const body = await store.openFile(metadata, path, { signal });
  if (!body) throw missingFile(metadata, path);
  const parts: Uint8Array[] = [];
  await forEachChunk(body, (chunk) => void parts.push(chunk), signal);
  return concatBytes(parts);
}

export function missingFile(metadata: ModelMetadata, path: string): NotFoundError {
  const { domain, model_id: id } = metadata.model;
  return new NotFoundError(`Model "${id}" of domain "${domain}" has no file "${path}". List its files with store.listFiles("${domain}", "${id}").`);
}

/**
 * A path named inside a model file (a weight shard, external data), resolved
 * against that file's folder. Paths that climb out of the archive are refused:
 * a model file is data, not a licence to read other files.
 */
export function resolveInside(base: string, relative: string): string {
  const folder = base.includes("/") ? base.slice(0, base.lastIndexOf("/") + 1) : "";
  const parts: string[] = [];
  for (const part of (folder + relative).split("/")) {
    if (part === "" || part === ".") continue;
    if (part === ".." || relative.startsWith("/") || relative.includes("\\")) {
      throw new InvalidArgumentError(`"${base}" names "${relative}", which is outside the model's folder; the model file is damaged or hostile.`);
    }
    parts.push(part);
  }
  return parts.join("/");
}

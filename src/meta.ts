/**
 * The metadata document stored at `versions/<id>.json` and `latest.json`.
 * Field names follow the Python modelstore's so both libraries read each
 * other's buckets; `archive` (size and sha256) is our addition, which the
 * Python library ignores. Documents are JSON-native: times are ISO-8601 strings.
 */
import type { StorageLocation } from "./backends/backend.js";
import { IntegrityError } from "./errors.js";

/** Any JSON value: what `extra` may hold. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Which library and model class produced the model, e.g. `{ library: "onnx", type: "InferenceSession" }`. */
export interface ModelType {
  library: string;
  type: string;
}

/** The stored description of one model. */
export interface ModelMetadata {
  model: {
    domain: string;
    /** UUID4 unless the uploader chose an id. */
    model_id: string;
    model_type?: ModelType | null;
  };
  /** Where the archive is, in the backend's own terms (see {@link StorageLocation}). */
  storage: StorageLocation;
  /** Version of the library that wrote this document. */
  modelstore: string;
  code: {
    /** `node:20.20.2`, `deno:2.5.0`, `bun:1.2.0`, `workerd:...` */
    runtime: string;
    user: string;
    /** ISO-8601 creation time with milliseconds, UTC. Orders models newest first. */
    created: string;
    dependencies: Record<string, string>;
  };
  /** The caller's own JSON metadata. */
  extra?: JsonValue;
  /** The archive's size in bytes and lowercase hex sha256, verified on every read. */
  archive: { size: number; sha256: string };
}

type Issue = string | undefined;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function checkStrings(where: string, obj: Record<string, unknown>, names: string[]): Issue {
  for (const name of names) {
    if (typeof obj[name] !== "string" || (obj[name] as string).length === 0) return `${where}.${name} is missing or not a string`;
  }
  return undefined;
}

function problemWith(doc: unknown): Issue {
  if (!isObject(doc)) return "it is not a JSON object";
  const { model, storage, code, archive } = doc;
  if (!isObject(model)) return "`model` is missing";
  const modelIssue = checkStrings("model", model, ["domain", "model_id"]);
  if (modelIssue) return modelIssue;
  if (model.model_type != null && (!isObject(model.model_type) || checkStrings("model.model_type", model.model_type, ["library", "type"])))
    return "model.model_type must be { library, type }";
  if (!isObject(storage) || typeof storage.type !== "string") return "`storage.type` is missing";
  if (typeof doc.modelstore !== "string") return "`modelstore` (the library version) is missing";
  if (!isObject(code)) return "`code` is missing";
  const codeIssue = checkStrings("code", code, ["runtime", "created"]);
  if (codeIssue) return codeIssue;
  if (Number.isNaN(Date.parse(code.created as string))) return "code.created is not an ISO-8601 time";
  if (!isObject(code.dependencies)) return "code.dependencies is missing";
  if (!isObject(archive)) return "`archive` (size and sha256) is missing";
  if (typeof archive.size !== "number" || !Number.isSafeInteger(archive.size) || archive.size < 0) return "archive.size is not a byte count";
  if (typeof archive.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(archive.sha256)) return "archive.sha256 is not a hex sha256";
  return undefined;
}

/**
 * Parses and validates a stored metadata document.
 * @param text the document's JSON text
 * @param key where it was read from, for the error message
 * @throws IntegrityError when the document is not valid JSON or misses required fields
 */
export function parseMetadata(text: string, key: string): ModelMetadata {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new IntegrityError(
      `The metadata document at "${key}" is not valid JSON; it is corrupt. Delete the model and upload it again.`,
      { cause },
    );
  }
  const problem = problemWith(doc);
  if (problem) {
    throw new IntegrityError(
      `The metadata document at "${key}" is corrupt: ${problem}. It was not written by a compatible modelstore; delete the model and upload it again.`,
    );
  }
  return doc as ModelMetadata;
}

/** Serialises metadata the way it is stored: pretty JSON, UTF-8. */
export function encodeMetadata(metadata: ModelMetadata): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(metadata, null, 2) + "\n");
}

/**
 * Orders models newest first: by creation time, then by archive location and id
 * so that models created in the same millisecond still have one stable order.
 */
export function compareNewestFirst(a: ModelMetadata, b: ModelMetadata): number {
  const byTime = Date.parse(b.code.created) - Date.parse(a.code.created);
  if (byTime !== 0) return byTime;
  const aWhere = a.storage.prefix ?? a.storage.path ?? "";
  const bWhere = b.storage.prefix ?? b.storage.path ?? "";
  if (aWhere !== bWhere) return aWhere < bWhere ? 1 : -1;
  return a.model.model_id < b.model.model_id ? 1 : a.model.model_id > b.model.model_id ? -1 : 0;
}

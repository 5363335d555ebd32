/**
 * The metadata document stored at `versions/<id>.json` and `latest.json`.
 * Field names follow the Python modelstore's so both libraries read each
 * other's buckets; `archive` (size and sha256) is our addition, which the
 * Python library ignores and does not write. `code.created` is written the way
 * the Python library writes and sorts it (`%Y/%m/%d/%H:%M:%S`), because its
 * listing parses exactly that format; ISO-8601 times are read too.
 */
import type { StorageLocation } from "../backends/backend.ts";
import { IntegrityError } from "../util/errors.ts";
import type { ArchiveIndexLocation } from "../archive/index/archive-index.ts";

/** Any JSON value: what `extra` may hold. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * Which library and model class produced the model, e.g. `{ library: "onnx", type: "InferenceSession" }`.
 * The Python modelstore writes `{ library: "model_file" }` (no `type`) for raw files and
 * `{ library: "multiple-models", models: [...] }` for several models in one upload.
 */
export interface ModelType {
  library: string;
  /** The model class, when known. */
  type?: string;
  /** The model types of a multiple-model upload (Python modelstore). */
  models?: ModelType[];
}

/** The stored description of one model. */
/** A git checkout: the Python library's keys (`repository` is the repository's name), plus its URL without credentials. */
export interface GitInfo {
  repository: string;
  sha: string;
  local_changes: boolean;
  /** Absent on a detached HEAD. */
  branch?: string;
  url?: string;
}

export interface ModelMetadata {
  model: {
    domain: string;
    /** UUID4 unless the uploader chose an id. */
    model_id: string;
    model_type?: ModelType | null;
    /** What a framework adapter knows of the model: its inputs, outputs, signature, format. */
    info?: { [key: string]: JsonValue };
  };
  /** Where the archive is, in the backend's own terms (see {@link StorageLocation}). */
  storage: StorageLocation;
  /** Version of the library that wrote this document. */
  modelstore: string;
  code: {
    /** `node:20.20.2`, `deno:2.5.0`, `bun:1.2.0`, `workerd:...` */
    runtime: string;
    user: string;
    /**
     * Creation time as `YYYY/MM/DD/HH:MM:SS` (the Python library's format; UTC
     * when we write it, the uploader's local time when Python does). Orders
     * models newest first; ISO-8601 is accepted on read. See {@link createdTime}.
     */
    created: string;
    /**
     * The same instant as `created`, as ISO-8601 UTC with milliseconds. `created`
     * has whole seconds (the Python library parses exactly that format), so this
     * is what orders models uploaded within one second. Absent from documents the
     * Python library and older versions wrote.
     */
    created_at?: string;
    dependencies: Record<string, string>;
    /** The git checkout the upload ran in, as the Python library records it (see `gitInfo` in `modelstore-js/fs`). */
    git?: GitInfo;
  };
  /** The caller's own JSON metadata. */
  extra?: JsonValue;
  /**
   * The archive's size in bytes and lowercase hex sha256, verified when the
   * archive is read whole. Every model this library uploads has it; models
   * uploaded by the Python library do not, and their archives are read unverified.
   */
  archive?: {
    size: number;
    sha256: string;
    /** Where the archive's table of contents is (every archive this library uploads has one; see archive/index/). */
    index?: ArchiveIndexLocation;
  };
}

/** The metadata of a model this library uploaded: its archive's size and sha256 are always there. */
export type UploadedModel = ModelMetadata & { archive: { size: number; sha256: string; index?: ArchiveIndexLocation } };

/** `YYYY/MM/DD/HH:MM:SS`, the Python modelstore's `code.created`. */
const PYTHON_CREATED = /^(\d{4})\/(\d{2})\/(\d{2})\/(\d{2}):(\d{2}):(\d{2})$/;

/** `date` as `code.created`: `YYYY/MM/DD/HH:MM:SS` in UTC, which the Python library can sort. */
export function formatCreated(date: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${date.getUTCFullYear()}/${two(date.getUTCMonth() + 1)}/${two(date.getUTCDate())}/${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}`;
}

/**
 * Milliseconds since the epoch of a `code.created` value: the Python format
 * (read as UTC: Python writes local time and records no zone) or ISO-8601.
 * `NaN` when it is neither.
 */
export function createdTime(created: string): number {
  const python = PYTHON_CREATED.exec(created);
  if (!python) return /^\d{4}-\d{2}-\d{2}T/.test(created) ? Date.parse(created) : Number.NaN;
  const [year, month, day, hour, minute, second] = python.slice(1).map(Number);
  const time = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC rolls 2020/02/31 over into March; a real date reads back the same.
  return formatCreated(new Date(time)) === created ? time : Number.NaN;
}

/** `code.created_at`: `2026-12-04T22:17:27.123Z`. */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** When a model was created, in milliseconds since the epoch: `code.created_at` where recorded, else `code.created`. */
export function createdInstant(metadata: ModelMetadata): number {
  const precise = metadata.code.created_at === undefined ? Number.NaN : Date.parse(metadata.code.created_at);
  return Number.isNaN(precise) ? createdTime(metadata.code.created) : precise;
}

type Issue = string | undefined;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function checkStrings(where: string, obj: Record<string, unknown>, names: string[]): Issue {
  for (const name of names) {
    if (typeof obj[name] !== "string" || (obj[name] as string).length === 0) return `${where}.${name} is missing or not a string`;
  }
  return undefined;
}

/** `{ library, type? }` or the Python modelstore's `{ library, models: [...] }`. */
function isModelType(value: unknown): boolean {
  if (!isObject(value) || checkStrings("", value, ["library"])) return false;
  if (value.type != null && typeof value.type !== "string") return false;
  return value.models == null || (Array.isArray(value.models) && value.models.every(isModelType));
}

function problemWith(doc: unknown): Issue {
  if (!isObject(doc)) return "it is not a JSON object";
  const { model, storage, code, archive } = doc;
  if (!isObject(model)) return "`model` is missing";
  const modelIssue = checkStrings("model", model, ["domain", "model_id"]);
  if (modelIssue) return modelIssue;
  if (model.model_type != null && !isModelType(model.model_type)) return "model.model_type must be { library, type? } or { library, models }";
  if (!isObject(storage) || typeof storage.type !== "string") return "`storage.type` is missing";
  if (typeof doc.modelstore !== "string") return "`modelstore` (the library version) is missing";
  if (!isObject(code)) return "`code` is missing";
  const codeIssue = checkStrings("code", code, ["runtime", "created"]);
  if (codeIssue) return codeIssue;
  if (Number.isNaN(createdTime(code.created as string))) return "code.created is neither YYYY/MM/DD/HH:MM:SS nor an ISO-8601 time";
  if (code.created_at !== undefined && (typeof code.created_at !== "string" || !ISO_INSTANT.test(code.created_at) || Number.isNaN(Date.parse(code.created_at))))
    return "code.created_at is not an ISO-8601 UTC time";
  if (!isObject(code.dependencies)) return "code.dependencies is missing";
  if (archive === undefined) return undefined; // written by the Python library
  if (!isObject(archive)) return "`archive` is not { size, sha256 }";
  if (typeof archive.size !== "number" || !Number.isSafeInteger(archive.size) || archive.size < 0) return "archive.size is not a byte count";
  if (typeof archive.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(archive.sha256)) return "archive.sha256 is not a hex sha256";
  return undefined;
}

/**
 * Parses and validates a stored metadata document.
 * @param text the document's JSON text
 * @param key where it was read from, for the error message
 * @param expected the domain (and model id) the key belongs to: a document
 *   describing another model (copied or edited by hand) is refused, so that
 *   nothing acts on the other model through it
 * @throws IntegrityError when the document is not valid JSON, misses required fields or describes another model
 */
export function parseMetadata(text: string, key: string, expected?: { domain: string; modelId?: string }): ModelMetadata {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new IntegrityError(
      `The metadata document at "${key}" is not valid JSON; it is corrupt. Delete the model and upload it again.`,
      { cause },
    );
  }
  return checkMetadata(doc, `The metadata document at "${key}"`, expected);
}

/**
 * Validates a parsed metadata document (see {@link parseMetadata}); `where`
 * names it in the error message, e.g. `The metadata document at "<key>"`.
 */
export function checkMetadata(doc: unknown, where: string, expected?: { domain: string; modelId?: string }): ModelMetadata {
  const problem = problemWith(doc);
  if (problem) {
    throw new IntegrityError(`${where} is corrupt: ${problem}. It was not written by a compatible modelstore; delete the model and upload it again.`);
  }
  const metadata = doc as ModelMetadata;
  const { domain, model_id: id } = metadata.model;
  if (expected && (domain !== expected.domain || (expected.modelId !== undefined && id !== expected.modelId))) {
    const wanted = expected.modelId === undefined ? `a model of domain "${expected.domain}"` : `model "${expected.modelId}" of domain "${expected.domain}"`;
    throw new IntegrityError(
      `${where} describes model "${id}" of domain "${domain}", not ${wanted}: it was copied or edited. ` +
        `Restore the original document, or delete this one (deleteModel then leaves the archive it names alone).`,
    );
  }
  return metadata;
}

/** Serialises metadata the way it is stored: pretty JSON, UTF-8. */
export function encodeMetadata(metadata: ModelMetadata): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(metadata, null, 2) + "\n");
}

const QUARTER_HOUR_MS = 15 * 60 * 1000;
// UTC offsets run from -12:00 to +14:00.
const MAX_ZONE_OFFSET_MS = 14 * 60 * 60 * 1000;
// How close the document's write must be to the corrected creation time to trust the correction:
// the Python modelstore takes code.created just before it writes the document (after the archive),
// so this only allows for the uploader's clock being off the server's.
const WRITE_SLACK_MS = 30 * 1000;

/**
 * When a model was created, as an instant. `code.created_at` where recorded. A
 * zoneless `code.created` (the Python modelstore writes the uploader's local
 * time) is corrected by the uploader's UTC offset, read off `writtenAt` (when its
 * version document was written, e.g. its last-modified time): the offset is the
 * whole quarter hour between the two, trusted only when the corrected time is
 * then within minutes of the write. Otherwise (no write time, or a copied tree
 * whose times are all the copy's) `code.created` is read as UTC.
 */
export function creationInstant(metadata: ModelMetadata, writtenAt?: string): number {
  if (metadata.code.created_at !== undefined) return createdInstant(metadata);
  const local = createdTime(metadata.code.created);
  const written = writtenAt === undefined ? Number.NaN : Date.parse(writtenAt);
  if (Number.isNaN(local) || Number.isNaN(written)) return local;
  const offset = Math.round((local - written) / QUARTER_HOUR_MS) * QUARTER_HOUR_MS;
  if (Math.abs(offset) > MAX_ZONE_OFFSET_MS) return local;
  const utc = local - offset;
  return Math.abs(written - utc) <= WRITE_SLACK_MS ? utc : local;
}

/**
 * Orders models newest first: by creation time, then by archive location and id
 * so that models created in the same millisecond still have one stable order.
 * With `writtenAt` (each document's write time), documents without a zone are
 * placed by {@link creationInstant}, so that a Python upload made in New York
 * after ours lists first.
 */
export function compareNewestFirst(a: ModelMetadata, b: ModelMetadata, writtenAt?: (m: ModelMetadata) => string | undefined): number {
  // Milliseconds where both documents have them; whole seconds otherwise (Python's documents).
  const precise = a.code.created_at !== undefined && b.code.created_at !== undefined;
  const byTime = precise
    ? Date.parse(b.code.created_at!) - Date.parse(a.code.created_at!)
    : writtenAt
      ? creationInstant(b, writtenAt(b)) - creationInstant(a, writtenAt(a))
      : createdTime(b.code.created) - createdTime(a.code.created);
  if (byTime !== 0) return byTime;
  const aWhere = a.storage.prefix ?? a.storage.path ?? "";
  const bWhere = b.storage.prefix ?? b.storage.path ?? "";
  if (aWhere !== bWhere) return aWhere < bWhere ? 1 : -1;
  return a.model.model_id < b.model.model_id ? 1 : a.model.model_id > b.model.model_id ? -1 : 0;
}

/**
 * Reading a domain's models in the bucket layout: listing `versions/`, reading
 * one version document, and finding the newest model from the two latest
 * pointers (ours and the Python modelstore's) checked against the listing.
 * Shared by the full bucket repository (bucket.ts) and `ModelReader`, which
 * only reads.
 */
import type { ReadBackend } from "../backends/backend.ts";
import { hasErrorCode } from "../util/errors.ts";
import type { BucketLayout } from "./layout.ts";
import { compareNewestFirst, createdInstant, type ModelMetadata } from "./document.ts";
import { readMetadata } from "./latest-pointer.ts";
import type { MetadataCallOptions } from "./repository.ts";
import type { ListedVersion } from "./bucket-listing.ts";

/** Options for {@link bucketReads}. */
export interface BucketReadsOptions {
  backend: ReadBackend;
  layout: BucketLayout;
  /** Documents read at once where several must be read. */
  readConcurrency: number;
  /**
   * The newest of a domain's listed models, for a domain whose pointers name
   * none (both missing or corrupt). The full repository answers from its listing cache.
   * @default reads every listed document
   */
  newestListed?(task: string, versions: ListedVersion[], options: MetadataCallOptions): Promise<ModelMetadata | null>;
}

/** The reads of one bucket layout's model documents. */
export function bucketReads(options: BucketReadsOptions) {
  const { backend, layout } = options;
  const mapLimited = <T, R>(items: readonly T[], fn: (item: T) => Promise<R>) => mapWithLimit(items, options.readConcurrency, fn);
  const newestListed =
    options.newestListed ??
    (async (task: string, versions: ListedVersion[], { signal }: MetadataCallOptions) => {
      const documents = await mapLimited(versions, (v) => readVersion(task, v.id, signal));
      return documents.filter((m): m is ModelMetadata => m !== null).sort(newestFirstBy(versions))[0] ?? null;
    });

  /** One version document; `null` when deleted meanwhile or unreadable (getModel reports what is wrong with it). */
  async function readVersion(task: string, id: string, signal?: AbortSignal): Promise<ModelMetadata | null> {
    return readMetadata(backend, layout.versionKey(task, id), signal, { domain: task, modelId: id }).catch((error: unknown) => {
      if (hasErrorCode(error, "INTEGRITY")) return null;
      throw error;
    });
  }

  /** compareNewestFirst, placing documents without a zone (Python's) by when their version document was written. */
  function newestFirstBy(versions: ListedVersion[]) {
    const written = new Map(versions.map((v) => [v.id, v.lastModified]));
    return (a: ModelMetadata, b: ModelMetadata) => compareNewestFirst(a, b, (m) => written.get(m.model.model_id));
  }

  /**
   * The newest model. `latest.json` answers in one read, but it is only a
   * pointer: an upload whose process died between its version document and the
   * pointer leaves it naming an older model (or missing, in a new domain). So
   * the version documents are listed alongside (one LIST, in parallel), and any
   * written since the pointed-at model was created is read and wins when it is
   * newer. That is normally none: the pointer's own document, and models of
   * racing uploads, are the only ones that young. Readers only answer; the next
   * upload moves the pointer.
   */
  async function latestModel(task: string, options: MetadataCallOptions = {}): Promise<ModelMetadata | null> {
    const { signal } = options;
    const readPointer = (key: string) =>
      readMetadata(backend, key, signal, { domain: task }).catch((error: unknown) => {
        // A corrupt pointer (a crash mid-write on a file system without a flush,
        // or a hand edit) is only a pointer: the version documents say the same.
        if (hasErrorCode(error, "INTEGRITY")) return null;
        throw error;
      });
    // Ours (latest.json) and the Python modelstore's (domains/<domain>.json): either may lag the other.
    // A backend that cannot list (public HTTP without a bucket listing) answers from the pointers alone.
    const listing = versionObjects(task, signal).catch((error: unknown) => {
      if (hasErrorCode(error, "NOT_SUPPORTED")) return undefined;
      throw error;
    });
    const [ours, python, listed] = await Promise.all([readPointer(layout.latestKey(task)), readPointer(layout.pythonLatestKey(task)), listing]);
    if (listed === undefined) return newestPointer(task, ours, python, signal);
    const versions = listed;
    // Python's delete_model leaves domains/<domain>.json naming the model it deleted: trusted only while that model is there.
    const pythonLive = python !== null && versions.some((v) => v.id === python.model.model_id);
    const pointers = [ours, pythonLive ? python : null].filter((m): m is ModelMetadata => m !== null);
    const byWrite = newestFirstBy(versions);
    const pointer = pointers.sort(byWrite)[0];
    if (!pointer) return versions.length === 0 ? null : newestListed(task, versions, options);
    const since = earliestWriteOf(pointer);
    const younger = versions.filter((v) => v.id !== pointer.model.model_id && !(Date.parse(v.lastModified ?? "") < since));
    const candidates = await mapLimited(younger, (v) => readVersion(task, v.id, signal));
    return [pointer, ...candidates.filter((m): m is ModelMetadata => m !== null)].sort(byWrite)[0];
  }

  /** Without a listing: the newer of the two pointers, Python's only while its model's document is still there. */
  async function newestPointer(task: string, ours: ModelMetadata | null, python: ModelMetadata | null, signal?: AbortSignal): Promise<ModelMetadata | null> {
    const pythonLive = python !== null && (await readVersion(task, python.model.model_id, signal)) !== null;
    return [ours, pythonLive ? python : null].filter((m): m is ModelMetadata => m !== null).sort(newestFirstBy([]))[0] ?? null;
  }

  async function versionObjects(task: string, signal?: AbortSignal): Promise<ListedVersion[]> {
    const found: ListedVersion[] = [];
    for await (const object of backend.list(layout.versionsPrefix(task), { signal })) {
      const id = layout.modelIdOfVersionKey(task, object.key);
      if (id !== undefined) found.push({ id, lastModified: object.lastModified });
    }
    return found;
  }

  /** One model's document; `null` when it does not exist. */
  const getModel = (task: string, id: string, options: MetadataCallOptions = {}) => readMetadata(backend, layout.versionKey(task, id), options.signal, { domain: task, modelId: id });

  return { mapLimited, readVersion, versionObjects, latestModel, getModel };
}

/** `items.map(fn)` with at most `limit` calls in flight, results in input order. */
async function mapWithLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * The earliest instant at which a model newer than `model` can have written its
 * version document: `model`'s creation, less a second for servers that round
 * times to whole seconds, and less 14 hours where only `code.created` without a
 * zone is known (the Python library writes the uploader's local time).
 */
function earliestWriteOf(model: ModelMetadata): number {
  const zoneless = model.code.created_at === undefined;
  return createdInstant(model) - 1000 - (zoneless ? 14 * 60 * 60 * 1000 : 0);
}

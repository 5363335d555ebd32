/**
 * Collecting what interrupted uploads leave behind (see {@link ModelStore.gc}):
 * the backend's own leftovers (temp files, incomplete multipart uploads) and
 * archives, or slot placeholders, that no model's metadata points at.
 */
import type { Backend, Leftover, StorageLocation } from "../backends/backend.ts";
import { InvalidArgumentError, throwIfAborted } from "../util/errors.ts";
import { ARCHIVE_FILE_NAME, type BucketLayout } from "../metadata/layout.ts";
import type { MetadataRepository } from "../metadata/repository.ts";
import { validateDomain } from "../metadata/names.ts";
import { MAX_PLACEHOLDER_BYTES } from "./archive-slot.ts";

/** Options of {@link ModelStore.gc}. */
export interface GcOptions {
  /**
   * Only what is older than this many milliseconds is removed: anything younger
   * may belong to an upload still running. Must exceed the longest upload: the
   * placeholder of a running upload is as old as the upload.
   * @default 86_400_000 (24 hours)
   */
  olderThanMs?: number;
  /** Report what would be removed, and remove nothing. @default false */
  dryRun?: boolean;
  /** Stops between objects with `AbortedError`. */
  signal?: AbortSignal;
}

/** One thing {@link ModelStore.gc} removed (or would remove, in a dry run). */
export interface GcItem {
  /**
   * `"orphan-archive"`: an archive no model points at (its upload died after writing it);
   * `"placeholder"`: a claimed archive slot whose upload never wrote the archive;
   * the rest as {@link Leftover.kind}.
   */
  kind: Leftover["kind"] | "orphan-archive" | "placeholder";
  key: string;
  size?: number;
  lastModified?: string;
}

/** What {@link ModelStore.gc} did. */
export interface GcReport {
  /** True when nothing was removed on purpose. */
  dryRun: boolean;
  /** Removed (or, in a dry run, removable) leftovers. */
  items: GcItem[];
  /** Domains whose archives were not examined, and why (a document that cannot be read may point at any archive). */
  skipped: { domain: string; reason: string }[];
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** What {@link collectGarbage} needs of the store. */
export interface GcContext {
  backend: Backend;
  metadata: MetadataRepository;
  layout: BucketLayout;
  keyOf(location: StorageLocation, modelId: string): string;
}

/** Runs one collection; see {@link ModelStore.gc}. */
export async function collectGarbage(store: GcContext, options: GcOptions = {}): Promise<GcReport> {
  const olderThanMs = options.olderThanMs ?? DAY_MS;
  if (!Number.isFinite(olderThanMs) || olderThanMs < 0) {
    throw new InvalidArgumentError(`gc() needs olderThanMs as a number of milliseconds >= 0, not ${String(options.olderThanMs)}. Pass e.g. 3_600_000 for an hour.`);
  }
  const { backend, layout } = store;
  const { signal } = options;
  const dryRun = options.dryRun ?? false;
  const before = new Date(Date.now() - olderThanMs);
  const report: GcReport = { dryRun, items: [], skipped: [] };
  if (backend.collectGarbage) {
    for await (const leftover of backend.collectGarbage(layout.domainsPrefix(), { before, dryRun, signal })) report.items.push(leftover);
  }
  for await (const prefix of backend.listPrefixes(layout.domainsPrefix(), { signal })) {
    const domain = layout.domainOfPrefix(prefix);
    if (domain === undefined || !isDomain(domain)) continue; // .projects and foreign folders
    const referenced = await referencedArchives(store, domain, signal);
    if (typeof referenced === "string") {
      report.skipped.push({ domain, reason: referenced });
      continue;
    }
    for await (const object of backend.list(prefix, { signal })) {
      throwIfAborted(signal);
      if (!object.key.endsWith(`/${ARCHIVE_FILE_NAME}`) || referenced.has(object.key)) continue;
      if (!(Date.parse(object.lastModified ?? "") < before.getTime())) continue;
      if (!dryRun) await backend.delete(object.key, { signal });
      report.items.push({
        kind: object.size <= MAX_PLACEHOLDER_BYTES ? "placeholder" : "orphan-archive",
        key: object.key,
        size: object.size,
        lastModified: object.lastModified,
      });
    }
  }
  return report;
}

/** The archive keys a domain's models point at, or why they cannot all be known. */
async function referencedArchives(store: GcContext, domain: string, signal?: AbortSignal): Promise<Set<string> | string> {
  const [ids, models] = await Promise.all([store.metadata.listModelIds(domain, { signal }), store.metadata.listModels(domain, { signal })]);
  if (models.length < ids.length) {
    return `${ids.length - models.length} of its model documents cannot be read; fix or delete them (store.getModelInfo names the problem), then run gc again`;
  }
  const keys = new Set<string>();
  for (const model of models) {
    try {
      keys.add(store.keyOf(model.storage, model.model.model_id));
    } catch (error) {
      return `model "${model.model.model_id}" records its archive in another store (${(error as Error).message})`;
    }
  }
  return keys;
}

function isDomain(name: string): boolean {
  try {
    validateDomain(name);
    return true;
  } catch {
    return false;
  }
}

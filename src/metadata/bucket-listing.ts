/**
 * Listing a bucket domain's models without reading every version document each
 * time. Version documents are named by model id, so one LIST of `versions/`
 * gives ids and write times but no order; reading 10,000 documents one GET at a
 * time takes most of a minute on S3. Two things avoid that:
 *
 * - A page reads only the documents that can sort into it: a model's creation
 *   instant is never later than its document's write time (plus clock skew), so
 *   documents written before the page's oldest model (less {@link CLOCK_SKEW_MS})
 *   are left unread.
 * - A listing cache, `<root>/<domain>/.listing/models.json`: the documents a
 *   listing read, with the write time the LIST gave for each. It is only a cache.
 *   Every listing still LISTs `versions/`; an entry counts only while its document
 *   is listed with the same write time, so uploads and deletes by anyone (the
 *   Python library included) are never missed, and a lost, stale or corrupt cache
 *   costs reads, not models. Readers rewrite it when they had to read many
 *   documents; a reader without write access just does not.
 */
import type { Backend } from "../backends/backend.ts";
import { readSmallText } from "../util/streams.ts";
import { checkMetadata, type ModelMetadata } from "./document.ts";
import type { BucketLayout } from "./layout.ts";
import { checkPageSize, comparePageKeys, decodeCursor, encodeCursor, pageKeyOf, type ModelPage, type ModelPageOptions, type PageKey } from "./model-pages.ts";

/** A version document as one LIST of `versions/` shows it. */
export interface ListedVersion {
  id: string;
  lastModified?: string;
}

export interface BucketListingContext {
  backend: Backend;
  layout: BucketLayout;
  versionObjects(task: string, signal?: AbortSignal): Promise<ListedVersion[]>;
  /** One version document; `null` when deleted meanwhile or unreadable. */
  readVersion(task: string, id: string, signal?: AbortSignal): Promise<ModelMetadata | null>;
  mapLimited<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]>;
}

// How far an uploader's clock may run ahead of the server's before a page could miss a model.
const CLOCK_SKEW_MS = 60_000;
// Servers round write times down to the second.
const ROUNDING_MS = 1000;
// Documents read in one listing before it is worth rewriting the cache.
const CACHE_AFTER_READS = 32;
// Documents read in one round while filling a page.
const READ_BATCH = 32;

interface CacheEntry {
  id: string;
  lastModified?: string;
  document: ModelMetadata;
}

interface Known {
  model: ModelMetadata;
  key: PageKey;
}

/** `<root>/<domain>/.listing/models.json` */
export function listingCacheKey(layout: BucketLayout, task: string): string {
  return `${layout.domainPrefix(task)}.listing/models.json`;
}

export function bucketListing(context: BucketListingContext) {
  const { backend, layout } = context;

  async function readCache(task: string, signal?: AbortSignal): Promise<Map<string, CacheEntry>> {
    const entries = new Map<string, CacheEntry>();
    const body = await backend.get(listingCacheKey(layout, task), { signal }).catch(() => null);
    if (!body) return entries;
    try {
      const parsed = JSON.parse(await readSmallText(body, "The listing cache", 256 * 1024 * 1024)) as { entries?: unknown };
      for (const raw of Array.isArray(parsed.entries) ? parsed.entries : []) {
        const entry = raw as CacheEntry;
        if (typeof entry?.id !== "string") continue;
        // The same checks a version document gets: a cache is no excuse for a bad document.
        entries.set(entry.id, { id: entry.id, lastModified: entry.lastModified, document: checkMetadata(entry.document, "A listing cache entry", { domain: task, modelId: entry.id }) });
      }
    } catch {
      return new Map(); // a torn or hand-edited cache is only a cache
    }
    return entries;
  }

  async function writeCache(task: string, entries: CacheEntry[], signal?: AbortSignal): Promise<void> {
    const bytes = new TextEncoder().encode(JSON.stringify({ version: 1, entries }));
    await backend.put(listingCacheKey(layout, task), bytes, { signal, contentType: "application/json" }).catch(() => undefined);
  }

  /**
   * The models after `after` (all of them, or the `limit` newest), newest first,
   * reading only the documents that can sort among them.
   */
  async function collect(task: string, limit: number, after: PageKey | undefined, signal?: AbortSignal): Promise<{ items: Known[]; more: boolean }> {
    const [versions, cache] = await Promise.all([context.versionObjects(task, signal), readCache(task, signal)]);
    const known: Known[] = [];
    const fresh: CacheEntry[] = [];
    const unread: ListedVersion[] = [];
    for (const version of versions) {
      const entry = cache.get(version.id);
      if (entry && entry.lastModified === version.lastModified) {
        fresh.push(entry);
        known.push({ model: entry.document, key: pageKeyOf(entry.document, version.lastModified) });
      } else unread.push(version);
    }
    // The newest a model can claim to be, given when its document was written.
    const bound = (v: ListedVersion) => (v.lastModified === undefined ? Infinity : Date.parse(v.lastModified) + ROUNDING_MS + CLOCK_SKEW_MS);
    unread.sort((a, b) => bound(b) - bound(a));
    const isAfter = (k: Known) => after === undefined || comparePageKeys(k.key, after) > 0;
    let candidates = known.filter(isAfter).sort((a, b) => comparePageKeys(a.key, b.key));
    let read = 0;
    let next = 0;
    // The oldest instant the page still needs; unread documents written well before it cannot sort into it.
    const cutoff = () => (candidates.length >= limit ? candidates[limit - 1].key[0] : -Infinity);
    while (next < unread.length && bound(unread[next]) >= cutoff()) {
      const batch = unread.slice(next, next + READ_BATCH);
      next += batch.length;
      const docs = await context.mapLimited(batch, (v) => context.readVersion(task, v.id, signal));
      docs.forEach((model, i) => {
        if (!model) return;
        read++;
        fresh.push({ id: batch[i].id, lastModified: batch[i].lastModified, document: model });
        const k = { model, key: pageKeyOf(model, batch[i].lastModified) };
        if (isAfter(k)) candidates.push(k);
      });
      candidates = candidates.sort((a, b) => comparePageKeys(a.key, b.key));
    }
    if (read >= CACHE_AFTER_READS) await writeCache(task, fresh, signal);
    return { items: candidates.slice(0, limit), more: candidates.length > limit || next < unread.length };
  }

  return {
    /** Every model of the domain, newest first. */
    async listModels(task: string, options: { signal?: AbortSignal } = {}): Promise<ModelMetadata[]> {
      return (await collect(task, Infinity, undefined, options.signal)).items.map((k) => k.model);
    },

    /** One page, newest first. */
    async listModelsPage(task: string, options: ModelPageOptions = {}): Promise<ModelPage> {
      const limit = checkPageSize(options.limit);
      const { items, more } = await collect(task, limit, decodeCursor(options.cursor), options.signal);
      const last = items[items.length - 1];
      return { items: items.map((k) => k.model), cursor: more && last ? encodeCursor(last.key) : undefined };
    },
  };
}

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
 *
 * The newest page (no cursor) can skip the LIST: a cache written by a listing
 * that knew every document carries a snapshot, and the listing journal
 * (listing-journal.ts) accounts for every change since by our uploads, Python
 * uploads and deletes. When anything is unaccounted for, it lists in full.
 */
import type { Backend } from "../backends/backend.ts";
import { readSmallText } from "../util/streams.ts";
import { checkMetadata, type ModelMetadata } from "./document.ts";
import { jsonNameUnder, type BucketLayout } from "./layout.ts";
import { checkPageSize, comparePageKeys, decodeCursor, encodeCursor, pageKeyOf, type ModelPage, type ModelPageOptions, type PageKey } from "./model-pages.ts";
import { listJournal, movesExplain, readPointerMoves, type JournalEntry } from "./listing-journal.ts";

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
// The newest page reads at most this many documents (journaled uploads, tombstoned models) before listing in full instead.
const MAX_RECHECKS = 64;
// Journal objects this old (by their writer's clock, less the skew) are absorbed by a snapshot for good; younger ones are kept.
const JOURNAL_SETTLE_MS = 10 * 60_000;
// Intents older than this whose document never appeared belong to uploads that failed.
const FAILED_INTENT_MS = 24 * 3600_000;
// A snapshot taken longer ago than this is not written: a listing that slow may be older than journal objects already removed.
const MAX_SNAPSHOT_AGE_MS = 5 * 60_000;

interface CacheEntry {
  id: string;
  lastModified?: string;
  document: ModelMetadata;
}

interface Known {
  model: ModelMetadata;
  key: PageKey;
}

/** What a complete listing saw of the domain before it LISTed `versions/`. */
interface Snapshot {
  /** The etag of the Python pointer `domains/<domain>.json`; `null` when there was none. */
  pointer: string | null;
  /** When it was taken (this reader's clock), ms since the epoch. */
  takenAt: number;
}

interface Cache {
  entries: Map<string, CacheEntry>;
  snapshot?: Snapshot;
  /** The cache object's etag when read (`null`: none), for a conditional rewrite. */
  etag: string | null;
}

/** `<root>/<domain>/.listing/models.json` */
export function listingCacheKey(layout: BucketLayout, task: string): string {
  return `${layout.domainPrefix(task)}.listing/models.json`;
}

export function bucketListing(context: BucketListingContext) {
  const { backend, layout } = context;

  async function readCache(task: string, signal?: AbortSignal, withEtag = false): Promise<Cache> {
    const key = listingCacheKey(layout, task);
    // head before get: if it changes in between, the etag is the older one and a rewrite is refused, which is safe.
    const etag = withEtag ? ((await backend.head(key, { signal }).catch(() => null))?.etag ?? null) : null;
    const cache: Cache = { entries: new Map(), etag };
    const body = await backend.get(key, { signal }).catch(() => null);
    if (!body) return cache;
    try {
      const parsed = JSON.parse(await readSmallText(body, "The listing cache", 256 * 1024 * 1024)) as { entries?: unknown; snapshot?: { pointer?: unknown; takenAt?: unknown } };
      for (const raw of Array.isArray(parsed.entries) ? parsed.entries : []) {
        const entry = raw as CacheEntry;
        if (typeof entry?.id !== "string") continue;
        // The same checks a version document gets: a cache is no excuse for a bad document.
        cache.entries.set(entry.id, { id: entry.id, lastModified: entry.lastModified, document: checkMetadata(entry.document, "A listing cache entry", { domain: task, modelId: entry.id }) });
      }
      const snapshot = parsed.snapshot;
      if (snapshot && (snapshot.pointer === null || typeof snapshot.pointer === "string") && Number.isSafeInteger(snapshot.takenAt)) {
        cache.snapshot = { pointer: snapshot.pointer, takenAt: snapshot.takenAt as number };
      }
    } catch {
      return { entries: new Map(), etag }; // a torn or hand-edited cache is only a cache
    }
    return cache;
  }

  /** Writes the cache unless someone rewrote it since `previous` was read; whether it was written. */
  async function writeCache(task: string, entries: CacheEntry[], snapshot: Snapshot | undefined, previous: Cache, signal?: AbortSignal): Promise<boolean> {
    const bytes = new TextEncoder().encode(JSON.stringify({ version: 1, ...(snapshot ? { snapshot } : {}), entries }));
    const condition = previous.etag === null ? { ifNoneMatch: "*" as const } : { ifMatch: previous.etag };
    return backend.put(listingCacheKey(layout, task), bytes, { signal, contentType: "application/json", ...condition }).then(() => true, () => false);
  }

  /**
   * Removes journal objects a snapshot has absorbed for good: intents whose
   * model both the previous cache and this listing hold (a reader of either
   * cache has the model), or that failed long ago; pointer moves older than the
   * previous snapshot. Only objects old enough that no listing still running can
   * have missed them.
   */
  async function compactJournal(journal: JournalEntry[], previous: Cache, listed: Set<string>, signal?: AbortSignal): Promise<void> {
    const now = Date.now();
    const settled = (e: JournalEntry) => e.writtenAt < now - JOURNAL_SETTLE_MS - CLOCK_SKEW_MS;
    const absorbed = journal.filter((e) =>
      e.kind === "models"
        ? settled(e) && ((listed.has(e.id) && previous.entries.has(e.id)) || (!listed.has(e.id) && e.writtenAt < now - FAILED_INTENT_MS))
        : previous.snapshot !== undefined && e.writtenAt < previous.snapshot.takenAt - JOURNAL_SETTLE_MS - CLOCK_SKEW_MS,
    );
    await context.mapLimited(absorbed, (e) => backend.delete(e.key, { signal }).catch(() => undefined));
  }

  /** The model ids that have a tombstone (`versions/modelstore-deleted/<id>.json`). */
  async function tombstoned(task: string, signal?: AbortSignal): Promise<Set<string>> {
    const prefix = layout.tombstonesPrefix(task);
    const ids = new Set<string>();
    for await (const object of backend.list(prefix, { signal })) {
      const id = jsonNameUnder(prefix, object.key);
      if (id !== undefined) ids.add(id);
    }
    return ids;
  }

  /**
   * The newest page from the cache's snapshot and the journal, without listing
   * `versions/`; `undefined` when the snapshot cannot be trusted (then list in full).
   */
  async function newestFromSnapshot(task: string, limit: number, signal?: AbortSignal): Promise<{ items: Known[]; more: boolean } | undefined> {
    const [cache, pointer] = await Promise.all([readCache(task, signal), backend.head(layout.pythonLatestKey(task), { signal })]);
    const snapshot = cache.snapshot;
    if (!snapshot) return undefined;
    // Listed after the cache was read: journal objects removed meanwhile were absorbed by this cache or an older one.
    const [journal, deleted] = await Promise.all([listJournal(backend, layout, task, signal), tombstoned(task, signal)]);
    const pointerNow = pointer?.etag ?? null;
    if (pointerNow !== snapshot.pointer) {
      const records = journal.filter((e) => e.kind === "pointer");
      if (records.length > MAX_RECHECKS) return undefined;
      const moves = await context.mapLimited(records, (e) => readPointerMoves(backend, e.key, signal));
      if (moves.some((m) => m === null) || !movesExplain(snapshot.pointer, pointerNow, moves.flatMap((m) => m ?? []))) return undefined;
    }
    const recheck = new Set(journal.filter((e) => e.kind === "models").map((e) => e.id));
    for (const id of deleted) if (cache.entries.has(id)) recheck.add(id);
    if (recheck.size > MAX_RECHECKS) return undefined;
    const ids = [...recheck];
    const docs = await context.mapLimited(ids, (id) => context.readVersion(task, id, signal));
    const known = new Map<string, Known>();
    for (const [id, entry] of cache.entries) if (!recheck.has(id)) known.set(id, { model: entry.document, key: pageKeyOf(entry.document, entry.lastModified) });
    docs.forEach((model, i) => {
      if (!model) return;
      const cached = cache.entries.get(ids[i]);
      known.set(ids[i], { model, key: pageKeyOf(model, cached?.lastModified) });
    });
    const sorted = [...known.values()].sort((a, b) => comparePageKeys(a.key, b.key));
    return { items: sorted.slice(0, limit), more: sorted.length > limit };
  }

  /**
   * The models after `after` (all of them, or the `limit` newest), newest first,
   * reading only the documents that can sort among them.
   */
  async function collect(task: string, limit: number, after: PageKey | undefined, signal?: AbortSignal): Promise<{ items: Known[]; more: boolean }> {
    // The snapshot: the Python pointer as it was before the LIST, so that any Python upload after it shows as a changed etag.
    const pointer = await backend.head(layout.pythonLatestKey(task), { signal });
    const snapshot: Snapshot = { pointer: pointer?.etag ?? null, takenAt: Date.now() };
    const [versions, cache, journal] = await Promise.all([
      context.versionObjects(task, signal),
      readCache(task, signal, true),
      listJournal(backend, layout, task, signal).catch(() => []),
    ]);
    const known: Known[] = [];
    const fresh: CacheEntry[] = [];
    const unread: ListedVersion[] = [];
    for (const version of versions) {
      const entry = cache.entries.get(version.id);
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
    // Complete: every listed document is known, so the cache can carry a snapshot for the newest page.
    const complete = next >= unread.length;
    const listed = new Set(versions.map((v) => v.id));
    const intents = new Set(journal.filter((e) => e.kind === "models").map((e) => e.id));
    const settledIntents = [...intents].filter((id) => cache.entries.has(id) && listed.has(id)).length;
    // Changes the journal does not explain (a hand edit, a writer that keeps none): the snapshot must be taken again.
    const unexplained =
      [...cache.entries.keys()].some((id) => !listed.has(id)) || // removed
      unread.some((v) => !intents.has(v.id)); // added, or rewritten in place, by someone who keeps no journal
    // A snapshot pays only where listing costs: small domains list in full, as cheaply, and keep no cache.
    const large = versions.length >= CACHE_AFTER_READS;
    const worthIt = read >= CACHE_AFTER_READS || (complete && large && (!cache.snapshot || cache.snapshot.pointer !== snapshot.pointer || unexplained || settledIntents >= CACHE_AFTER_READS));
    if (worthIt) {
      const withSnapshot = complete && Date.now() - snapshot.takenAt < MAX_SNAPSHOT_AGE_MS;
      const written = await writeCache(task, fresh, withSnapshot ? snapshot : undefined, cache, signal);
      if (written && withSnapshot) await compactJournal(journal, cache, listed, signal);
    }
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
      const after = decodeCursor(options.cursor);
      const fast = after === undefined ? await newestFromSnapshot(task, limit, options.signal) : undefined;
      const { items, more } = fast ?? (await collect(task, limit, after, options.signal));
      const last = items[items.length - 1];
      return { items: items.map((k) => k.model), cursor: more && last ? encodeCursor(last.key) : undefined };
    },
  };
}

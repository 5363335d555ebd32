/**
 * The store's conditional writes over a Backend: claiming an archive slot
 * create-only, and reading and writing the bucket layout's JSON documents
 * (`versions/<id>.json`, `latest.json`), including the compare-and-swap loop
 * that moves `latest.json` only forward.
 */
import type { Backend } from "./backends/backend.js";
import { hasErrorCode, ModelStoreError, throwIfAborted } from "./errors.js";
import type { BucketLayout } from "./layout.js";
import { compareNewestFirst, encodeMetadata, parseMetadata, type ModelMetadata } from "./meta.js";
import { readSmallText } from "./streams.js";

/** A document together with the etag it was read at (for compare-and-swap). */
export interface TaggedMetadata {
  metadata: ModelMetadata | undefined; // undefined: the object exists but is corrupt
  etag: string;
}

// Enough for many racing writers; each round trip either wins or sees a newer document.
const MAX_SWAP_ATTEMPTS = 50;


/**
 * How long to wait for writes already in flight to land before re-reading, on
 * backends that emulate conditional writes. Requests on one store take milliseconds.
 */
export const SETTLE_MS = 200;

/** Waits {@link SETTLE_MS}, or less if `signal` fires. */
export async function settle(signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, SETTLE_MS);
    signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
  throwIfAborted(signal);
}

/** Reads and validates one metadata document; `null` when it does not exist. `expected`: see {@link parseMetadata}. */
export async function readMetadata(
  backend: Backend,
  key: string,
  signal?: AbortSignal,
  expected?: { domain: string; modelId?: string },
): Promise<ModelMetadata | null> {
  const body = await backend.get(key, { signal });
  if (!body) return null;
  return parseMetadata(await readSmallText(body, `The document at "${key}"`), key, expected);
}

/** Reads a document and the etag to compare against; a corrupt document is reported as `metadata: undefined`. */
export async function readTagged(backend: Backend, key: string, signal?: AbortSignal): Promise<TaggedMetadata | null> {
  // head before get: if the object changes in between, the etag is the older one and the
  // compare-and-swap that follows fails and retries, which is safe.
  const info = await backend.head(key, { signal });
  if (!info) return null;
  const body = await backend.get(key, { signal });
  if (!body) return null;
  const text = await readSmallText(body, `The document at "${key}"`);
  try {
    return { metadata: parseMetadata(text, key), etag: info.etag };
  } catch {
    return { metadata: undefined, etag: info.etag };
  }
}

/** Writes `document` to `key` only if `key` still holds what `current` describes. */
async function swap(backend: Backend, key: string, current: TaggedMetadata | null, document: Uint8Array, signal?: AbortSignal): Promise<boolean> {
  try {
    await backend.put(key, document, {
      signal,
      contentType: "application/json",
      ...(current ? { ifMatch: current.etag } : { ifNoneMatch: "*" as const }),
    });
    return true;
  } catch (error) {
    if (hasErrorCode(error, "CONFLICT", "ALREADY_EXISTS")) return false; // someone else moved it: look again
    throw error;
  }
}

/**
 * Makes `latest.json` describe `candidate` unless it already describes a model
 * at least as new. Racing uploads therefore converge on the newest model by
 * creation time, not on whichever wrote last.
 */
export async function advanceLatest(backend: Backend, key: string, candidate: ModelMetadata, signal?: AbortSignal): Promise<void> {
  const document = encodeMetadata(candidate);
  for (let attempt = 0; attempt < MAX_SWAP_ATTEMPTS; attempt++) {
    throwIfAborted(signal);
    const current = await readTagged(backend, key, signal);
    if (current?.metadata && compareNewestFirst(current.metadata, candidate) <= 0) return; // already as new or newer
    if (!(await swap(backend, key, current, document, signal))) continue;
    if (backend.capabilities.conditionalWrites) return;
    // Emulated compare-and-swap: an older writer that checked before us may land just
    // after us. Look again once writes in flight have landed, and re-assert if so.
    await settle(signal);
  }
  throw new ModelStoreError("CONFLICT", `Could not update "${key}": it kept changing under ${MAX_SWAP_ATTEMPTS} concurrent writers. Retry the upload.`);
}

/**
 * After `removedId` was deleted: if `latest.json` named it (or any model that
 * no longer `exists`), point it at `newest()` (the newest remaining model) or
 * remove it when none remains.
 */
export async function repairLatest(
  backend: Backend,
  key: string,
  removedId: string,
  newest: () => Promise<ModelMetadata | undefined>,
  exists: (id: string) => Promise<boolean>,
  signal?: AbortSignal,
): Promise<void> {
  for (let attempt = 0; attempt < MAX_SWAP_ATTEMPTS; attempt++) {
    throwIfAborted(signal);
    const current = await readTagged(backend, key, signal);
    if (!current) return;
    const named = current.metadata?.model.model_id;
    // Checked after every swap too: a delete racing this one may have removed the replacement meanwhile.
    if (named !== undefined && named !== removedId && (await exists(named))) return;
    const replacement = await newest();
    if (!replacement) {
      // The interface has no conditional delete. An upload that advanced latest.json
      // between newest() and this delete is found by looking again, and put back.
      await backend.delete(key, { signal });
      const arrived = await newest();
      if (arrived) await advanceLatest(backend, key, arrived, signal);
      return;
    }
    await swap(backend, key, current, encodeMetadata(replacement), signal);
  }
  throw new ModelStoreError("CONFLICT", `Could not repair "${key}": it kept changing. Run the delete again.`);
}

// How many seconds an upload tries before taking a key with its model id. Bursts of
// uploads (more than one a second) would otherwise claim ever further ahead of the
// clock, each later upload paying one refused PUT per second already taken.
const MAX_ARCHIVE_SLOTS = 3;

/**
 * Reserves the key an upload's archive goes to.
 *
 * Where the backend enforces create-only writes, that is the layout's
 * `<datetime>/artifacts.tar.gz`, claimed with a placeholder and moving to the
 * next second while another upload holds it; after a few taken seconds (a burst
 * of uploads), `<datetime>/<model-id>/artifacts.tar.gz` as below.
 *
 * Where it cannot (create-only is emulated by a check, then a write), no claim
 * is safe: two uploads can both pass the check, and under load the second write
 * lands after every read-back, so one archive silently replaces the other. Those
 * uploads get `<datetime>/<model-id>/artifacts.tar.gz` instead, a key no other
 * model can share, and no placeholder at all.
 */
export async function claimArchiveKey(
  backend: Backend,
  layout: BucketLayout,
  domain: string,
  modelId: string,
  created: Date,
  signal?: AbortSignal,
): Promise<string> {
  const capabilities = backend.resolveCapabilities ? await backend.resolveCapabilities({ signal }) : backend.capabilities;
  if (!capabilities.conditionalWrites) return layout.archiveKey(domain, created, modelId);
  for (let slot = 0; slot < MAX_ARCHIVE_SLOTS; slot++) {
    throwIfAborted(signal);
    const key = layout.archiveKey(domain, new Date(created.getTime() + slot * 1000));
    try {
      // A placeholder: no metadata points at it, so readers never see it, and the real archive replaces it.
      await backend.put(key, ARCHIVE_PLACEHOLDER, { signal, ifNoneMatch: "*", contentType: "application/gzip" });
    } catch (error) {
      if (!hasErrorCode(error, "ALREADY_EXISTS")) throw error;
      continue;
    }
    if (backend.capabilities.conditionalWrites) return key;
    // The backend found out meanwhile that it cannot enforce create-only (an S3
    // server answered 501): this claim proves nothing, so take a key of our own.
    // The placeholder stays: it may already be someone else's; gc() collects it.
    return layout.archiveKey(domain, created, modelId);
  }
  return layout.archiveKey(domain, created, modelId);
}

/** What a claimed slot holds until the archive replaces it: recognisably not a gzip stream. */
export const ARCHIVE_PLACEHOLDER = new TextEncoder().encode("modelstore upload claim\n");

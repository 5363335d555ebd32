/**
 * The store's conditional writes over a Backend: claiming an archive slot
 * create-only, and reading and writing the bucket layout's JSON documents
 * (`versions/<id>.json`, `latest.json`), including the compare-and-swap loop
 * that moves `latest.json` only forward.
 */
import type { Backend, ReadBackend } from "../backends/backend.ts";
import { hasErrorCode, ModelStoreError, throwIfAborted } from "../util/errors.ts";
import type { BucketLayout } from "./layout.ts";
import { compareNewestFirst, encodeMetadata, parseMetadata, type ModelMetadata } from "./document.ts";
import { readSmallText } from "../util/streams.ts";
import type { PointerMove } from "./listing-journal.ts";

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
  backend: ReadBackend,
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
async function swap(backend: Backend, key: string, current: TaggedMetadata | null, document: Uint8Array, signal?: AbortSignal): Promise<string | null> {
  try {
    const written = await backend.put(key, document, {
      signal,
      contentType: "application/json",
      ...(current ? { ifMatch: current.etag } : { ifNoneMatch: "*" as const }),
    });
    return written.etag;
  } catch (error) {
    if (hasErrorCode(error, "CONFLICT", "ALREADY_EXISTS")) return null; // someone else moved it: look again
    throw error;
  }
}

/**
 * Makes `latest.json` describe `candidate` unless it already describes a model
 * at least as new. Racing uploads therefore converge on the newest model by
 * creation time, not on whichever wrote last. `writtenAt` tells when a model's
 * version document was written, which places a document without a zone (the
 * Python modelstore's) in time (see {@link compareNewestFirst}).
 */
export async function advanceLatest(
  backend: Backend,
  key: string,
  candidate: ModelMetadata,
  signal?: AbortSignal,
  writtenAt?: (model: ModelMetadata) => Promise<string | undefined>,
): Promise<PointerMove[]> {
  const document = encodeMetadata(candidate);
  // Every write this call made, etag before and after: the listing journal records them (listing-journal.ts).
  const moves: PointerMove[] = [];
  for (let attempt = 0; attempt < MAX_SWAP_ATTEMPTS; attempt++) {
    throwIfAborted(signal);
    const current = await readTagged(backend, key, signal);
    const held = current?.metadata;
    const times = writtenAt && held ? new Map([[held, await writtenAt(held)], [candidate, await writtenAt(candidate)]]) : undefined;
    if (held && compareNewestFirst(held, candidate, times && ((m) => times.get(m))) <= 0) return moves; // already as new or newer
    const written = await swap(backend, key, current, document, signal);
    if (written === null) continue;
    moves.push({ before: current?.etag ?? null, after: written });
    if (backend.capabilities.conditionalWrites) return moves;
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

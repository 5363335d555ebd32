/**
 * Choosing the key an upload's archive goes to, so that no two uploads ever
 * share one (see {@link claimArchiveKey}).
 */
import type { Backend } from "../backends/backend.ts";
import { hasErrorCode, throwIfAborted } from "../util/errors.ts";
import type { BucketLayout } from "../metadata/layout.ts";

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
  // A placeholder: no metadata points at it, so readers never see it, and the real archive replaces it.
  // It names the upload's model, so that a claim whose answer was lost can be told from another upload's.
  const claim = new TextEncoder().encode(`${PLACEHOLDER_TEXT} ${modelId}\n`);
  for (let slot = 0; slot < MAX_ARCHIVE_SLOTS; slot++) {
    throwIfAborted(signal);
    const key = layout.archiveKey(domain, new Date(created.getTime() + slot * 1000));
    try {
      await backend.put(key, claim, { signal, ifNoneMatch: "*", contentType: "application/gzip" });
    } catch (error) {
      if (hasErrorCode(error, "ALREADY_EXISTS")) continue;
      // Aborted or failed in flight, the claim may have landed all the same: take it back if it is ours.
      await releaseClaim(backend, key, claim);
      throw error;
    }
    if (backend.capabilities.conditionalWrites) return key;
    // The backend found out meanwhile that it cannot enforce create-only (an S3
    // server answered 501): this claim proves nothing, so take a key of our own.
    // The placeholder stays: it may already be someone else's; gc() collects it.
    return layout.archiveKey(domain, created, modelId);
  }
  return layout.archiveKey(domain, created, modelId);
}

/** What a claimed slot holds until the archive replaces it, followed by the model id: recognisably not a gzip stream. */
const PLACEHOLDER_TEXT = "modelstore upload claim";

/** The largest a placeholder can be: its text, a model id, a newline. */
export const MAX_PLACEHOLDER_BYTES = 512;

/**
 * How long after a claim was aborted or failed in flight its PUT may still land:
 * the server can finish a request whose client has already given up. Looked for
 * again after each of these delays while the key is empty.
 */
const LATE_CLAIM_CHECKS_MS = [0, 250, 1000];

/**
 * Deletes `key` if it holds exactly this upload's claim (no signal: cleanup runs
 * after an abort). An empty key is looked at again a little later: under load
 * Azurite stored an aborted claim after the first look (store suite, CI).
 */
async function releaseClaim(backend: Backend, key: string, claim: Uint8Array): Promise<void> {
  try {
    for (const delay of LATE_CLAIM_CHECKS_MS) {
      if (delay) await new Promise((resolve) => setTimeout(resolve, delay));
      const body = await backend.get(key);
      if (!body) continue;
      const held = new Uint8Array(await new Response(body).arrayBuffer());
      if (held.byteLength === claim.byteLength && held.every((byte, i) => byte === claim[i])) await backend.delete(key);
      return; // found: ours is gone now, or it is another upload's
    }
  } catch {
    // left for gc(), which removes placeholders no model points at
  }
}

/**
 * Pages of a domain's models, newest first, with an opaque cursor. The order is
 * by a page key (creation instant, archive location, id), a total order, so
 * pages never repeat or skip a model that existed when the first page was read;
 * models uploaded while paging sort before the cursor and show up on a new listing.
 */
import { InvalidArgumentError } from "../util/errors.ts";
import { creationInstant, type ModelMetadata } from "./document.ts";

/** Options for one page of models. */
export interface ModelPageOptions {
  /** Aborts the call where the repository can stop safely. */
  signal?: AbortSignal;
  /** Models per page, 1 to 10,000. @default 100 */
  limit?: number;
  /** The `cursor` of the previous page; none for the newest page. */
  cursor?: string;
}

/** One page of models, newest first. */
export interface ModelPage {
  items: ModelMetadata[];
  /** Pass it as `cursor` for the next page; absent on the last page. */
  cursor?: string;
}

/** Where a model sorts: [creation instant (ms), archive location, id]; larger is newer. */
export type PageKey = readonly [number, string, string];

export const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 10_000;

/** The page key of a model; `writtenAt` places documents without a zone (Python's) by their write time. */
export function pageKeyOf(model: ModelMetadata, writtenAt?: string): PageKey {
  const instant = creationInstant(model, writtenAt);
  return [Number.isNaN(instant) ? 0 : instant, model.storage.prefix ?? model.storage.path ?? "", model.model.model_id];
}

/** Negative when `a` is newer than `b` (sorts first). */
export function comparePageKeys(a: PageKey, b: PageKey): number {
  if (a[0] !== b[0]) return b[0] - a[0];
  if (a[1] !== b[1]) return a[1] < b[1] ? 1 : -1;
  return a[2] < b[2] ? 1 : a[2] > b[2] ? -1 : 0;
}

export function checkPageSize(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new InvalidArgumentError(`limit must be a whole number from 1 to ${MAX_PAGE_SIZE}, got ${String(limit)}.`);
  }
  return limit;
}

export function encodeCursor(key: PageKey): string {
  const bytes = new TextEncoder().encode(JSON.stringify(key));
  return "m1." + btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** @throws InvalidArgumentError for anything a previous page did not hand out */
export function decodeCursor(cursor: string | undefined): PageKey | undefined {
  if (cursor === undefined) return undefined;
  const bad = () => new InvalidArgumentError(`The cursor "${cursor.slice(0, 40)}" was not handed out by a previous page. Pass the cursor of the page before, or none for the newest page.`);
  if (typeof cursor !== "string" || !cursor.startsWith("m1.")) throw bad();
  try {
    const binary = atob(cursor.slice(3).replace(/-/g, "+").replace(/_/g, "/"));
    const key: unknown = JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
    if (Array.isArray(key) && key.length === 3 && Number.isFinite(key[0]) && typeof key[1] === "string" && typeof key[2] === "string") {
      return key as unknown as PageKey;
    }
  } catch {
    // falls through to the typed error
  }
  throw bad();
}

/** The page after `cursor` of models whose keys are all known (memory, local file, PostgreSQL, state listings). */
export function pageOf(models: readonly ModelMetadata[], options: ModelPageOptions, writtenAt?: (m: ModelMetadata) => string | undefined): ModelPage {
  const limit = checkPageSize(options.limit);
  const after = decodeCursor(options.cursor);
  const keyed = models.map((m) => ({ m, key: pageKeyOf(m, writtenAt?.(m)) }));
  const rest = keyed.filter((k) => after === undefined || comparePageKeys(k.key, after) > 0).sort((a, b) => comparePageKeys(a.key, b.key));
  const items = rest.slice(0, limit);
  const last = items[items.length - 1];
  return { items: items.map((k) => k.m), cursor: rest.length > limit && last ? encodeCursor(last.key) : undefined };
}

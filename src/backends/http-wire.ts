/**
 * The pieces of HTTP and of S3's wire format that the S3 backend and the public
 * HTTP backend both speak: the `Range` header, ETags as S3 quotes them, and the
 * `ListBucketResult` page of ListObjectsV2 (a public bucket answers it anonymously).
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
 */
import type { GetOptions, ObjectInfo } from "./backend.ts";
import { InvalidArgumentError } from "../util/errors.ts";
import { xmlElements, xmlText, xmlTexts } from "../util/xml.ts";

/** Statuses whose answers carry no body: a `Response` cannot be built with one for them. */
export const NULL_BODY_STATUSES: readonly number[] = [101, 103, 204, 205, 304];

/** An HTTP `Range` header value for `length` bytes from `offset`, or to the end. @see https://www.rfc-editor.org/rfc/rfc9110#name-byte-ranges */
export function rangeHeader(offset: number, length?: number): string {
  return `bytes=${offset}-${length === undefined ? "" : offset + length - 1}`;
}

/**
 * Checks a `get()` range; true when it asks for no bytes, which HTTP cannot express
 * (the caller then only checks that the key exists).
 */
export function isEmptyRange(key: string, range: GetOptions["range"]): boolean {
  if (!range) return false;
  const { offset, length } = range;
  if (!Number.isInteger(offset) || offset < 0 || (length !== undefined && (!Number.isInteger(length) || length < 0))) {
    throw new InvalidArgumentError(`get("${key}"): range needs a non-negative integer offset and length, got ${JSON.stringify(range)}.`);
  }
  return length === 0;
}

/** A stream that ends at once: no bytes. */
export function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (controller) => controller.close() });
}

/** Quotes an etag the way S3 sends it, so tags from headers, listings and callers compare equal. */
export function normalizeEtag(etag: string): string {
  const trimmed = etag.trim();
  return trimmed.startsWith('"') || trimmed.startsWith("W/") ? trimmed : `"${trimmed}"`;
}

/** One parsed ListObjectsV2 page. */
export interface ListPage {
  objects: ObjectInfo[];
  prefixes: string[];
  truncated: boolean;
  nextToken?: string;
}

/**
 * Decodes an `encoding-type=url` value. AWS encodes a space as `+` (and `+` as
 * `%2B`), Swift as `%20`; turning `+` into a space first reads both correctly.
 */
function decodeListValue(value: string, encoded: boolean): string {
  return encoded ? decodeURIComponent(value.replace(/\+/g, " ")) : value;
}

/** Parses a `<ListBucketResult>` document (asked for with `encoding-type=url`). */
export function parseListPage(xml: string): ListPage {
  const encoded = (xmlText(xml, "EncodingType") ?? "").toLowerCase() === "url";
  const objects = xmlElements(xml, "Contents").map((entry): ObjectInfo => {
    const modified = xmlText(entry, "LastModified");
    const date = modified ? new Date(modified) : undefined;
    return {
      key: decodeListValue(xmlText(entry, "Key") ?? "", encoded),
      size: Number(xmlText(entry, "Size") ?? 0),
      etag: normalizeEtag(xmlText(entry, "ETag") ?? ""),
      ...(date && !Number.isNaN(date.getTime()) ? { lastModified: date.toISOString() } : {}),
    };
  });
  const prefixes = xmlElements(xml, "CommonPrefixes").flatMap((entry) => xmlTexts(entry, "Prefix").map((p) => decodeListValue(p, encoded)));
  return {
    objects,
    prefixes,
    truncated: (xmlText(xml, "IsTruncated") ?? "").trim() === "true",
    nextToken: xmlText(xml, "NextContinuationToken") || undefined,
  };
}

/** The ListObjectsV2 query for one page: keys below `prefix`, continuing after `token` or `startAfter`. */
export function listQuery(prefix: string, options: { delimiter?: string; maxKeys: number; token?: string; startAfter?: string }): Record<string, string | undefined> {
  return {
    "list-type": "2",
    prefix,
    delimiter: options.delimiter,
    "encoding-type": "url",
    "max-keys": String(options.maxKeys),
    "continuation-token": options.token,
    "start-after": options.token ? undefined : options.startAfter,
  };
}

/**
 * Where the page after `page` starts: its continuation token, and the last key or prefix
 * for servers that page without a token but honour `start-after`; `undefined` at the end.
 */
export function nextPageCursor(page: ListPage): { token?: string; startAfter?: string } | undefined {
  if (!page.truncated) return undefined;
  const last = page.objects.at(-1)?.key ?? page.prefixes.at(-1);
  if (!page.nextToken && last === undefined) return undefined;
  return { token: page.nextToken, startAfter: last };
}

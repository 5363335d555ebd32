/**
 * Listings with ListObjectsV2: every page, any number of keys.
 * Asks for `encoding-type=url` so keys that XML 1.0 cannot carry, and keys with
 * spaces, `+` or unicode, come back unambiguous.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
 */
import type { ObjectInfo } from "../backend.ts";
import { normalizeEtag } from "./s3-conditional.ts";
import type { S3Transport } from "./s3-transport.ts";
import { xmlElements, xmlText, xmlTexts } from "../../util/xml.ts";

/** S3 returns at most 1,000 keys per page. */
const PAGE_SIZE = 1000;

/** One parsed page. */
interface ListPage {
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

function parsePage(xml: string): ListPage {
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

/** Every page under `prefix` (with `delimiter` when grouping), following continuation tokens. */
export async function* listPages(
  transport: S3Transport,
  prefix: string,
  options: { delimiter?: string; limit?: number; signal?: AbortSignal },
): AsyncGenerator<ListPage> {
  let remaining = options.limit ?? Infinity;
  let token: string | undefined;
  let startAfter: string | undefined;
  while (remaining > 0) {
    // Read inside the transport's retry loop: a page that breaks off is asked for again.
    const { text } = await transport.sendText({
      method: "GET",
      operation: "ListObjectsV2",
      query: {
        "list-type": "2",
        prefix,
        delimiter: options.delimiter,
        "encoding-type": "url",
        "max-keys": String(Math.min(PAGE_SIZE, remaining)),
        "continuation-token": token,
        "start-after": token ? undefined : startAfter,
      },
      // A web page in its place would read as an empty listing: "no domains", "no models".
      expect: "ListBucketResult",
      signal: options.signal,
    });
    const page = parsePage(text);
    remaining -= page.objects.length + page.prefixes.length;
    yield page;
    if (!page.truncated) return;
    const last = page.objects.at(-1)?.key ?? page.prefixes.at(-1);
    // Servers that page without a continuation token still honour start-after.
    if (!page.nextToken && last === undefined) return;
    token = page.nextToken;
    startAfter = last;
  }
}

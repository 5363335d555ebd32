/**
 * Listings with ListObjectsV2: every page, any number of keys.
 * Asks for `encoding-type=url` so keys that XML 1.0 cannot carry, and keys with
 * spaces, `+` or unicode, come back unambiguous.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
 */
import { listQuery, nextPageCursor, parseListPage, type ListPage } from "../http-wire.ts";
import type { S3Transport } from "./s3-transport.ts";

/** S3 returns at most 1,000 keys per page. */
const PAGE_SIZE = 1000;

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
      query: listQuery(prefix, { delimiter: options.delimiter, maxKeys: Math.min(PAGE_SIZE, remaining), token, startAfter }),
      // A web page in its place would read as an empty listing: "no domains", "no models".
      expect: "ListBucketResult",
      signal: options.signal,
    });
    const page = parseListPage(text);
    remaining -= page.objects.length + page.prefixes.length;
    yield page;
    const next = nextPageCursor(page);
    if (!next) return;
    ({ token, startAfter } = next);
  }
}

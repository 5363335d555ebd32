/**
 * Tells the S3 API's answers from a web server's. An `endpoint` that names a web
 * site (or a proxy's error page) answers 200 with HTML: read as S3, a listing of
 * it is empty and a document in it is corrupt, and the store would report "no
 * models" or advise deleting one. Documents whose root element is not the one S3
 * sends, and web pages that a listing shows were not S3's, fail instead, naming
 * the endpoint.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html#API_ListObjectsV2_ResponseSyntax
 */
import { BackendError } from "../../util/errors.ts";
import { untilAborted } from "../../util/streams.ts";
import { isNotS3Error, notS3Error, type S3ErrorContext } from "./s3-errors.ts";
import { xmlRootName } from "../../util/xml.ts";

/**
 * True when an answer carries a web page: an HTML content type and a body. S3 answers
 * with XML, or with an object's own content type; Swift labels its empty answers
 * text/html, so only a non-empty one counts.
 */
export function carriesWebPage(response: Response): boolean {
  return /html/i.test(response.headers.get("content-type") ?? "") && response.headers.get("content-length") !== "0";
}

/** The check one transport makes of its accepted answers. */
export class AnswerCheck {
  /** An answer only S3 gives (a listing, an S3 error document) was seen: web pages are objects from then on. */
  #spokeS3 = false;
  /** The listing that decides, shared by every caller waiting on it. */
  #confirming: Promise<void> | undefined;

  /** `list` sends one ListObjectsV2 that expects `<ListBucketResult>`. */
  constructor(private readonly list: () => Promise<unknown>) {}

  /**
   * Throws when an accepted answer is not S3's: a document whose root is not
   * `expect`, or a web page where a listing of the bucket shows that no S3 API
   * answers at this endpoint. S3 serves an object stored as text/html too, so a web
   * page alone proves nothing; the listing is asked once, and never after an answer
   * only S3 gives. `text` is the body a text request read.
   */
  async check(ctx: S3ErrorContext, response: Response, text: string | undefined, expect: string | undefined, signal?: AbortSignal): Promise<void> {
    if (text !== undefined && expect) {
      if (xmlRootName(text) !== expect) throw notS3Error(ctx, { status: response.status, headers: response.headers, body: text }, expect);
      this.#spokeS3 = true;
      return;
    }
    if (this.#spokeS3 || !carriesWebPage(response)) return;
    try {
      await untilAborted(() => this.#confirm(), signal);
    } catch (error) {
      await response.body?.cancel().catch(() => {});
      if (isNotS3Error(error)) throw notS3Error(ctx, { status: response.status, headers: response.headers }, undefined, error);
      throw error;
    }
  }

  /** Resolves when S3 answered the listing, even with an S3 error; on no caller's signal, since callers share it. */
  #confirm(): Promise<void> {
    this.#confirming ??= this.list().then(
      () => {
        this.#spokeS3 = true;
      },
      (error: unknown) => {
        this.#confirming = undefined;
        // An S3 failure (AccessDenied, NoSuchBucket) is S3 speaking all the same.
        if (error instanceof BackendError && error.status !== undefined && !isNotS3Error(error)) {
          this.#spokeS3 = true;
          return;
        }
        throw error;
      },
    );
    return this.#confirming;
  }
}

/**
 * The parts of the Workers R2 bucket binding this library calls, as
 * structural types: a Worker's `env.MODELS` fits them without importing
 * `@cloudflare/workers-types`, and so does Miniflare's `getR2Bucket()`.
 * @see https://developers.cloudflare.com/r2/api/workers/workers-api-reference/
 */

/** What R2 says of a stored object. */
export interface R2ObjectInfo {
  key: string;
  size: number;
  /** The bare etag; `httpEtag` is the same quoted for HTTP. */
  etag: string;
  httpEtag?: string;
  uploaded: Date | string;
}

/** An object with its body, from `get()`. */
export interface R2ObjectBodyInfo extends R2ObjectInfo {
  body: ReadableStream<Uint8Array>;
}

/** Conditions of a put: `etagDoesNotMatch: "*"` creates only; `etagMatches` swaps only that version. */
export interface R2Conditions {
  etagMatches?: string;
  etagDoesNotMatch?: string;
}

export interface R2MultipartUploadBinding {
  readonly key: string;
  readonly uploadId: string;
  uploadPart(partNumber: number, value: Uint8Array): Promise<{ partNumber: number; etag: string }>;
  complete(parts: { partNumber: number; etag: string }[]): Promise<R2ObjectInfo>;
  abort(): Promise<void>;
}

export interface R2ListPage {
  objects: R2ObjectInfo[];
  truncated: boolean;
  cursor?: string;
  delimitedPrefixes?: string[];
}

/** A Workers R2 bucket binding (`env.MODELS`). */
export interface R2BucketBinding {
  head(key: string): Promise<R2ObjectInfo | null>;
  get(key: string, options?: { range?: { offset: number; length?: number } }): Promise<R2ObjectBodyInfo | null>;
  /** `null` when `onlyIf` did not hold. */
  put(key: string, value: Uint8Array, options?: { onlyIf?: R2Conditions; httpMetadata?: { contentType?: string } }): Promise<R2ObjectInfo | null>;
  delete(keys: string | string[]): Promise<void>;
  list(options?: { prefix?: string; cursor?: string; delimiter?: string; limit?: number }): Promise<R2ListPage>;
  createMultipartUpload(key: string, options?: { httpMetadata?: { contentType?: string } }): Promise<R2MultipartUploadBinding>;
}

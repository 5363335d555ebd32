/**
 * `store.signedUrl()`: a time-limited GET URL for a model's archive, so a service can
 * hand a client the download without proxying the bytes. The backend signs it (S3's
 * presigned URL, Azure's SAS); backends that cannot (file system, memory, public HTTP)
 * fail with `NOT_SUPPORTED`. The URL is a bearer credential: it is returned, never logged,
 * and no error message carries it.
 */
import type { Backend, StorageLocation } from "../backends/backend.ts";
import { expiresInSeconds } from "../backends/expires-in.ts";
import type { ModelMetadata } from "../metadata/document.ts";
import { InvalidArgumentError, NotSupportedError } from "../util/errors.ts";
import type { ModelQueryOptions } from "./options.ts";

/** Options for `ModelStore.signedUrl`. */
export interface SignedUrlRequest extends ModelQueryOptions {
  /** Seconds the URL stays valid: 1 to 604,800 (7 days). */
  expiresIn: number;
}

/** A signed archive URL and what the client needs to check the download. */
export interface SignedArchiveUrl {
  /** GET this (no headers, no credentials) for the `.tar.gz`. Treat it as a secret until it expires. */
  url: string;
  /** When the URL stops working, ISO-8601. */
  expiresAt: string;
  /** The model whose archive it is (the latest one when no id was given). */
  modelId: string;
  /** The archive's size and sha256, to check the download against; absent for archives the Python library wrote. */
  size?: number;
  sha256?: string;
}

/** What the store lends to {@link signArchiveUrl}. */
export interface SignedUrlContext {
  backend: Backend;
  keyOf(location: StorageLocation, modelId: string): string;
  find(domain: string, modelId: string | undefined, options: ModelQueryOptions): Promise<ModelMetadata>;
}

/** Signs a GET URL for the archive of `modelId` in `domain` (the latest, in `state` if given, when omitted). */
export async function signArchiveUrl(ctx: SignedUrlContext, domain: string, modelId: string | undefined, options: SignedUrlRequest): Promise<SignedArchiveUrl> {
  const expiresIn = expiresInSeconds(options);
  if (modelId !== undefined && options.state !== undefined) {
    throw new InvalidArgumentError(`signedUrl("${domain}", "${modelId}"): pass a model id or a state, not both. The state picks the newest model in it when the id is omitted.`);
  }
  const { backend } = ctx;
  if (!backend.signedUrl) {
    throw new NotSupportedError(
      `The ${backend.name} backend cannot sign URLs: only S3-compatible stores and Azure (with an account key) can. Stream the archive with store.getArchive("${domain}"${modelId === undefined ? "" : `, "${modelId}"`}) instead.`,
    );
  }
  const metadata = await ctx.find(domain, modelId, options);
  const id = metadata.model.model_id;
  const issued = Date.now();
  const url = await backend.signedUrl(ctx.keyOf(metadata.storage, id), { expiresIn, signal: options.signal });
  return {
    url,
    expiresAt: new Date(issued + expiresIn * 1000).toISOString(),
    modelId: id,
    ...(metadata.archive ? { size: metadata.archive.size, sha256: metadata.archive.sha256 } : {}),
  };
}

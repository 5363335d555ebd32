/**
 * The S3 backend: AWS S3 and S3-compatible servers (Swift s3api, MinIO, R2...)
 * over fetch, signed with SigV4 by aws4fetch. Runtime-neutral: no Node types.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/Welcome.html
 */
import { AbortedError, InvalidArgumentError, IntegrityError, throwIfAborted } from "../../util/errors.ts";
import type { Backend, BackendCapabilities, BaseOptions, CollectGarbageOptions, Leftover, ObjectInfo, PutOptions, SignedUrlOptions, StorageLocation } from "../backend.ts";
import { collectMultipartGarbage } from "./s3-gc.ts";
import {
  checkPrecondition,
  conditionHeaders,
  isNotImplemented,
  normalizeEtag,
  preconditionError,
  probeConditionalWrites,
  probeMultipartConditions,
  PROBE_TIMEOUT_MS,
  type EtagForm,
} from "./s3-conditional.ts";
import { untilAborted } from "../../util/streams.ts";
import { s3Error } from "./s3-errors.ts";
import { presignGet } from "./s3-presign.ts";
import { base64, md5 } from "./s3-md5.ts";
import { MAX_PARTS, PartReader, uploadMultipart, type PartSource } from "./s3-multipart.ts";
import { resolveS3Options, type ResolvedS3Options, type S3BackendOptions, type S3Dialect } from "./s3-options.ts";
import { gcsConditionHeaders } from "./gcs-conditional.ts";
import { checkKey, RequestTimeout } from "./s3-transport.ts";
import { streamedBodies } from "./s3-request-stream.ts";
import { S3Reads } from "./s3-reader.ts";
import { partsBody } from "./s3-get.ts";
import { escapeXmlText, xmlElements, xmlText } from "../../util/xml.ts";

export type { S3BackendOptions, S3Credentials, S3CredentialsProvider } from "./s3-options.ts";

/** The S3 {@link Backend}, plus what only S3 offers. */
export interface S3Backend extends Backend {
  readonly name: "s3";
  /** The bucket; the store records it in model metadata (`storage.bucket`). */
  readonly bucket: string;
  /**
   * Deletes many keys with DeleteObjects, 1,000 per request. Missing keys are not errors.
   * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html
   */
  deleteMany(keys: Iterable<string>, options?: BaseOptions): Promise<void>;
  locate(key: string): StorageLocation;
  keyOf(location: StorageLocation): string;
  signedUrl(key: string, options: SignedUrlOptions): Promise<string>;
}

/** Creates an {@link S3Backend}; throws {@link InvalidArgumentError} on bad options. */
export function s3Backend(options: S3BackendOptions): S3Backend {
  return new S3BackendImpl(resolveS3Options(options));
}

/** An {@link S3Backend} speaking another server's dialect of S3 (gcs.ts builds Google Cloud Storage's). */
export function s3BackendOfDialect(options: S3BackendOptions, dialect: S3Dialect): S3Backend {
  return new S3BackendImpl(resolveS3Options(options, dialect));
}

/** DeleteObjects takes at most 1,000 keys. */
const DELETE_BATCH = 1000;

class S3BackendImpl extends S3Reads implements S3Backend {
  readonly capabilities: BackendCapabilities;
  /** How long the conditional-write probe may take; tests lower it. */
  probeTimeoutMs = PROBE_TIMEOUT_MS;
  #conditional: "probe" | "native" | "emulate";
  #probe?: Promise<"native" | "emulate">;
  /** The `If-Match` form the server accepts; AWS's quoted one unless the probe found otherwise. */
  #etagForm: EtagForm = "quoted";
  /**
   * Whether CompleteMultipartUpload enforces the conditions too. Probed where the
   * single-PUT probe ran (RGW enforces them only there); a server declared "native" is trusted.
   */
  #multipartProbe?: Promise<boolean>;

  constructor(options: ResolvedS3Options) {
    super(options, partsBody);
    this.transport.streamedBodies = streamedBodies((error) => error instanceof AbortedError || error instanceof RequestTimeout);
    this.#conditional = options.conditionalWrites;
    // "probe" starts pessimistic: claiming no support only costs a caller an extra
    // HEAD, while claiming support that is missing would let it skip its own check.
    this.capabilities = { conditionalWrites: this.#conditional === "native" };
  }

  /** DeleteObject; a missing key is fine. @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html */
  async delete(key: string, options: BaseOptions = {}): Promise<void> {
    checkKey(key);
    throwIfAborted(options.signal);
    const response = await this.transport.send({ method: "DELETE", operation: "DeleteObject", key, signal: options.signal, accept: [404] });
    if (response.status === 404) return this.throwIfBucketMissing(response, "DeleteObject", key);
    await response.body?.cancel().catch(() => {});
  }

  async deleteMany(keys: Iterable<string>, options: BaseOptions = {}): Promise<void> {
    // GCS's XML API has no DeleteObjects: one DELETE per key.
    if (this.options.dialect === "gcs") {
      for (const key of keys) await this.delete(key, options);
      return;
    }
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length > 0) await this.#deleteBatch(batch, options.signal);
      batch = [];
    };
    for (const key of keys) {
      checkKey(key);
      batch.push(key);
      if (batch.length === DELETE_BATCH) await flush();
    }
    await flush();
  }

  /** A presigned GetObject URL (query-string SigV4, see s3-presign.ts). */
  signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    return presignGet(this.transport, this.options, key, options);
  }

  /**
   * PutObject for bodies up to `partSize`, else a multipart upload. Streams are
   * read into a pool of `concurrency + 1` buffers of `partSize`, reused part after
   * part, so memory stays near `partSize × (concurrency + 1)`.
   * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html
   */
  async put(key: string, body: Uint8Array | ReadableStream<Uint8Array>, options: PutOptions = {}): Promise<ObjectInfo> {
    checkKey(key);
    throwIfAborted(options.signal);
    const { partSize } = this.options;
    const declared = options.size;
    if (declared !== undefined && (!Number.isInteger(declared) || declared < 0)) {
      throw new InvalidArgumentError(`put("${key}"): size must be a non-negative integer, got ${declared}.`);
    }
    const checkSize = (actual: number) => {
      if (declared !== undefined && actual !== declared) {
        throw new IntegrityError(`put("${key}"): the body has ${actual} bytes but size says ${declared}; nothing was stored. Pass the right size or omit it.`);
      }
    };
    if (body instanceof Uint8Array) {
      checkSize(body.byteLength);
      if (body.byteLength <= partSize) return this.#putSingle(key, body, options);
      // Large arrays need no copy: parts are views into the caller's bytes.
      const size = Math.max(partSize, Math.ceil(body.byteLength / MAX_PARTS));
      let offset = 0;
      const next: PartSource = async () => {
        if (offset >= body.byteLength) return null;
        const part = body.subarray(offset, offset + size);
        offset += part.byteLength;
        return part;
      };
      return this.#putMultipart(key, next, options, checkSize);
    }
    // A known size picks a part size that stays within 10,000 parts.
    const size = declared === undefined ? partSize : Math.max(partSize, Math.ceil(declared / MAX_PARTS));
    const reader = new PartReader(body, size, options.signal, this.options.concurrency + 1);
    try {
      const first = (await reader.next()) ?? new Uint8Array(0);
      const second = first.byteLength < size ? null : await reader.next();
      if (!second) {
        checkSize(first.byteLength);
        return await this.#putSingle(key, first, options);
      }
      let pending: Uint8Array[] = [first, second];
      const next: PartSource = async () => (pending.length > 0 ? pending.shift()! : reader.next());
      next.release = (part) => reader.release(part);
      return await this.#putMultipart(key, next, options, checkSize, (reason) => {
        pending = [];
        return reader.cancel(reason);
      });
    } catch (error) {
      await reader.cancel(error);
      throw error;
    }
  }

  async #putSingle(key: string, bytes: Uint8Array, options: PutOptions): Promise<ObjectInfo> {
    const conditional = await this.#conditionalMode(options);
    if (conditional === "emulate") checkPrecondition(key, await this.head(key, options), options);
    const send = async (extra: Record<string, string>) => {
      const response = await this.transport.send({
        method: "PUT",
        operation: "PutObject",
        key,
        headers: { "content-type": options.contentType ?? "application/octet-stream", ...extra },
        body: bytes,
        signal: options.signal,
      });
      await response.body?.cancel().catch(() => {});
      return { key, size: bytes.byteLength, etag: normalizeEtag(response.headers.get("etag") ?? "") };
    };
    if (conditional !== "native") return send({});
    return this.#sendConditionally(key, options, send);
  }

  /**
   * Sends with the put's conditions as headers; a server that refuses them
   * (Swift answers 501) is marked unsupported and the put is redone after a HEAD check.
   */
  async #sendConditionally<T>(key: string, options: PutOptions, send: (headers: Record<string, string>) => Promise<T>): Promise<T> {
    try {
      return await send(this.options.dialect === "gcs" ? await gcsConditionHeaders(this.transport, key, options) : conditionHeaders(options, this.#etagForm));
    } catch (error) {
      if (!isNotImplemented(error)) throw preconditionError(error, key, options);
      this.#markUnsupported();
      checkPrecondition(key, await this.head(key, options), options);
      return send({});
    }
  }

  async #putMultipart(
    key: string,
    next: PartSource,
    options: PutOptions,
    checkSize: (size: number) => void,
    onAbandon?: (reason: unknown) => Promise<void>,
  ): Promise<ObjectInfo> {
    const conditional = await this.#multipartConditionalMode(options);
    // Fail before uploading gigabytes when the answer is already known.
    if (conditional === "emulate") checkPrecondition(key, await this.head(key, options), options);
    const { size, etag } = await uploadMultipart(this.transport, key, next, {
      contentType: options.contentType ?? "application/octet-stream",
      concurrency: this.options.concurrency,
      signal: options.signal,
      checkSize,
      onAbandon,
      complete: async (send) => {
        if (conditional === "none") return send({});
        if (conditional === "emulate") {
          // Checked again right before the object appears, to narrow the race window.
          checkPrecondition(key, await this.head(key, options), options);
          return send({});
        }
        return this.#sendConditionally(key, options, send);
      },
    });
    return { key, size, etag: normalizeEtag(etag) };
  }

  /** How this put's conditions are enforced: not at all, by the server, or by HEAD first. */
  async #conditionalMode(options: PutOptions): Promise<"none" | "native" | "emulate"> {
    if (options.ifNoneMatch === undefined && options.ifMatch === undefined) return "none";
    return this.#serverMode(options);
  }

  /** Aborts the incomplete multipart uploads below `prefix` begun before `options.before` (see s3-gc.ts). */
  collectGarbage(prefix: string, options: CollectGarbageOptions): AsyncIterable<Leftover> {
    return collectMultipartGarbage(this.transport, prefix, options);
  }

  /** Probes the server (once) for conditional writes, so that `capabilities` are settled. */
  async resolveCapabilities(options: BaseOptions = {}): Promise<BackendCapabilities> {
    await this.#serverMode(options);
    return this.capabilities;
  }

  /** Like {@link #conditionalMode}, but "emulate" where only single PUTs enforce conditions. */
  async #multipartConditionalMode(options: PutOptions): Promise<"none" | "native" | "emulate"> {
    const mode = await this.#conditionalMode(options);
    // GCS documents no conditions on completing an XML multipart upload: check just before it.
    if (mode === "native" && this.options.dialect === "gcs") return "emulate";
    if (mode !== "native" || this.options.conditionalWrites !== "probe") return mode;
    this.#multipartProbe ??= probeMultipartConditions(this.transport, this.#etagForm, this.probeTimeoutMs).catch((error: unknown) => {
      this.#multipartProbe = undefined; // a network failure proves nothing: probe again next time
      throw error;
    });
    const probe = this.#multipartProbe;
    return (await untilAborted(() => probe, options.signal)) ? "native" : "emulate";
  }

  /** Whether the server enforces conditions, probing it on first use. */
  async #serverMode(options: PutOptions): Promise<"native" | "emulate"> {
    if (this.#conditional !== "probe") return this.#conditional;
    this.#probe ??= probeConditionalWrites(this.transport, this.probeTimeoutMs).then(
      (form) => {
        if (!form) {
          this.#markUnsupported();
          return "emulate" as const;
        }
        this.#conditional = "native";
        this.#etagForm = form;
        // The store relies on this to skip its emulation's read-backs and waits.
        this.capabilities.conditionalWrites = true;
        return "native" as const;
      },
      (error: unknown) => {
        this.#probe = undefined; // a network failure proves nothing: probe again next time
        throw error;
      },
    );
    // The probe is shared: each caller stops waiting on its own signal, and only its own.
    const probe = this.#probe;
    return untilAborted(() => probe, options.signal);
  }

  #markUnsupported(): void {
    this.#conditional = "emulate";
    this.capabilities.conditionalWrites = false;
  }

  async #deleteBatch(keys: string[], signal?: AbortSignal): Promise<void> {
    // Quiet mode: the answer lists only failures.
    const objects = keys.map((key) => `<Object><Key>${escapeXmlText(key)}</Key></Object>`).join("");
    const body = new TextEncoder().encode(`<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>${objects}</Delete>`);
    const { response, text } = await this.transport.sendText({
      method: "POST",
      operation: "DeleteObjects",
      query: { delete: "" },
      headers: { "content-type": "application/xml", "content-md5": base64(md5(body)) },
      body,
      expect: "DeleteResult",
      signal,
    });
    const failures = xmlElements(text, "Error")
      .map((entry) => ({ key: xmlText(entry, "Key"), code: xmlText(entry, "Code"), message: xmlText(entry, "Message") }))
      .filter((failure) => failure.code !== "NoSuchKey");
    if (failures.length > 0) {
      const [first] = failures;
      const error = s3Error({ operation: "DeleteObjects", bucket: this.bucket, key: first.key }, response.status, { code: first.code, message: first.message });
      if (failures.length > 1) error.message = `${failures.length} of ${keys.length} keys could not be deleted; the first: ${error.message}`;
      throw error;
    }
  }
}

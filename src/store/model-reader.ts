/**
 * Reading models without the means to write them: the latest model of a
 * domain, one model's metadata, one file of its archive and the list of its
 * files, through the archive's table of contents. For read-only services and
 * edge workers: a `ModelReader` with `s3Reader` bundles without the upload
 * path, fflate or the unrolled SHA-256 (see `npm run size`). It reads the same
 * bucket layout, pointers and listings as `ModelStore`, so both always agree
 * on which model is the latest.
 */
import type { ReadBackend } from "../backends/backend.ts";
import { webEngine } from "../archive/index/engine-web.ts";
import type { ModelMetadata } from "../metadata/document.ts";
import { BucketLayout, DEFAULT_ROOT_PREFIX } from "../metadata/layout.ts";
import { bucketReads } from "../metadata/latest-model.ts";
import { validateDomain, validateModelId } from "../metadata/names.ts";
import { InvalidArgumentError, NotFoundError, NotSupportedError } from "../util/errors.ts";
import { archiveKeyOf } from "./archive-key.ts";
import { ArchiveIndexCache, filesOfIndex, type ModelFile, type OpenFileOptions } from "./archive-index-reads.ts";
import type { ReadOptions } from "./options.ts";
import type { ArchiveScan } from "./archive-scan.ts";

/** Options for {@link ModelReader}. */
export interface ModelReaderOptions {
  /** Where the models are: any backend, or a read-only one such as `s3Reader`. */
  backend: ReadBackend;
  /** Top-level prefix of every key. @default "operatorai-model-store" */
  rootPrefix?: string;
  /** Documents read at once where several must be read (1 to 256). @default 16 */
  readConcurrency?: number;
  /**
   * How to read archives without a table of contents (the Python modelstore's,
   * and this library's from before the index): pass `scanArchives` to read them
   * from their start as `ModelStore` does. It brings the gzip and tar readers
   * into the bundle, which is why it is not the default.
   * @default none: such archives fail with `NotSupportedError`
   */
  scan?: ArchiveScan;
}

const DEFAULT_READ_CONCURRENCY = 16;

/** Reads models from a store's bucket layout; never writes. */
export class ModelReader {
  readonly backend: ReadBackend;
  readonly layout: BucketLayout;
  private readonly documents: ReturnType<typeof bucketReads>;
  /** Tables of contents of archives read lately. */
  private readonly indexes: ArchiveIndexCache;
  private readonly scan: ArchiveScan | undefined;

  /** @throws InvalidArgumentError for a bad root prefix or concurrency */
  constructor(options: ModelReaderOptions) {
    const readConcurrency = options.readConcurrency ?? DEFAULT_READ_CONCURRENCY;
    if (!Number.isInteger(readConcurrency) || readConcurrency < 1 || readConcurrency > 256) {
      throw new InvalidArgumentError(`readConcurrency must be a whole number from 1 to 256, got ${String(readConcurrency)}.`);
    }
    this.backend = options.backend;
    this.layout = new BucketLayout(options.rootPrefix ?? DEFAULT_ROOT_PREFIX);
    this.documents = bucketReads({ backend: this.backend, layout: this.layout, readConcurrency });
    this.indexes = new ArchiveIndexCache(this.backend, webEngine);
    this.scan = options.scan;
  }

  /**
   * The newest model's metadata, by the same rule as `ModelStore.getLatest`.
   * @throws NotFoundError when the domain has no models
   */
  async getLatest(domain: string, options: ReadOptions = {}): Promise<ModelMetadata> {
    const metadata = await this.documents.latestModel(validateDomain(domain), options);
    if (metadata) return metadata;
    throw new NotFoundError(`Domain "${domain}" has no models. Check the domain's name and the reader's rootPrefix ("${this.layout.root}").`);
  }

  /** One model's metadata. @throws NotFoundError when the model does not exist */
  async getModelInfo(domain: string, modelId: string, options: ReadOptions = {}): Promise<ModelMetadata> {
    const metadata = await this.documents.getModel(validateDomain(domain), validateModelId(modelId), options);
    if (metadata) return metadata;
    throw new NotFoundError(`Domain "${domain}" has no model "${modelId}". Find its models' ids with ModelStore.listModels("${domain}").`);
  }

  /**
   * Streams one file of a model (the latest when `modelId` is undefined); `null`
   * when the model has no such file. One ranged read of the file's members after
   * one of the archive's index (cached per model); its size and sha256 are
   * checked as it streams, and a mismatch errors the stream instead of ending it.
   * @throws NotSupportedError for an archive without a table of contents, unless the reader was given `scan` (see {@link openFile})
   */
  async readFile(domain: string, modelId: string | undefined, path: string, options: OpenFileOptions = {}): Promise<ReadableStream<Uint8Array> | null> {
    return this.openFile(await this.find(domain, modelId, options), path, options);
  }

  /**
   * {@link readFile} for metadata you already hold. Archives written by this
   * library carry a table of contents; those of the Python modelstore and of
   * releases before it do not: they are scanned when the reader was given
   * `scan: scanArchives`, and fail with `NotSupportedError` otherwise.
   */
  async openFile(metadata: ModelMetadata, path: string, options: OpenFileOptions = {}): Promise<ReadableStream<Uint8Array> | null> {
    const wanted = path.replace(/^(\.\/|\/)+/, "");
    const key = this.keyOf(metadata);
    const found = await this.indexes.openFile(metadata, key, wanted, describe(metadata), options);
    if (found !== undefined) return found;
    if (this.scan) return this.scan.openFile(this.backend, metadata, key, wanted, options);
    throw unindexed(metadata, "readFile");
  }

  /** The model's files (path, size, sha256, mode) from its archive's table of contents. @throws NotSupportedError as {@link openFile} does */
  async listFiles(domain: string, modelId: string | undefined, options: ReadOptions = {}): Promise<ModelFile[]> {
    return this.listFilesOf(await this.find(domain, modelId, options), options);
  }

  /** {@link listFiles} for metadata you already hold. */
  async listFilesOf(metadata: ModelMetadata, options: ReadOptions = {}): Promise<ModelFile[]> {
    const key = this.keyOf(metadata);
    const index = await this.indexes.indexOf(metadata, key, describe(metadata), options.signal);
    if (index) return filesOfIndex(index);
    if (this.scan) return this.scan.listFiles(this.backend, metadata, key, options);
    throw unindexed(metadata, "listFiles");
  }

  private find(domain: string, modelId: string | undefined, options: ReadOptions): Promise<ModelMetadata> {
    return modelId === undefined ? this.getLatest(domain, options) : this.getModelInfo(domain, modelId, options);
  }

  private keyOf(metadata: ModelMetadata): string {
    return archiveKeyOf(this.backend, this.layout.root, metadata.storage, metadata.model.model_id);
  }
}

function describe(metadata: ModelMetadata): string {
  return `The archive of model "${metadata.model.model_id}" in domain "${metadata.model.domain}"`;
}

function unindexed(metadata: ModelMetadata, call: string): NotSupportedError {
  const { domain, model_id: id } = metadata.model;
  return new NotSupportedError(
    `Model "${id}" in domain "${domain}" has an archive without a table of contents (the Python modelstore's, or an older release's). Read it with new ModelReader({ backend, scan: scanArchives }) or ModelStore.${call}().`,
  );
}

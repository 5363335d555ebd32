/**
 * Reading what an archive holds for the store: the whole archive verified
 * against its metadata, one file and the list of its files through the
 * archive's table of contents where it has one, else by scanning
 * (archive-scan.ts). Also where a recorded location points in this backend.
 */
import type { Backend, StorageLocation } from "../backends/backend.ts";
import type { ModelMetadata } from "../metadata/document.ts";
import type { BucketLayout } from "../metadata/layout.ts";
import { archiveKeyOf } from "./archive-key.ts";
import { ArchiveIndexCache, filesOfIndex, type ModelFile, type OpenFileOptions } from "./archive-index-reads.ts";
import { openVerifiedArchive, scanArchives } from "./archive-scan.ts";
import { zlibEngine } from "../archive/index/engine-zlib.ts";
import type { ReadOptions } from "./options.ts";

export { pythonArchiveFolder } from "./archive-scan.ts";

/** The archive reads of one store. */
export class ArchiveReads {
  /** Tables of contents of archives read lately (see archive-index-reads.ts). */
  private readonly indexes: ArchiveIndexCache;

  constructor(
    private readonly backend: Backend,
    private readonly layout: BucketLayout,
  ) {
    this.indexes = new ArchiveIndexCache(backend, zlibEngine);
  }

  /** Streams an archive described by `metadata`, verifying it. */
  async openArchive(metadata: ModelMetadata, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    return openVerifiedArchive(this.backend, metadata, this.keyOf(metadata.storage, metadata.model.model_id), options);
  }

  /**
   * Streams one file out of the archive described by `metadata`, like
   * {@link readFile} but without reading the metadata again (a server that
   * already holds it reads nothing but the archive, up to the end of the file).
   */
  async openFile(metadata: ModelMetadata, path: string, options: OpenFileOptions = {}): Promise<ReadableStream<Uint8Array> | null> {
    const wanted = path.replace(/^(\.\/|\/)+/, "");
    const { domain, model_id: id } = metadata.model;
    const key = this.keyOf(metadata.storage, id);
    const indexed = await this.indexes.openFile(metadata, key, wanted, `The archive of model "${id}" in domain "${domain}"`, options);
    if (indexed !== undefined) return indexed;
    return scanArchives.openFile(this.backend, metadata, key, wanted, options);
  }

  /** {@link listFiles} for metadata you already hold. */
  async listFilesOf(metadata: ModelMetadata, options: ReadOptions = {}): Promise<ModelFile[]> {
    const { model_id: id } = metadata.model;
    const key = this.keyOf(metadata.storage, id);
    const index = await this.indexes.indexOf(metadata, key, `The archive of model "${id}" in domain "${metadata.model.domain}"`, options.signal);
    if (index) return filesOfIndex(index);
    return scanArchives.listFiles(this.backend, metadata, key, options);
  }

  keyOf(location: StorageLocation, modelId: string): string {
    return archiveKeyOf(this.backend, this.layout.root, location, modelId);
  }
}

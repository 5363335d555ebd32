/**
 * Reading what an archive holds: the whole archive verified against its
 * metadata, one file (through the archive's table of contents where it has
 * one, else by scanning), the list of its files, and the extra files the
 * Python modelstore 0.0.72-0.0.73 kept beside it. Also where a recorded
 * location points in this backend, including in stores that were moved.
 */
import { readArchive } from "../archive/read-archive.ts";
import type { Backend, StorageLocation } from "../backends/backend.ts";
import { createSha256 } from "../digest/sha256.ts";
import { verifyingStream } from "../digest/verifying-stream.ts";
import type { ModelMetadata } from "../metadata/document.ts";
import { ARCHIVE_FILE_NAME, type BucketLayout } from "../metadata/layout.ts";
import { NotFoundError } from "../util/errors.ts";
import { archiveKeyOf } from "./archive-key.ts";
import { ArchiveIndexCache, filesOfIndex, type ModelFile, type OpenFileOptions } from "./archive-index-reads.ts";
import { sliceStream } from "../util/streams.ts";
import { zlibEngine } from "../archive/index/engine-zlib.ts";
import type { ReadOptions } from "./options.ts";

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
    const { domain, model_id: id } = metadata.model;
    const key = this.keyOf(metadata.storage, id);
    const body = await this.backend.get(key, { signal: options.signal });
    if (!body) {
      throw new NotFoundError(
        `The archive of model "${id}" in domain "${domain}" is missing at "${key}". Its metadata is stale; remove it with store.deleteModel("${domain}", "${id}").`,
      );
    }
    // Models uploaded by the Python library record no size or sha256 to check against.
    if (!metadata.archive) return body;
    return body.pipeThrough(verifyingStream(metadata.archive, `The archive of model "${id}" in domain "${domain}"`));
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
    if (options.range) {
      const { offset, length } = options.range;
      const whole = await this.openFile(metadata, path, { signal: options.signal });
      return whole && whole.pipeThrough(sliceStream(offset, length === undefined ? Number.MAX_SAFE_INTEGER : offset + length));
    }
    const archive = await this.openArchive(metadata, options);
    const entries = readArchive(archive, { signal: options.signal })[Symbol.asyncIterator]();
    for (;;) {
      const { done, value: entry } = await entries.next();
      if (done) return this.openExtraBeside(metadata, key, wanted, options);
      if (entry.type !== "file" || entry.path !== wanted) continue;
      const reader = entry.body.getReader();
      const finish = () => void entries.return?.().catch(() => undefined);
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done: ended, value } = await reader.read();
          if (ended) {
            controller.close();
            finish();
          } else controller.enqueue(value);
        },
        async cancel(reason) {
          await reader.cancel(reason);
          finish();
        },
      });
    }
  }


  /** {@link listFiles} for metadata you already hold. */
  async listFilesOf(metadata: ModelMetadata, options: ReadOptions = {}): Promise<ModelFile[]> {
    const { model_id: id } = metadata.model;
    const index = await this.indexes.indexOf(metadata, this.keyOf(metadata.storage, id), `The archive of model "${id}" in domain "${metadata.model.domain}"`, options.signal);
    if (index) return filesOfIndex(index);
    const files: ModelFile[] = [];
    for await (const entry of readArchive(await this.openArchive(metadata, options), { signal: options.signal })) {
      if (entry.type !== "file") continue;
      const hash = createSha256();
      for await (const chunk of entry.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
      files.push({ path: entry.path, size: entry.size, sha256: hash.hexDigest(), mode: entry.mode });
    }
    return files;
  }


  /**
   * `extras/<name>` of a model the Python modelstore 0.0.72 or 0.0.73 uploaded:
   * those releases stored extra files beside `artifacts.tar.gz`, not inside it.
   */
  private async openExtraBeside(metadata: ModelMetadata, archiveKey: string, wanted: string, options: ReadOptions): Promise<ReadableStream<Uint8Array> | null> {
    const folder = pythonArchiveFolder(metadata, archiveKey);
    const name = wanted.startsWith("extras/") ? wanted.slice("extras/".length) : "";
    if (folder === undefined || !name || name.includes("/") || name === ARCHIVE_FILE_NAME) return null;
    return this.backend.get(folder + name, options);
  }

  keyOf(location: StorageLocation, modelId: string): string {
    return archiveKeyOf(this.backend, this.layout.root, location, modelId);
  }
}

/**
 * The folder of an archive the Python modelstore (up to 0.0.76) wrote, `<domain>/<%Y/%m/%d/%H:%M:%S>/`,
 * which holds that model alone; `undefined` for any archive this library wrote (it records `archive`).
 */
export function pythonArchiveFolder(metadata: ModelMetadata, archiveKey: string): string | undefined {
  if (metadata.archive !== undefined) return undefined;
  const match = /^(.*\/\d{4}\/\d{2}\/\d{2}\/\d{2}:\d{2}:\d{2}\/)artifacts\.tar\.gz$/.exec(archiveKey);
  return match?.[1];
}

/**
 * Reading archives without a table of contents (the Python modelstore's, and
 * this library's from before the index) by scanning them from their start:
 * one file (the read stops at its end), the file list, and the extra files the
 * Python modelstore 0.0.72-0.0.73 kept beside the archive. `ModelStore` always
 * scans such archives; `ModelReader` only when given {@link scanArchives}, so
 * that small read-only bundles leave the gzip and tar readers out.
 */
import { readArchive } from "../archive/read-archive.ts";
import type { ReadBackend } from "../backends/backend.ts";
import { createSha256 } from "../digest/sha256.ts";
import { verifyingStream } from "../digest/verifying-stream.ts";
import type { ModelMetadata } from "../metadata/document.ts";
import { ARCHIVE_FILE_NAME } from "../metadata/layout.ts";
import { NotFoundError } from "../util/errors.ts";
import { sliceStream } from "../util/streams.ts";
import type { ModelFile, OpenFileOptions } from "./archive-index-reads.ts";
import type { ReadOptions } from "./options.ts";

/** Scanning reads of archives without a table of contents: pass it as `ModelReader`'s `scan` option. */
export interface ArchiveScan {
  /** One file of the archive at `key`, or `null`; `options.range` is cut out of the whole file. */
  openFile(backend: ReadBackend, metadata: ModelMetadata, key: string, wanted: string, options: OpenFileOptions): Promise<ReadableStream<Uint8Array> | null>;
  /** Every file of the archive at `key`, each hashed as it is read. */
  listFiles(backend: ReadBackend, metadata: ModelMetadata, key: string, options: ReadOptions): Promise<ModelFile[]>;
}

/** Streams the archive at `key`, verifying its size and sha256 against `metadata` where it records them. */
export async function openVerifiedArchive(backend: ReadBackend, metadata: ModelMetadata, key: string, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
  const { domain, model_id: id } = metadata.model;
  const body = await backend.get(key, { signal: options.signal });
  if (!body) {
    throw new NotFoundError(
      `The archive of model "${id}" in domain "${domain}" is missing at "${key}". Its metadata is stale; remove it with store.deleteModel("${domain}", "${id}").`,
    );
  }
  // Models uploaded by the Python library record no size or sha256 to check against.
  if (!metadata.archive) return body;
  return body.pipeThrough(verifyingStream(metadata.archive, `The archive of model "${id}" in domain "${domain}"`));
}

/** The scanning reads `ModelStore` uses; give them to `ModelReader` to read the Python modelstore's archives too. */
export const scanArchives: ArchiveScan = {
  async openFile(backend, metadata, key, wanted, options) {
    if (options.range) {
      const { offset, length } = options.range;
      const whole = await this.openFile(backend, metadata, key, wanted, { signal: options.signal });
      return whole && whole.pipeThrough(sliceStream(offset, length === undefined ? Number.MAX_SAFE_INTEGER : offset + length));
    }
    const archive = await openVerifiedArchive(backend, metadata, key, options);
    const entries = readArchive(archive, { signal: options.signal })[Symbol.asyncIterator]();
    for (;;) {
      const { done, value: entry } = await entries.next();
      if (done) return openExtraBeside(backend, metadata, key, wanted, options);
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
  },

  async listFiles(backend, metadata, key, options) {
    const files: ModelFile[] = [];
    for await (const entry of readArchive(await openVerifiedArchive(backend, metadata, key, options), { signal: options.signal })) {
      if (entry.type !== "file") continue;
      const hash = createSha256();
      for await (const chunk of entry.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
      files.push({ path: entry.path, size: entry.size, sha256: hash.hexDigest(), mode: entry.mode });
    }
    return files;
  },
};

/**
 * `extras/<name>` of a model the Python modelstore 0.0.72 or 0.0.73 uploaded:
 * those releases stored extra files beside `artifacts.tar.gz`, not inside it.
 */
async function openExtraBeside(backend: ReadBackend, metadata: ModelMetadata, archiveKey: string, wanted: string, options: ReadOptions): Promise<ReadableStream<Uint8Array> | null> {
  const folder = pythonArchiveFolder(metadata, archiveKey);
  const name = wanted.startsWith("extras/") ? wanted.slice("extras/".length) : "";
  if (folder === undefined || !name || name.includes("/") || name === ARCHIVE_FILE_NAME) return null;
  return backend.get(folder + name, options);
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

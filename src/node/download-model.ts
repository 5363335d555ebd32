/**
 * Downloading a model into a directory. The archive is verified (size and
 * sha256) and extracted into a hidden sibling directory first, and moved into
 * place only when everything checked out, so a failed download leaves nothing
 * half-written in the target.
 */
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { ModelMetadata } from "../meta.js";
import type { ModelStore } from "../store.js";
import { extractArchive } from "./extract-archive.js";

/** Options for {@link downloadModel}. */
export interface DownloadOptions {
  signal?: AbortSignal;
  /** Called with compressed archive bytes read so far and the archive's total size (unknown for models the Python library uploaded). */
  onProgress?: (progress: { bytes: number; total: number | undefined }) => void;
}

/** What {@link downloadModel} did. */
export interface DownloadResult {
  metadata: ModelMetadata;
  /** Absolute path of the directory the model was extracted into. */
  dir: string;
  files: number;
  bytes: number;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/**
 * Downloads a model (the latest when `modelId` is undefined) and extracts its
 * files into `dir`, verifying the archive as it streams. Existing files of the
 * same names in `dir` are replaced; other files in `dir` are left alone.
 */
export async function downloadModel(store: ModelStore, domain: string, modelId: string | undefined, dir: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const metadata = modelId === undefined ? await store.getLatest(domain, options) : await store.getModelInfo(domain, modelId, options);
  const target = resolve(dir);
  await mkdir(dirname(target), { recursive: true });
  const staging = join(dirname(target), `.${basename(target)}.modelstore-${crypto.randomUUID()}.partial`);
  try {
    let bytes = 0;
    const total = metadata.archive?.size;
    const counted = (await store.openArchive(metadata, options)).pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          bytes += chunk.byteLength;
          options.onProgress?.({ bytes, total });
          controller.enqueue(chunk);
        },
      }),
    );
    const result = await extractArchive(counted, staging, { signal: options.signal });
    if (!(await exists(target))) {
      await rename(staging, target);
    } else {
      for (const name of await readdir(staging)) {
        await rm(join(target, name), { recursive: true, force: true });
        await rename(join(staging, name), join(target, name));
      }
    }
    return { metadata, dir: target, files: result.files, bytes: result.bytes };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

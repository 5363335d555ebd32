/**
 * Uploading a model: archive the files into a create-only slot, then record
 * the metadata. On any failure or abort the archive is removed again and no
 * model becomes visible (the repository's write is itself all or nothing).
 */
import { createArchive } from "../archive/create-archive.ts";
import type { ArchiveIndexLocation } from "../archive/index/archive-index.ts";
import { detectRuntime } from "../archive/runtime-info.ts";
import type { Backend, StorageLocation } from "../backends/backend.ts";
import { digestingStream, type DigestResult } from "../digest/sha256.ts";
import { formatCreated, type ModelMetadata, type UploadedModel } from "../metadata/document.ts";
import { taskInOtherProject } from "../metadata/errors.ts";
import type { BucketLayout } from "../metadata/layout.ts";
import { validateDomain, validateModelId, validateProject } from "../metadata/names.ts";
import type { MetadataRepository } from "../metadata/repository.ts";
import { AlreadyExistsError, hasErrorCode, throwIfAborted } from "../util/errors.ts";
import { DEPENDENCY_VERSIONS, LIBRARY_VERSION } from "../util/version.ts";
import { claimArchiveKey } from "./archive-slot.ts";
import type { UploadOptions } from "./options.ts";

/** What an upload needs of its store. */
export interface UploadContext {
  backend: Backend;
  metadata: MetadataRepository;
  layout: BucketLayout;
  archiveLayout: "seed" | "python";
  user: string | undefined;
  keyOf(location: StorageLocation, modelId: string): string;
}

/** `ModelStore.upload`: see there. */
export async function uploadModel(context: UploadContext, domain: string, options: UploadOptions): Promise<UploadedModel> {
  validateDomain(domain);
  const project = options.project === undefined ? undefined : validateProject(options.project);
  const modelId = validateModelId(options.modelId ?? (await import("./model-id.ts")).newModelId());
  const { signal } = options;
  if (await context.metadata.getModel(domain, modelId, { signal })) {
    throw new AlreadyExistsError(
      `Model "${modelId}" already exists in domain "${domain}". Choose another modelId, or omit it to get a UUID4.`,
    );
  }
  if (project !== undefined) {
    // Checked before any byte is written; the repository checks again atomically.
    const task = await context.metadata.getTask(domain, { signal });
    if (task && task.project !== project) throw taskInOtherProject(domain, task.project, project);
  }
  const created = new Date();
  const archiveKey =
    context.archiveLayout === "python" ? context.layout.pythonArchiveKey(domain, created, modelId) : await claimArchiveKey(context.backend, context.layout, domain, modelId, created, signal);
  let recorded: UploadedModel | undefined; // set once the repository was asked to record the model
  try {
    let digest: DigestResult | undefined;
    let index: ArchiveIndexLocation | undefined;
    const archive = digestingStream(
      createArchive(
        { files: options.files, extras: options.extras },
        { ...options.archive, dependencies: options.dependencies, signal, onIndex: (location) => (index = location) },
      ),
      (result) => (digest = result),
      options.onProgress && ((bytes) => options.onProgress!({ bytes })),
    );
    await context.backend.put(archiveKey, archive, { signal, contentType: "application/gzip" });
    const metadata = describe(context, domain, modelId, created, archiveKey, { size: digest!.size, sha256: digest!.sha256, ...(index ? { index } : {}) }, options);
    throwIfAborted(signal);
    recorded = metadata;
    await context.metadata.addModel(metadata, { project, signal });
    return metadata;
  } catch (error) {
    // A commit whose answer was lost (a dropped connection) did record the model:
    // then the archive must stay, or the metadata would point at nothing.
    // Its archive key was claimed create-only, so a record naming that key and sha256 is this upload's.
    if (recorded && (await holdsRecord(context, recorded))) return recorded;
    await removeQuietly(context, [archiveKey]);
    if (hasErrorCode(error, "ALREADY_EXISTS")) {
      throw new AlreadyExistsError(`Model "${modelId}" was uploaded to domain "${domain}" by someone else meanwhile. Choose another modelId.`, { cause: error });
    }
    throw error;
  }
}

function describe(context: UploadContext, domain: string, modelId: string, created: Date, archiveKey: string, archive: UploadedModel["archive"], options: UploadOptions): UploadedModel {
  const runtime = detectRuntime();
  return {
    model: { domain, model_id: modelId, model_type: options.modelType ?? { library: "model_file" }, ...(options.modelInfo !== undefined ? { info: options.modelInfo } : {}) },
    storage: context.backend.locate?.(archiveKey) ?? { type: context.backend.name, prefix: archiveKey },
    modelstore: LIBRARY_VERSION,
    code: {
      runtime: runtime.label,
      user: context.user ?? runtime.user ?? "unknown",
      created: formatCreated(created),
      created_at: created.toISOString(),
      dependencies: { ...DEPENDENCY_VERSIONS, ...options.dependencies },
      ...(options.git !== undefined ? { git: options.git } : {}),
    },
    ...(options.extraMetadata !== undefined ? { extra: options.extraMetadata } : {}),
    archive,
  };
}

/** True when the repository holds exactly `metadata` (same id and archive). */
async function holdsRecord(context: UploadContext, metadata: ModelMetadata): Promise<boolean> {
  const found = await context.metadata.getModel(metadata.model.domain, metadata.model.model_id).catch(() => null);
  return found !== null && found.archive?.sha256 === metadata.archive?.sha256 && context.keyOf(found.storage, found.model.model_id) === context.keyOf(metadata.storage, metadata.model.model_id);
}

async function removeQuietly(context: UploadContext, keys: string[]): Promise<void> {
  for (const key of keys) {
    // Cleanup runs after the caller's signal may have fired, so it takes none.
    await context.backend.delete(key).catch(() => undefined);
  }
}

/**
 * modelstore: the runtime-neutral core. No Node APIs and no backend
 * dependencies here; backends that need them live behind their own entry
 * points (`modelstore/fs`, `modelstore/s3`).
 */
export {
  ModelStore,
  type ModelStoreOptions,
  type UploadOptions,
  type UploadProgress,
  type ReadOptions,
  type DeleteOptions,
  type EnsureTaskOptions,
  type ListTasksOptions,
  type GcOptions,
  type GcReport,
  type GcItem,
} from "./store.js";
export {
  DEFAULT_PROJECT,
  type MetadataRepository,
  type MetadataCallOptions,
  type AddModelOptions,
  type ListTasksOptions as RepositoryListTasksOptions,
  type ProjectRecord,
  type TaskRecord,
} from "./metadata/repository.js";
export { bucketMetadata, type BucketMetadataOptions } from "./metadata/bucket.js";
export { memoryMetadata } from "./metadata/memory.js";
export { inMemory } from "./metadata/in-memory.js";
export { BucketLayout, DEFAULT_ROOT_PREFIX, ARCHIVE_FILE_NAME, formatLayoutTime } from "./layout.js";
export { parseMetadata, encodeMetadata, compareNewestFirst, createdTime, formatCreated, type ModelMetadata, type UploadedModel, type ModelType, type JsonValue } from "./meta.js";
export { validateDomain, validateProject, validateModelId, validateRootPrefix, RESERVED_NAMES } from "./names.js";
export { detectRuntime, runtimeInfoDocument, type RuntimeInfo, type RuntimeInfoDocument } from "./runtime-info.js";
export { LIBRARY_NAME, LIBRARY_VERSION, DEPENDENCY_VERSIONS } from "./version.js";
export * from "./errors.js";
export * from "./archive/index.js";
export type * from "./backends/backend.js";
export { memoryBackend } from "./backends/memory.js";

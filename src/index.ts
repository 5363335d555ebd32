/**
 * modelstore: the runtime-neutral core. No Node APIs and no backend
 * dependencies here; backends that need them live behind their own entry
 * points (`modelstore-js/fs`, `modelstore-js/s3`).
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
  type ModelQueryOptions,
  type ModelPageQuery,
  type ModelIterationOptions,
  type ModelPage,
  type StateChangeOptions,
  type GcOptions,
  type GcReport,
  type GcItem,
  type SignedArchiveUrl,
  type SignedUrlRequest,
} from "./store/model-store.ts";
export { ModelReader, type ModelReaderOptions } from "./store/model-reader.ts";
export { scanArchives, type ArchiveScan } from "./store/archive-scan.ts";
export {
  DEFAULT_PROJECT,
  type MetadataRepository,
  type MetadataCallOptions,
  type AddModelOptions,
  type ListTasksOptions as RepositoryListTasksOptions,
  type ProjectRecord,
  type TaskRecord,
} from "./metadata/repository.ts";
export {
  modelsInStateAt,
  validateStateName,
  ReservedStateError,
  RESERVED_STATES,
  type ModelStateRecord,
  type StateEvent,
} from "./metadata/model-states.ts";
export { bucketMetadata, type BucketMetadataOptions } from "./metadata/bucket.ts";
export { memoryMetadata } from "./metadata/memory.ts";
export type { ModelPageOptions } from "./metadata/model-pages.ts";
export { inMemory } from "./store/in-memory.ts";
export { BucketLayout, DEFAULT_ROOT_PREFIX, ARCHIVE_FILE_NAME, formatLayoutTime } from "./metadata/layout.ts";
export { parseMetadata, encodeMetadata, compareNewestFirst, createdTime, formatCreated, type ModelMetadata, type UploadedModel, type ModelType, type JsonValue, type GitInfo } from "./metadata/document.ts";
export { validateDomain, validateProject, validateModelId, validateRootPrefix, RESERVED_NAMES } from "./metadata/names.ts";
export { detectRuntime, runtimeInfoDocument, type RuntimeInfo, type RuntimeInfoDocument } from "./archive/runtime-info.ts";
export { LIBRARY_NAME, LIBRARY_VERSION, DEPENDENCY_VERSIONS } from "./util/version.ts";
export * from "./util/errors.ts";
export * from "./archive/index.ts";
export type * from "./backends/backend.ts";
export { memoryBackend } from "./backends/memory.ts";

/**
 * modelstore: the runtime-neutral core. No Node APIs and no backend
 * dependencies here; backends that need them live behind their own entry
 * points (`modelstore/fs`, `modelstore/s3`).
 */
export { ModelStore, type ModelStoreOptions, type UploadOptions, type UploadProgress, type ReadOptions } from "./store.js";
export { BucketLayout, DEFAULT_ROOT_PREFIX, ARCHIVE_FILE_NAME, formatLayoutTime } from "./layout.js";
export { parseMetadata, encodeMetadata, compareNewestFirst, type ModelMetadata, type ModelType, type JsonValue } from "./meta.js";
export { validateDomain, validateModelId, validateRootPrefix, RESERVED_NAMES } from "./names.js";
export { detectRuntime, runtimeInfoDocument, type RuntimeInfo, type RuntimeInfoDocument } from "./runtime-info.js";
export { LIBRARY_VERSION, DEPENDENCY_VERSIONS } from "./version.js";
export * from "./errors.js";
export * from "./archive/index.js";
export type * from "./backends/backend.js";
export { memoryBackend } from "./backends/memory.js";

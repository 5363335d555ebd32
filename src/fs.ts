/**
 * `modelstore/fs`: everything that needs a local file system. Kept out of
 * the core entry point so edge bundles never see `node:` imports.
 */
export { fileSystemBackend } from "./backends/fs.js";
export type { FileSystemBackendOptions } from "./backends/fs.js";
export { filesFromDirectory } from "./fs-files.js";
export type { FilesFromDirectoryOptions } from "./fs-files.js";
export { extractArchive } from "./fs-extract.js";
export type { ExtractArchiveOptions, ExtractArchiveResult } from "./fs-extract.js";
export { downloadModel } from "./fs-download.js";
export type { DownloadOptions, DownloadResult } from "./fs-download.js";
export { localMetadata, LOCAL_METADATA_FILE } from "./metadata/local-file.js";
export type { LocalMetadataOptions } from "./metadata/local-file.js";
export { local, custom, DEFAULT_LOCAL_DIRECTORY } from "./metadata/factories.js";
export type { LocalStoreOptions, CustomStoreOptions, MetadataSpec, ArtifactsSpec } from "./metadata/factories.js";
export { storeFromConfigFile, parseStoreConfig } from "./metadata/config-file.js";
export type { StoreConfig } from "./metadata/config-file.js";

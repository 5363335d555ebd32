/**
 * `modelstore/fs`: everything that needs a local file system. Kept out of
 * the core entry point so edge bundles never see `node:` imports.
 */
export { fileSystemBackend } from "./backends/fs.js";
export type { FileSystemBackendOptions } from "./backends/fs.js";
export { filesFromDirectory } from "./node/files-from-directory.js";
export type { FilesFromDirectoryOptions } from "./node/files-from-directory.js";
export { extractArchive } from "./node/extract-archive.js";
export type { ExtractArchiveOptions, ExtractArchiveResult } from "./node/extract-archive.js";
export { downloadModel } from "./node/download-model.js";
export type { DownloadOptions, DownloadResult } from "./node/download-model.js";
export { localMetadata, LOCAL_METADATA_FILE } from "./node/local-metadata.js";
export type { LocalMetadataOptions } from "./node/local-metadata.js";
export { local, custom, DEFAULT_LOCAL_DIRECTORY } from "./node/store-factories.js";
export type { LocalStoreOptions, CustomStoreOptions, MetadataSpec, ArtifactsSpec } from "./node/store-factories.js";
export { storeFromConfigFile, parseStoreConfig } from "./node/config-file.js";
export { installedVersions, KNOWN_FRAMEWORKS } from "./node/installed-versions.js";
export type { InstalledVersionsOptions } from "./node/installed-versions.js";
export { currentUser } from "./node/current-user.js";
export type { StoreConfig } from "./node/config-file.js";

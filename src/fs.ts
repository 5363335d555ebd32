/**
 * `modelstore-js/fs`: everything that needs a local file system. Kept out of
 * the core entry point so edge bundles never see `node:` imports.
 */
export { fileSystemBackend } from "./backends/fs/fs.ts";
export type { FileSystemBackendOptions } from "./backends/fs/fs.ts";
export { filesFromDirectory } from "./node/files-from-directory.ts";
export type { FilesFromDirectoryOptions } from "./node/files-from-directory.ts";
export { extractArchive } from "./node/extract-archive.ts";
export type { ExtractArchiveOptions, ExtractArchiveResult } from "./node/extract-archive.ts";
export { downloadModel } from "./node/download-model.ts";
export type { DownloadOptions, DownloadResult } from "./node/download-model.ts";
export { localMetadata, LOCAL_METADATA_FILE } from "./node/local-metadata.ts";
export type { LocalMetadataOptions } from "./node/local-metadata.ts";
export { local, custom, DEFAULT_LOCAL_DIRECTORY } from "./node/store-factories.ts";
export type { LocalStoreOptions, CustomStoreOptions, MetadataSpec, ArtifactsSpec } from "./node/store-factories.ts";
export { storeFromConfigFile, parseStoreConfig } from "./node/config-file.ts";
export { installedVersions, KNOWN_FRAMEWORKS } from "./node/installed-versions.ts";
export type { InstalledVersionsOptions } from "./node/installed-versions.ts";
export { currentUser } from "./node/current-user.ts";
export type { StoreConfig } from "./node/config-file.ts";
export { gitInfo } from "./node/git-info.ts";
export { nodeFetch } from "./node/node-fetch.ts";

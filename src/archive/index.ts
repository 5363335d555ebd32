/**
 * The archive API: model archives as streams (`createArchive`, `readArchive`)
 * and the lower-level tar stream pieces they are built from.
 */
export { createArchive, archivePathProblem, RUNTIME_INFO_FILE, EXTRAS_DIRECTORY } from "./create-archive.js";
export { readArchive } from "./read-archive.js";
export { createTarStream, type TarEntry, type TarStreamOptions } from "./tar-pack.js";
export { unpackTar, MAX_METADATA_SIZE, type UnpackTarOptions } from "./tar-unpack.js";
export type {
  ArchiveBody,
  ArchiveEntry,
  ArchiveEntryType,
  ArchiveInput,
  ArchiveInputEntry,
  CompressionEngine,
  CreateArchiveOptions,
  EntrySource,
  ReadArchiveOptions,
} from "./types.js";
export { createGzipStream, createGunzipStream, BLOCK_SIZE, type GzipOptions, type GunzipOptions } from "./gzip.js";
export { Sha256, createSha256, createDigestStream, digestingStream, type DigestResult, type Sha256Hasher } from "./sha256.js";

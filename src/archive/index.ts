/**
 * The archive API: model archives as streams (`createArchive`, `readArchive`)
 * and the lower-level tar stream pieces they are built from.
 */
export { createArchive, archivePathProblem, RUNTIME_INFO_FILE, EXTRAS_DIRECTORY } from "./create-archive.ts";
export { readArchive } from "./read-archive.ts";
export { createTarStream, type TarEntry, type TarStreamOptions } from "./tar/tar-pack.ts";
export { unpackTar, MAX_METADATA_SIZE, type UnpackTarOptions } from "./tar/tar-unpack.ts";
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
} from "./types.ts";
export { createGzipStream, createGunzipStream, BLOCK_SIZE, type GzipOptions, type GunzipOptions } from "./gzip/gzip.ts";
export { Sha256, createSha256, createDigestStream, digestingStream, type DigestResult, type Sha256Hasher } from "../digest/sha256.ts";

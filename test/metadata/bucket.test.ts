import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryBackend } from "../../src/backends/memory.js";
import { fileSystemBackend } from "../../src/fs.js";
import { bucketMetadata } from "../../src/metadata/bucket.js";
import { runMetadataContract } from "./contract.js";

runMetadataContract("bucket layout on the memory backend", async () => ({ repository: bucketMetadata({ backend: memoryBackend() }) }));

runMetadataContract("bucket layout on the file-system backend", async () => {
  const root = await mkdtemp(join(tmpdir(), "modelstore-meta-bucket-"));
  return { repository: bucketMetadata({ backend: fileSystemBackend({ root }) }), cleanup: () => rm(root, { recursive: true, force: true }) };
});

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileSystemBackend } from "../../src/fs.ts";
import { runStoreSuite } from "./store-suite.ts";

runStoreSuite("file system", async () => {
  const root = await mkdtemp(join(tmpdir(), "modelstore-store-"));
  return { backend: fileSystemBackend({ root }), cleanup: () => rm(root, { recursive: true, force: true }) };
});

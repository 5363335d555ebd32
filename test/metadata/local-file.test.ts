import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { localMetadata } from "../../src/node/local-metadata.js";
import { runMetadataContract } from "./contract.js";

runMetadataContract("local JSON file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "modelstore-meta-local-"));
  return { repository: localMetadata({ path: join(dir, "metadata.json") }), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

// The workerd suite: Node-side vitest files that run workers in workerd
// (Miniflare) against one local S3 server. Run by test/runtimes/run.mjs, or:
//   npx vitest run --config test/runtimes/workerd/vitest.config.ts
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL("../../..", import.meta.url)),
  test: {
    include: ["test/runtimes/workerd/**/*.spec.ts"],
    // Reuse the runner's servers when S3_ENDPOINT / AZURITE_BLOB_ENDPOINT are set, else start them.
    globalSetup: ["test/support/s3-server.ts", "test/support/azurite-server.ts"],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});

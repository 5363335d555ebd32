import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // One OpenStack Swift (a real S3 API) for the whole run, unless S3_ENDPOINT names one.
    globalSetup: ["test/support/s3-server.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // One OpenStack Swift (a real S3 API) and one throwaway PostgreSQL cluster for the whole run;
    // one Ceph RGW (a second S3 server) too, started only when a test file first asks for it;
    // one Azurite, shared by the Azure test files.
    globalSetup: ["test/support/s3-server.ts", "test/support/postgres-server.ts", "test/support/ceph-server.ts", "test/support/azurite-server.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});

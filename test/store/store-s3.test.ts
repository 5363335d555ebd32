import { afterAll, beforeAll } from "vitest";
import { backendOn, createBucket, useS3Server, type S3Server } from "../support/s3-server.ts";
import { runStoreSuite } from "./store-suite.ts";

let server: S3Server;
beforeAll(async () => {
  server = await useS3Server();
}, 300_000);
afterAll(() => server?.stop());

// A bucket per test: every store test starts from an empty bucket, as on the other backends.
runStoreSuite("S3 (Swift s3api, conditional writes emulated)", async () => {
  const bucket = await createBucket(server, "store");
  const backend = backendOn(server, bucket);
  return { backend };
});

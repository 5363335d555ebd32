import { afterAll, beforeAll } from "vitest";
import { useCephServer } from "../support/ceph-server.ts";
import { backendOn, createBucket, type S3Server } from "../support/s3-server.ts";
import { runStoreSuite } from "./store-suite.ts";

let server: S3Server;
beforeAll(async () => {
  server = await useCephServer();
}, 300_000);
afterAll(() => server?.stop());

// Ceph RGW enforces conditional writes (If-Match with the bare etag only): the store's native path.
runStoreSuite("S3 (Ceph RGW, conditional writes enforced)", async () => {
  const bucket = await createBucket(server, "store");
  const backend = backendOn(server, bucket);
  return { backend };
});

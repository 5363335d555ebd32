/**
 * The GCS preset against the local S3 servers: no GCS emulator can be installed, so
 * the preset (SigV4 with region "auto", path style, the "gcs" dialect) runs the backend
 * contract and store suites on Swift and Ceph RGW, with conditions emulated (neither
 * server knows x-goog-if-generation-match). The GCS-specific requests are covered
 * against a loopback server in gcs-requests.test.ts.
 */
import { afterAll, beforeAll } from "vitest";
import { gcsBackend } from "../../../src/s3.ts";
import { useCephServer } from "../../support/ceph-server.ts";
import { createBucket, useS3Server, type S3Server } from "../../support/s3-server.ts";
import { runStoreSuite } from "../../store/store-suite.ts";
import { runBackendContract } from "../contract.ts";

let swift: S3Server;
let rgw: S3Server;
beforeAll(async () => {
  [swift, rgw] = await Promise.all([useS3Server(), useCephServer()]);
}, 300_000);
afterAll(async () => {
  await Promise.all([swift?.stop(), rgw?.stop()]);
});

const preset = (server: S3Server, bucket: string) =>
  gcsBackend({ bucket, hmacKeyId: server.accessKeyId, hmacSecret: server.secretAccessKey, endpoint: server.endpoint, region: server.region, conditionalWrites: "emulate", partSize: 5 * 1024 * 1024 });

runBackendContract("gcs preset (on Swift)", async () => ({ backend: preset(swift, await createBucket(swift, "gcs")) }), { manyKeys: 1005, conditionalWrites: false });
runBackendContract("gcs preset (on Ceph RGW)", async () => ({ backend: preset(rgw, await createBucket(rgw, "gcs")) }), { manyKeys: 1005, conditionalWrites: false });
runStoreSuite("gcs preset (on Swift)", async () => ({ backend: preset(swift, await createBucket(swift, "gcsstore")) }));
runStoreSuite("gcs preset (on Ceph RGW)", async () => ({ backend: preset(rgw, await createBucket(rgw, "gcsstore")) }));

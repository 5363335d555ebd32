/** The metadata contract (projects, models, model states and their history) for the bucket layout on a real S3 server. */
import { afterAll, beforeAll } from "vitest";
import { bucketMetadata } from "../../src/metadata/bucket.ts";
import { backendOn, createBucket, useS3Server, type S3Server } from "../support/s3-server.ts";
import { runMetadataContract } from "./contract.ts";

let server: S3Server;
beforeAll(async () => {
  server = await useS3Server();
}, 300_000);
afterAll(() => server?.stop());

runMetadataContract("bucket layout on S3 (Swift s3api)", async () => ({ repository: bucketMetadata({ backend: backendOn(server, await createBucket(server, "meta")) }) }));

/**
 * The store suite with the metadata elsewhere than in the bucket: in memory,
 * in a local JSON file, and in PostgreSQL, each with file-system artifacts;
 * and PostgreSQL metadata with S3 artifacts (the remote set-up).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { fileSystemBackend, localMetadata } from "../../src/fs.ts";
import { memoryMetadata } from "../../src/index.ts";
import { postgresMetadata } from "../../src/postgres.ts";
import { s3Backend } from "../../src/s3.ts";
import { createDatabase, usePostgresServer, type PostgresServer } from "../support/postgres-server.ts";
import { createBucket, useS3Server, type S3Server } from "../support/s3-server.ts";
import { runStoreSuite } from "./store-suite.ts";

let postgres: PostgresServer;
let s3: S3Server;
beforeAll(async () => {
  [postgres, s3] = await Promise.all([usePostgresServer(), useS3Server()]);
}, 300_000);
afterAll(async () => {
  await Promise.all([postgres?.stop(), s3?.stop()]);
});

async function tempRoot() {
  const root = await mkdtemp(join(tmpdir(), "modelstore-store-meta-"));
  return { root, remove: () => rm(root, { recursive: true, force: true }) };
}

runStoreSuite(
  "file system + memory metadata",
  async () => {
    const { root, remove } = await tempRoot();
    return { backend: fileSystemBackend({ root }), metadata: memoryMetadata(), cleanup: remove };
  },
  { bucketLayout: false },
);

runStoreSuite(
  "file system + local JSON metadata",
  async () => {
    const { root, remove } = await tempRoot();
    // The metadata file sits beside the artifacts' root, as local() puts it.
    return { backend: fileSystemBackend({ root: join(root, "artifacts") }), metadata: localMetadata({ path: join(root, "metadata.json") }), cleanup: remove };
  },
  { bucketLayout: false },
);

runStoreSuite(
  "file system + PostgreSQL metadata",
  async () => {
    const { root, remove } = await tempRoot();
    const db = await createDatabase(postgres, "store");
    return {
      backend: fileSystemBackend({ root }),
      metadata: postgresMetadata({ url: db.url }),
      cleanup: async () => {
        await db.drop();
        await remove();
      },
    };
  },
  { bucketLayout: false },
);

runStoreSuite(
  "S3 (Swift) + PostgreSQL metadata",
  async () => {
    const [bucket, db] = await Promise.all([createBucket(s3, "storepg"), createDatabase(postgres, "s3store")]);
    const backend = s3Backend({
      bucket,
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    return { backend, metadata: postgresMetadata({ url: db.url }), cleanup: db.drop };
  },
  { bucketLayout: false },
);

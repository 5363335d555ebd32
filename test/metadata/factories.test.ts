/** local(), inMemory(), custom() and config files: the ways to get a store. */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memoryBackend } from "../../src/backends/memory.ts";
import { custom, local, storeFromConfigFile } from "../../src/fs.ts";
import { inMemory, memoryMetadata, type ModelStore } from "../../src/index.ts";
import { collect, text } from "../support/bytes.ts";
import { createDatabase, usePostgresServer, type PostgresServer } from "../support/postgres-server.ts";
import { createBucket, useS3Server, type S3Server } from "../support/s3-server.ts";

let work: string;
let pg: PostgresServer;
let s3: S3Server;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "modelstore-factories-"));
  [pg, s3] = await Promise.all([usePostgresServer(), useS3Server()]);
}, 300_000);
afterAll(async () => {
  await Promise.all([pg?.stop(), s3?.stop(), rm(work, { recursive: true, force: true })]);
});

async function roundTrip(store: ModelStore): Promise<string> {
  const meta = await store.upload("refunds", { files: [{ path: "model.json", body: text('{"ok": true}') }], project: "payments" });
  expect((await store.getLatest("refunds")).model.model_id).toBe(meta.model.model_id);
  expect(await store.getTask("refunds")).toMatchObject({ project: "payments" });
  const body = await store.readFile("refunds", undefined, "model.json");
  expect(new TextDecoder().decode(await collect(body!))).toBe('{"ok": true}');
  return meta.model.model_id;
}

describe("store factories", () => {
  it("local() keeps metadata.json and the archives in one directory, and clear empties it", async () => {
    const dir = join(work, "local");
    const id = await roundTrip(await local(dir));
    const doc = JSON.parse(await readFile(join(dir, "metadata.json"), "utf8"));
    expect(Object.keys(doc.models.refunds)).toEqual([id]);
    expect(doc.tasks.refunds.project).toBe("payments");
    expect(existsSync(join(dir, "operatorai-model-store", "refunds"))).toBe(true);
    expect((await (await local(dir)).listModels("refunds")).map((m) => m.model.model_id)).toEqual([id]); // reopened
    const cleared = await local(dir, { clear: true });
    expect(await cleared.listDomains()).toEqual([]);
    expect(existsSync(join(dir, "operatorai-model-store"))).toBe(false);
  });

  it("inMemory() is a whole store in memory", async () => {
    const store = inMemory();
    expect(store.metadata.name).toBe("memory");
    expect(store.backend.name).toBe("memory");
    await roundTrip(store);
    expect(await inMemory().listDomains()).toEqual([]); // each call is a store of its own
  });

  it("custom() takes names, names with options, or instances", async () => {
    await roundTrip(await custom({ metadata: "memory", artifacts: "memory" }));
    const root = join(work, "custom");
    const byOptions = await custom({ metadata: { type: "local", path: join(root, "meta.json") }, artifacts: { type: "local", root } });
    await roundTrip(byOptions);
    expect(existsSync(join(root, "meta.json"))).toBe(true);
    const instances = await custom({ metadata: memoryMetadata(), artifacts: memoryBackend() });
    await roundTrip(instances);
    // The default metadata is the bucket layout, in the artifacts.
    const bucket = await custom({ artifacts: { type: "local", root: join(work, "bucket") } });
    expect(bucket.metadata.name).toBe("bucket");
  });

  it("custom() refuses unknown names and says which ones exist", async () => {
    await expect(custom({ metadata: "mysql" as never })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("bucket, local, memory, postgres") });
    await expect(custom({ artifacts: "gcs" as never })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("local, memory, s3") });
  });

  it("a config file points a store at PostgreSQL metadata and S3 artifacts, with secrets from the environment", async () => {
    const [bucket, db] = await Promise.all([createBucket(s3, "config"), createDatabase(pg, "config")]);
    const path = join(work, "modelstore.json");
    await writeFile(
      path,
      JSON.stringify({
        metadata: { type: "postgres", url: "${TEST_PG_URL}" },
        artifacts: { type: "s3", bucket, endpoint: s3.endpoint, region: s3.region },
      }),
    );
    const env = { TEST_PG_URL: db.url, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
    const store = await storeFromConfigFile(path, env);
    try {
      expect(store.metadata.name).toBe("postgres");
      expect(store.backend.name).toBe("s3");
      await roundTrip(store);
    } finally {
      await store.close();
      await db.drop();
    }
  });

  it("a config file with a mistake fails with an error that names the file and the fix", async () => {
    const path = join(work, "bad.json");
    await writeFile(path, JSON.stringify({ metadata: "local", artefacts: "local" }));
    await expect(storeFromConfigFile(path, {})).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("artefacts") });
    await writeFile(path, JSON.stringify({ metadata: { type: "postgres", url: "${NOPE_UNSET}" } }));
    await expect(storeFromConfigFile(path, {})).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("${NOPE_UNSET}") });
    await writeFile(path, "{ not json");
    await expect(storeFromConfigFile(path, {})).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("not valid JSON") });
    await expect(storeFromConfigFile(join(work, "missing.json"), {})).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("MODEL_STORE_CONFIG") });
  });
});

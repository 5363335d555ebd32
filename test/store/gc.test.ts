/**
 * store.gc() against what real crashes leave: a child process killed with
 * SIGKILL while its archive is written, and after the archive but before its
 * version document, on the file system and on a real S3 server (Swift).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileSystemBackend } from "../../src/fs.ts";
import { ModelStore, type Backend } from "../../src/index.ts";
import { xmlElements, xmlText } from "../../src/util/xml.ts";
import { collect, sha256, text } from "../support/bytes.ts";
import { bundleFixture } from "../support/child-fixture.ts";
import { backendOn, createBucket, serverEnv, testClient, useS3Server, type S3Server } from "../support/s3-server.ts";
import { createContainer, useAzurite, type AzuriteServer } from "../support/azurite-server.ts";

const run = promisify(execFile);
let work: string;
let child: string;
let server: S3Server;
let azurite: AzuriteServer;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "modelstore-gc-"));
  child = await bundleFixture(join(import.meta.dirname, "fixtures/crash-upload.ts"), work);
  server = await useS3Server();
  azurite = await useAzurite();
}, 300_000);
afterAll(async () => {
  await server?.stop();
  await azurite?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Runs the crashing child; resolves once it died by SIGKILL (and fails the test if it did not). */
async function crash(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const outcome = await run(process.execPath, [child, ...args], { env, timeout: 120_000 }).then(
    ({ stdout, stderr }) => ({ signal: null as string | null, stdout, stderr }),
    (error: { signal?: string; stdout?: string; stderr?: string }) => ({ signal: error.signal ?? null, stdout: error.stdout ?? "", stderr: error.stderr ?? "" }),
  );
  expect(outcome.signal, `the child did not die by SIGKILL: ${outcome.stdout}${outcome.stderr}`).toBe("SIGKILL");
}

/** Every file below `dir`, hidden ones included, relative to it. */
async function filesOnDisk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

async function keysUnder(backend: Backend, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of backend.list(prefix)) keys.push(object.key);
  return keys;
}

describe("store.gc() on the file system", () => {
  it("removes the partial temp file, placeholder and orphan archive that killed uploads left, and nothing a model uses", async () => {
    const root = join(work, "fs-store");
    const store = new ModelStore({ backend: fileSystemBackend({ root }) });
    const kept = await store.upload("crashes", { files: [{ path: "model.json", body: text('{"kept": true}') }] });
    await crash(["fs", root, "archive"]);
    await crash(["fs", root, "version"]);
    const hidden = (await filesOnDisk(root)).filter((path) => path.split("/").at(-1)!.startsWith("."));
    expect(hidden).toHaveLength(1); // the partial archive of the first crash
    const before = await filesOnDisk(root);

    // Young leftovers may be uploads still running: the default grace keeps them.
    expect((await store.gc()).items).toEqual([]);
    const dry = await store.gc({ olderThanMs: 0, dryRun: true });
    expect(dry.items.map((item) => item.kind).sort()).toEqual(["orphan-archive", "placeholder", "temp-file"]);
    expect(dry.items.find((item) => item.kind === "temp-file")!.size).toBeGreaterThan(8 * 1024 * 1024);
    expect(await filesOnDisk(root)).toEqual(before); // a dry run removes nothing

    const done = await store.gc({ olderThanMs: 0 });
    expect(done.items.map((item) => item.key).sort()).toEqual(dry.items.map((item) => item.key).sort());
    expect(done.skipped).toEqual([]);
    const after = await filesOnDisk(root);
    expect(after.filter((path) => path.split("/").at(-1)!.startsWith("."))).toEqual([]);
    expect(after.filter((path) => path.endsWith("artifacts.tar.gz"))).toEqual([kept.storage.path!.slice(root.length + 1)]);
    expect(sha256(await collect(await store.getArchive("crashes", kept.model.model_id)))).toBe(kept.archive.sha256);
    expect((await store.gc({ olderThanMs: 0 })).items).toEqual([]); // nothing left to find
  }, 240_000);

  it("skips a domain whose documents cannot all be read, since one of them may point at any archive", async () => {
    const root = join(work, "fs-corrupt");
    const backend = fileSystemBackend({ root });
    const store = new ModelStore({ backend });
    await crash(["fs", root, "version"]);
    await backend.put("operatorai-model-store/crashes/versions/broken.json", text("{ not json"));
    const report = await store.gc({ olderThanMs: 0 });
    expect(report.items).toEqual([]);
    expect(report.skipped).toEqual([{ domain: "crashes", reason: expect.stringContaining("cannot be read") }]);
    expect((await keysUnder(backend, "operatorai-model-store/crashes/")).filter((k) => k.endsWith("artifacts.tar.gz"))).toHaveLength(1);
  }, 240_000);

  it("refuses an olderThanMs that is no duration", async () => {
    const store = new ModelStore({ backend: fileSystemBackend({ root: join(work, "fs-bad") }) });
    await expect(store.gc({ olderThanMs: -1 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});

describe("store.gc() on S3 (Swift)", () => {
  it("aborts the incomplete multipart upload and removes the orphan archive that killed uploads left", async () => {
    const bucket = await createBucket(server, "gc");
    const env = serverEnv(server);
    const backend = backendOn(server, bucket);
    const store = new ModelStore({ backend });
    const kept = await store.upload("crashes", { files: [{ path: "model.json", body: text('{"kept": true}') }] });
    const unfinished = async () => {
      const response = await testClient(server).fetch(`${server.endpoint}/${bucket}?uploads`);
      return xmlElements(await response.text(), "Upload").map((upload) => xmlText(upload, "Key"));
    };
    await crash(["s3", bucket, "archive"], env);
    await crash(["s3", bucket, "version"], env);
    expect(await unfinished()).toHaveLength(1);
    // Swift rounds Last-Modified up to the next whole second: wait until the leftovers are in the past.
    await new Promise((resolve) => setTimeout(resolve, 1500));

    const dry = await store.gc({ olderThanMs: 0, dryRun: true });
    const kinds = dry.items.map((item) => item.kind);
    expect(kinds).toContain("multipart-upload");
    expect(kinds).toContain("orphan-archive");
    expect(await unfinished()).toHaveLength(1);

    await store.gc({ olderThanMs: 0 });
    expect(await unfinished()).toEqual([]);
    const archives = (await keysUnder(backend, "operatorai-model-store/crashes/")).filter((k) => k.endsWith("artifacts.tar.gz"));
    expect(archives).toEqual([kept.storage.prefix]);
    expect(sha256(await collect(await store.getArchive("crashes", kept.model.model_id)))).toBe(kept.archive.sha256);
  }, 240_000);
});

describe("store.gc() on Azure Blob (Azurite)", () => {
  it("removes the claimed slot holding a killed upload's uncommitted blocks, and the orphan archive", async () => {
    const { name, backend } = await createContainer(azurite, "gc");
    const store = new ModelStore({ backend });
    const kept = await store.upload("crashes", { files: [{ path: "model.json", body: text('{"kept": true}') }] });
    const env = { ...process.env, AZURITE_BLOB_ENDPOINT: azurite.endpoint };
    const request = (backend as unknown as { request: (...a: unknown[]) => Promise<Response> }).request.bind(backend);
    /** Blobs that hold uncommitted blocks (Get Block List per blob): a killed block upload's. */
    const withUncommittedBlocks = async () => {
      const held: string[] = [];
      for await (const object of backend.list("operatorai-model-store/")) {
        const response = await request("GET", "GET", object.key, { query: { comp: "blocklist", blocklisttype: "uncommitted" } });
        if (xmlElements(await response.text(), "Block").length > 0) held.push(object.key);
      }
      return held;
    };
    await crash(["azure", name, "archive"], env);
    await crash(["azure", name, "version"], env);
    // The killed upload had claimed its archive slot with a placeholder, and staged its blocks on it.
    expect(await withUncommittedBlocks()).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // Last-Modified has whole seconds

    const dry = await store.gc({ olderThanMs: 0, dryRun: true });
    const kinds = dry.items.map((item) => item.kind);
    expect(kinds).toContain("placeholder");
    expect(kinds).toContain("orphan-archive");
    expect(await withUncommittedBlocks()).toHaveLength(1);

    await store.gc({ olderThanMs: 0 });
    expect(await withUncommittedBlocks()).toEqual([]);
    const archives = (await keysUnder(backend, "operatorai-model-store/crashes/")).filter((k) => k.endsWith("artifacts.tar.gz"));
    expect(archives).toEqual([kept.storage.prefix]);
    expect(sha256(await collect(await store.getArchive("crashes", kept.model.model_id)))).toBe(kept.archive.sha256);
  }, 240_000);
});

/**
 * The newest page of a bucket domain served from the listing cache's snapshot
 * and the listing journal, without a LIST of `versions/`: every change since
 * the snapshot (our uploads and deletes, the Python library's uploads and
 * deletes as it writes them) must show on that page exactly as a full listing
 * shows it. Real file-system backend in a temp dir, and a real S3 server (Swift).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { fileSystemBackend } from "../../src/fs.ts";
import { bucketMetadata } from "../../src/metadata/bucket.ts";
import { journalKey, journalPrefix, listJournal, writeIntent } from "../../src/metadata/listing-journal.ts";
import { BucketLayout } from "../../src/metadata/layout.ts";
import { encodeMetadata, type Backend, type ModelMetadata } from "../../src/index.ts";
import { fakeModel } from "./contract.ts";
import { backendOn, createBucket, useS3Server, type S3Server } from "../support/s3-server.ts";
import { overriding } from "../support/intercept-backend.ts";

const TASK = "refunds";
const start = Date.UTC(2025, 5, 1);
const MINUTE = 60_000;
const idOf = (i: number) => `m${String(i).padStart(4, "0")}`;
const ids = (models: ModelMetadata[]) => models.map((m) => m.model.model_id);
const layout = new BucketLayout();

/** The backend, counting LISTs of `versions/` and reads of version documents. */
function counting(backend: Backend) {
  const counter = { versionLists: 0, versionReads: 0 };
  const wrapped = overriding(backend, {
    list: (prefix, options) => {
      if (prefix === layout.versionsPrefix(TASK)) counter.versionLists++;
      return backend.list(prefix, options);
    },
    get: (key, options) => {
      if (/\/versions\/[^/]+\.json$/.test(key)) counter.versionReads++;
      return backend.get(key, options);
    },
  });
  return { backend: wrapped, counter };
}

let server: S3Server | undefined;
afterAll(() => server?.stop());

/** Where each run of the suite keeps its bucket: a temp dir, and a real S3 server (Swift), whose etags the pointer moves must match. */
const backends: [string, () => Promise<{ backend: Backend; cleanup?: () => Promise<void> }>][] = [
  ["file system", async () => {
    const root = await mkdtemp(join(tmpdir(), "modelstore-newest-"));
    return { backend: fileSystemBackend({ root }), cleanup: () => rm(root, { recursive: true, force: true }) };
  }],
  ["S3 (Swift)", async () => {
    server ??= await useS3Server();
    return { backend: backendOn(server, await createBucket(server, "newest")) };
  }],
];

describe.each(backends)("bucket layout on %s: the newest page from the listing cache's snapshot", (_name, makeBackend) => {
  let fs: Backend;
  let cleanup: (() => Promise<void>) | undefined;
  beforeEach(async () => {
    ({ backend: fs, cleanup } = await makeBackend());
  }, 300_000);
  afterEach(() => cleanup?.());

  /** `count` models written as another writer would (documents only), then one full listing: the snapshot. */
  async function seeded(count: number) {
    for (let i = 0; i < count; i++) await fs.put(layout.versionKey(TASK, idOf(i)), encodeMetadata(fakeModel(TASK, idOf(i), new Date(start + i * MINUTE).toISOString())));
    const { backend, counter } = counting(fs);
    const repo = bucketMetadata({ backend });
    expect((await repo.listModels(TASK)).length).toBe(count);
    Object.assign(counter, { versionLists: 0, versionReads: 0 });
    return { repo, counter };
  }

  /** The newest page must be what a full listing says. */
  async function expectNewestPage(repo: ReturnType<typeof bucketMetadata>, limit: number) {
    const page = await repo.listModelsPage(TASK, { limit });
    const all = await repo.listModels(TASK);
    expect(ids(page.items)).toEqual(ids(all.slice(0, limit)));
    expect(page.cursor === undefined).toBe(all.length <= limit);
    return page;
  }

  /** The newest page right after an unaccounted change: it lists in full once, and its new snapshot spares the next one the LIST. */
  async function expectListedInFullThenNot(repo: ReturnType<typeof bucketMetadata>, counter: { versionLists: number }, limit: number) {
    counter.versionLists = 0;
    const page = await expectNewestPage(repo, limit);
    expect(counter.versionLists).toBeGreaterThan(0);
    counter.versionLists = 0;
    await repo.listModelsPage(TASK, { limit });
    expect(counter.versionLists).toBe(0);
    return page;
  }

  /** An upload as the Python library writes it: the version document, then its latest pointer. */
  async function pythonUpload(model: ModelMetadata) {
    await fs.put(layout.versionKey(TASK, model.model.model_id), encodeMetadata(model));
    await fs.put(layout.pythonLatestKey(TASK), encodeMetadata(model));
  }

  it("after a complete listing, the newest page neither LISTs versions/ nor reads a document", async () => {
    const { repo, counter } = await seeded(40);
    const page = await repo.listModelsPage(TASK, { limit: 10 });
    expect(ids(page.items)).toEqual(Array.from({ length: 10 }, (_, i) => idOf(39 - i)));
    expect(counter).toEqual({ versionLists: 0, versionReads: 0 });
    // Its cursor leads on through full listings, with no repeats or gaps.
    const rest: string[] = [];
    for (let cursor = page.cursor; cursor !== undefined; ) {
      const next = await repo.listModelsPage(TASK, { limit: 25, cursor });
      rest.push(...ids(next.items));
      cursor = next.cursor;
    }
    expect(rest).toEqual(Array.from({ length: 30 }, (_, i) => idOf(29 - i)));
  });

  it("models added through the repository since, one by one or 12 at once, are on it: read from the journal, no LIST", async () => {
    const { repo, counter } = await seeded(40);
    await repo.addModel(fakeModel(TASK, "late-1", new Date(start + 100 * MINUTE).toISOString()));
    // Older than the newest: it moves no pointer, only its intent tells.
    await repo.addModel(fakeModel(TASK, "late-old", new Date(start + 35.5 * MINUTE).toISOString()));
    const page = await repo.listModelsPage(TASK, { limit: 6 });
    expect(ids(page.items)).toEqual(["late-1", idOf(39), idOf(38), idOf(37), idOf(36), "late-old"]);
    expect(counter.versionLists).toBe(0);
    expect(counter.versionReads).toBe(2);

    await Promise.all(Array.from({ length: 12 }, (_, i) => repo.addModel(fakeModel(TASK, `burst-${i}`, new Date(start + (200 + i) * MINUTE).toISOString()))));
    counter.versionLists = 0;
    const after = await expectNewestPage(repo, 20);
    expect(ids(after.items).slice(0, 12)).toEqual(Array.from({ length: 12 }, (_, i) => `burst-${11 - i}`));
  });

  it("a Python upload (its document, then domains/<domain>.json) since the snapshot is on it: the pointer's etag gives it away", async () => {
    const { repo, counter } = await seeded(40);
    await repo.addModel(fakeModel(TASK, "ours", new Date(start + 100 * MINUTE).toISOString()));
    await pythonUpload(fakeModel(TASK, "python-made", new Date(start + 101 * MINUTE).toISOString()));
    // That page has to list in full once, and leaves a new snapshot: the next one lists nothing.
    const page = await expectListedInFullThenNot(repo, counter, 5);
    expect(ids(page.items).slice(0, 2)).toEqual(["python-made", "ours"]);
  });

  it("a Python upload racing ours is caught even after ours moved the pointer on top of it", async () => {
    const { repo } = await seeded(40);
    await pythonUpload(fakeModel(TASK, "python-made", new Date(start + 100 * MINUTE).toISOString()));
    // Ours is newer: it replaces Python's pointer, recording the move from an etag the snapshot never saw.
    await repo.addModel(fakeModel(TASK, "ours", new Date(start + 101 * MINUTE).toISOString()));
    const page = await expectNewestPage(repo, 3);
    expect(ids(page.items)).toEqual(["ours", "python-made", idOf(39)]);
  });

  it("models deleted since, by us or as the Python library deletes (tombstone, then the document), are not on it", async () => {
    const { repo } = await seeded(40);
    expect(await repo.deleteModel(TASK, idOf(39))).toBe(true);
    const tombstone = layout.tombstoneKey(TASK, idOf(38));
    await fs.put(tombstone, encodeMetadata(fakeModel(TASK, idOf(38), new Date(start + 38 * MINUTE).toISOString())));
    await fs.delete(layout.versionKey(TASK, idOf(38)));
    const page = await expectNewestPage(repo, 3);
    expect(ids(page.items)).toEqual([idOf(37), idOf(36), idOf(35)]);
  });

  it("an upload still running (an intent, no document yet) is not on it until its document lands", async () => {
    const { repo, counter } = await seeded(40);
    await writeIntent(fs, layout, TASK, "in-flight");
    expect(ids((await repo.listModelsPage(TASK, { limit: 2 })).items)).toEqual([idOf(39), idOf(38)]);
    await fs.put(layout.versionKey(TASK, "in-flight"), encodeMetadata(fakeModel(TASK, "in-flight", new Date(start + 90 * MINUTE).toISOString())));
    expect(ids((await repo.listModelsPage(TASK, { limit: 2 })).items)).toEqual(["in-flight", idOf(39)]);
    expect(counter.versionLists).toBe(0);
  });

  it("a failed upload leaves no intent behind; a refused duplicate neither", async () => {
    const { repo } = await seeded(33);
    const failing = overriding(fs, { put: (key, body, options) => (key === layout.pythonLatestKey(TASK) ? Promise.reject(new Error("the network went away")) : fs.put(key, body, options)) });
    await expect(bucketMetadata({ backend: failing }).addModel(fakeModel(TASK, "failed", new Date(start + 99 * MINUTE).toISOString()))).rejects.toThrow(/network went away/);
    await expect(repo.addModel(fakeModel(TASK, idOf(3), new Date().toISOString()))).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    expect(await listJournal(fs, layout, TASK)).toEqual([]);
    expect(ids((await repo.listModelsPage(TASK, { limit: 1 })).items)).toEqual([idOf(32)]);
  });

  it("a lost or corrupt cache, or one without a snapshot, costs a full listing and is rebuilt", async () => {
    const { repo, counter } = await seeded(40);
    const cacheKey = `${layout.domainPrefix(TASK)}.listing/models.json`;
    for (const damage of [() => fs.delete(cacheKey), () => fs.put(cacheKey, new TextEncoder().encode("{torn")), () => fs.put(cacheKey, new TextEncoder().encode(JSON.stringify({ version: 1, entries: [] })))]) {
      await damage();
      await expectListedInFullThenNot(repo, counter, 5);
    }
  });

  it("a hand edit (no tombstone, no journal) shows on the newest page once a full listing has seen it", async () => {
    const { repo } = await seeded(40);
    await fs.delete(layout.versionKey(TASK, idOf(39)));
    await fs.put(layout.versionKey(TASK, "by-hand"), encodeMetadata(fakeModel(TASK, "by-hand", new Date(start + 38.5 * MINUTE).toISOString())));
    // The documented limit: the newest page trusts the snapshot until then; a full listing never does.
    expect(ids((await repo.listModelsPage(TASK, { limit: 1 })).items)).toEqual([idOf(39)]);
    expect(ids((await repo.listModels(TASK)).slice(0, 2))).toEqual(["by-hand", idOf(38)]);
    expect(ids((await repo.listModelsPage(TASK, { limit: 2 })).items)).toEqual(["by-hand", idOf(38)]);
    // A document rewritten in place, likewise. A second later: S3 servers give write times to the second,
    // and the listing tells a rewrite by its write time (the same limit the listing cache always had).
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await fs.put(layout.versionKey(TASK, idOf(38)), encodeMetadata(fakeModel(TASK, idOf(38), new Date(start + 38 * MINUTE).toISOString(), { note: "edited" })));
    await repo.listModels(TASK);
    expect((await repo.listModelsPage(TASK, { limit: 2 })).items[1].extra).toEqual({ note: "edited" });
  });

  it("a complete listing removes the journal objects its snapshot absorbed for good, and keeps young ones", async () => {
    const { repo } = await seeded(40);
    const old = Date.now() - 30 * MINUTE;
    // Intents of models the cache already holds, written long ago; one of a model that never came, a day old; one fresh.
    for (let i = 0; i < 32; i++) await fs.put(journalKey(layout, TASK, "models", idOf(i), old), new TextEncoder().encode("{}"));
    await fs.put(journalKey(layout, TASK, "models", "never-came", Date.now() - 25 * 3600_000), new TextEncoder().encode("{}"));
    await repo.addModel(fakeModel(TASK, "fresh", new Date(start + 100 * MINUTE).toISOString()));
    // 32 + 1, and the fresh upload's intent and its move of the Python pointer.
    expect((await listJournal(fs, layout, TASK)).length).toBe(35);
    await repo.listModels(TASK);
    const left = (await listJournal(fs, layout, TASK)).map((e) => `${e.kind}:${e.id}`);
    expect(left).toEqual(["models:fresh", "pointer:fresh"]);
    await expectNewestPage(repo, 3);
  });

  it("deleting the domain removes its journal", async () => {
    const { repo } = await seeded(33);
    await repo.addModel(fakeModel(TASK, "late", new Date(start + 100 * MINUTE).toISOString()));
    for (const id of [...Array.from({ length: 33 }, (_, i) => idOf(i)), "late"]) await repo.deleteModel(TASK, id);
    await repo.deleteTask(TASK);
    let left = 0;
    for await (const _ of fs.list(journalPrefix(layout, TASK))) left++;
    expect(left).toBe(0);
  });
});

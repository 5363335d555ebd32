/**
 * The bucket layout's listing: pages read only the version documents that can
 * sort into them, and the listing cache saves reads without ever hiding a
 * model. Real file-system backend in a temp dir; document write times set with utimes.
 */
import { mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fileSystemBackend } from "../../src/fs.ts";
import { bucketMetadata } from "../../src/metadata/bucket.ts";
import { encodeMetadata, type Backend } from "../../src/index.ts";
import { fakeModel } from "./contract.ts";

const HOUR = 3600_000;
const start = Date.UTC(2025, 5, 1);
const idOf = (i: number) => `m${String(i).padStart(4, "0")}`;

/** The backend, counting reads of version documents. */
function countingReads(backend: Backend) {
  const counter = { versionReads: 0, cacheWrites: 0 };
  const wrapped: Backend = Object.create(backend);
  wrapped.get = (key, options) => {
    if (/\/versions\/[^/]+\.json$/.test(key)) counter.versionReads++;
    return backend.get(key, options);
  };
  wrapped.put = (key, body, options) => {
    if (key.endsWith("/.listing/models.json")) counter.cacheWrites++;
    return backend.put(key, body, options);
  };
  return { backend: wrapped, counter };
}

describe("bucket layout listing", () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "modelstore-listing-"));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  /** `count` models, one an hour, each version document written when it was created. */
  async function seed(count: number) {
    const fs = fileSystemBackend({ root });
    for (let i = 0; i < count; i++) {
      const created = new Date(start + i * HOUR);
      const key = `operatorai-model-store/refunds/versions/${idOf(i)}.json`;
      await fs.put(key, encodeMetadata(fakeModel("refunds", idOf(i), created.toISOString())));
      await utimes(join(root, key), created, created);
    }
    return countingReads(fs);
  }

  it("the newest page reads only the documents that can sort into it", async () => {
    const { backend, counter } = await seed(60);
    const repo = bucketMetadata({ backend });
    const page = await repo.listModelsPage("refunds", { limit: 10 });
    expect(page.items.map((m) => m.model.model_id)).toEqual(Array.from({ length: 10 }, (_, i) => idOf(59 - i)));
    // One batch of 32 documents at most, not all 60.
    expect(counter.versionReads).toBeLessThanOrEqual(32);
    expect(counter.versionReads).toBeGreaterThanOrEqual(10);
    // The rest pages in order.
    const rest: string[] = [];
    for (let cursor = page.cursor; cursor !== undefined; ) {
      const next = await repo.listModelsPage("refunds", { limit: 25, cursor });
      rest.push(...next.items.map((m) => m.model.model_id));
      cursor = next.cursor;
    }
    expect(rest).toEqual(Array.from({ length: 50 }, (_, i) => idOf(49 - i)));
  });

  it("a listing that read many documents writes the cache; the next one reads only new documents", async () => {
    const { backend, counter } = await seed(40);
    const repo = bucketMetadata({ backend });
    expect((await repo.listModels("refunds")).length).toBe(40);
    expect(counter.versionReads).toBe(40);
    expect(counter.cacheWrites).toBe(1);

    counter.versionReads = 0;
    expect((await repo.listModels("refunds")).map((m) => m.model.model_id)).toEqual(Array.from({ length: 40 }, (_, i) => idOf(39 - i)));
    expect(counter.versionReads).toBe(0);

    // Another writer (the Python library, say) adds one model and deletes another without touching the cache.
    const fs = fileSystemBackend({ root });
    await fs.put(`operatorai-model-store/refunds/versions/late.json`, encodeMetadata(fakeModel("refunds", "late", new Date(start + 100 * HOUR).toISOString())));
    await fs.delete(`operatorai-model-store/refunds/versions/${idOf(39)}.json`);
    const listed = (await repo.listModels("refunds")).map((m) => m.model.model_id);
    expect(listed[0]).toBe("late");
    expect(listed).not.toContain(idOf(39));
    expect(listed.length).toBe(40);
    expect(counter.versionReads).toBe(1);
  });

  it("a rewritten document is read again, and a corrupt or foreign cache costs reads, never models", async () => {
    const { backend, counter } = await seed(40);
    const repo = bucketMetadata({ backend });
    await repo.listModels("refunds");
    const cacheFile = join(root, "operatorai-model-store/refunds/.listing/models.json");

    // A document replaced in place (same id, new write time) is not served from the cache.
    const fs = fileSystemBackend({ root });
    const changed = fakeModel("refunds", idOf(3), new Date(start + 3 * HOUR).toISOString(), { note: "rewritten" });
    await fs.put(`operatorai-model-store/refunds/versions/${idOf(3)}.json`, encodeMetadata(changed));
    expect((await repo.listModels("refunds")).find((m) => m.model.model_id === idOf(3))?.extra).toEqual({ note: "rewritten" });

    for (const content of ["{not json", JSON.stringify({ entries: [{ id: idOf(1), document: { model: "evil" } }] }), JSON.stringify({ entries: [{ id: idOf(1), lastModified: "x", document: fakeModel("other-domain", idOf(1)) }] })]) {
      await writeFile(cacheFile, content);
      counter.versionReads = 0;
      const listed = await repo.listModels("refunds");
      expect(listed.length).toBe(40);
      expect(listed.every((m) => m.model.domain === "refunds")).toBe(true);
      expect(counter.versionReads).toBe(40);
    }
  });

  it("reads at most readConcurrency documents at once, and refuses a bad value", async () => {
    const { backend } = await seed(40);
    let inFlight = 0;
    let most = 0;
    const slow: Backend = Object.create(backend);
    slow.get = async (key, options) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      try {
        return await backend.get(key, options);
      } finally {
        inFlight--;
      }
    };
    expect((await bucketMetadata({ backend: slow, readConcurrency: 4 }).listModels("refunds")).length).toBe(40);
    expect(most).toBe(4);
    for (const readConcurrency of [0, 1.5, 257]) expect(() => bucketMetadata({ backend, readConcurrency })).toThrow(/readConcurrency must be a whole number from 1 to 256/);
  });

  it("deleting the domain removes its listing cache", async () => {
    const { backend } = await seed(33);
    const repo = bucketMetadata({ backend });
    await repo.listModels("refunds");
    for (let i = 0; i < 33; i++) await repo.deleteModel("refunds", idOf(i));
    await repo.deleteTask("refunds");
    expect(await backend.head("operatorai-model-store/refunds/.listing/models.json")).toBeNull();
  });
});

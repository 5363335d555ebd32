/**
 * The ModelStore suite: every behaviour of the store, run against each backend
 * (memory, file system, S3) from a few lines per backend.
 */
import { describe, expect, it, beforeEach, afterEach } from "vitest";
import type { Backend } from "../../src/backends/backend.js";
import { ModelStore, readArchive, encodeMetadata, type ModelMetadata } from "../../src/index.js";
import { advanceLatest } from "../../src/store-documents.js";
import { collect, failingStream, noise, sha256, streamOf, text } from "../support/bytes.js";

export type BackendFactory = () => Promise<{ backend: Backend; cleanup?: () => Promise<void> }>;

const ARCHIVE_KEY = /^operatorai-model-store\/refunds\/\d{4}\/\d{2}\/\d{2}\/\d{2}:\d{2}:\d{2}\/artifacts\.tar\.gz$/;

async function keysUnder(backend: Backend, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of backend.list(prefix)) keys.push(o.key);
  return keys;
}

export function runStoreSuite(name: string, makeBackend: BackendFactory, options: { concurrentUploads?: number } = {}): void {
  describe(`ModelStore on ${name}`, () => {
    let backend: Backend;
    let cleanup: (() => Promise<void>) | undefined;
    let store: ModelStore;

    beforeEach(async () => {
      ({ backend, cleanup } = await makeBackend());
      store = new ModelStore({ backend });
    });
    afterEach(async () => {
      await cleanup?.();
    });

    const weights = noise(300_000);
    const modelFiles = () => [
      { path: "model.json", body: text('{"layers": 3}') },
      { path: "weights/layer-1.bin", body: streamOf(weights), size: weights.byteLength },
    ];

    it("upload() stores the archive, version and latest in the Python modelstore layout", async () => {
      const meta = await store.upload("refunds", { files: modelFiles(), extraMetadata: { accuracy: 0.93 }, modelType: { library: "onnx", type: "InferenceSession" } });
      expect(meta.model.domain).toBe("refunds");
      expect(meta.model.model_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(meta.model.model_type).toEqual({ library: "onnx", type: "InferenceSession" });
      expect(meta.code.runtime).toMatch(/^node:\d+\.\d+\.\d+$/);
      expect(meta.extra).toEqual({ accuracy: 0.93 });
      expect(meta.archive.sha256).toMatch(/^[0-9a-f]{64}$/);
      const keys = await keysUnder(backend, "operatorai-model-store/refunds/");
      const archiveKeys = keys.filter((k) => k.endsWith("artifacts.tar.gz"));
      expect(archiveKeys).toHaveLength(1);
      expect(archiveKeys[0]).toMatch(ARCHIVE_KEY);
      expect(keys).toContain(`operatorai-model-store/refunds/versions/${meta.model.model_id}.json`);
      expect(keys).toContain("operatorai-model-store/refunds/latest.json");
      const stored = await backend.head(archiveKeys[0]);
      expect(stored?.size).toBe(meta.archive.size);
    });

    it("round-trips: list, info, latest, readFile, getArchive, then delete fixes latest", async () => {
      const first = await store.upload("refunds", { files: modelFiles(), modelId: "first" });
      const second = await store.upload("refunds", { files: [{ path: "model.json", body: text('{"layers": 4}') }], extras: [{ path: "notes.txt", body: text("trained on May data") }] });
      expect(await store.listDomains()).toEqual(["refunds"]);
      expect((await store.listModels("refunds")).map((m) => m.model.model_id)).toEqual([second.model.model_id, "first"]);
      expect(await store.getModelInfo("refunds", "first")).toEqual(first);
      expect((await store.getLatest("refunds")).model.model_id).toBe(second.model.model_id);
      expect(await store.modelExists("refunds", "first")).toBe(true);
      expect(await store.modelExists("refunds", "nope")).toBe(false);

      const file = await store.readFile("refunds", "first", "weights/layer-1.bin");
      expect(sha256(await collect(file!))).toBe(sha256(weights));
      expect(new TextDecoder().decode(await collect((await store.readFile("refunds", undefined, "extras/notes.txt"))!))).toBe("trained on May data");
      expect(await store.readFile("refunds", "first", "missing.bin")).toBeNull();

      const archive = await collect(await store.getArchive("refunds", "first"));
      expect(archive.byteLength).toBe(first.archive.size);
      expect(sha256(archive)).toBe(first.archive.sha256);
      const paths: string[] = [];
      for await (const entry of readArchive(streamOf(archive))) paths.push(entry.path);
      expect(paths).toEqual(expect.arrayContaining(["runtime-info.json", "model.json", "weights/layer-1.bin"]));

      await store.deleteModel("refunds", second.model.model_id);
      expect((await store.getLatest("refunds")).model.model_id).toBe("first");
      await store.deleteModel("refunds", "first");
      await expect(store.getLatest("refunds")).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect(await keysUnder(backend, "operatorai-model-store/refunds/")).toEqual([]);
    });

    it("concurrent uploads to one domain in the same second all survive and latest ends at the newest", async () => {
      const count = options.concurrentUploads ?? 16;
      const uploads = await Promise.all(
        Array.from({ length: count }, (_, i) => store.upload("refunds", { files: [{ path: "model.json", body: text(`{"n": ${i}}`) }] })),
      );
      const listed = await store.listModels("refunds");
      expect(listed).toHaveLength(count);
      const archives = new Set(uploads.map((m) => m.storage.prefix ?? m.storage.path));
      expect(archives.size).toBe(count); // nobody overwrote anybody's archive
      for (const meta of uploads) {
        expect(sha256(await collect(await store.getArchive("refunds", meta.model.model_id)))).toBe(meta.archive.sha256);
      }
      expect((await store.getLatest("refunds")).model.model_id).toBe(listed[0].model.model_id);
    });

    it("upload() leaves no version and no archive when a file stream fails halfway", async () => {
      await expect(
        store.upload("refunds", { files: [{ path: "weights.bin", body: failingStream(noise(100_000)), size: 200_000 }] }),
      ).rejects.toThrow();
      expect(await keysUnder(backend, "operatorai-model-store/refunds/")).toEqual([]);
    });

    it("upload() aborted by its signal leaves nothing behind", async () => {
      const controller = new AbortController();
      const slow = new ReadableStream<Uint8Array>({
        async pull(c) {
          await new Promise((r) => setTimeout(r, 5));
          c.enqueue(noise(16_384));
          controller.abort();
        },
      });
      await expect(store.upload("refunds", { files: [{ path: "w.bin", body: slow, size: 10_000_000 }], signal: controller.signal })).rejects.toThrow();
      expect(await keysUnder(backend, "operatorai-model-store/refunds/")).toEqual([]);
    });

    it("a failed upload does not disturb the models already there", async () => {
      const good = await store.upload("refunds", { files: modelFiles() });
      await expect(store.upload("refunds", { files: [{ path: "w.bin", body: failingStream(noise(1000)), size: 5000 }] })).rejects.toThrow();
      expect((await store.getLatest("refunds")).model.model_id).toBe(good.model.model_id);
      expect(await store.listModels("refunds")).toHaveLength(1);
    });

    it("getArchive() fails with IntegrityError when the stored archive bytes were corrupted", async () => {
      const meta = await store.upload("refunds", { files: modelFiles() });
      const key = meta.storage.prefix ?? "";
      const original = await collect((await backend.get(backend.keyOf ? backend.keyOf(meta.storage) : key))!);
      const damaged = original.slice();
      damaged[damaged.length - 100] ^= 0xff;
      await backend.put(backend.keyOf ? backend.keyOf(meta.storage) : key, damaged);
      await expect(collect(await store.getArchive("refunds", meta.model.model_id))).rejects.toMatchObject({ code: "INTEGRITY" });
    });

    it("rejects invalid domains and model ids before touching storage", async () => {
      for (const domain of ["", "a/b", "..", "a\\b", "versions", "latest.json", "tab\there", " padded"]) {
        await expect(store.upload(domain, { files: modelFiles() })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      }
      for (const modelId of ["../escape", "a/b", "", "x\u0000y"]) {
        await expect(store.upload("refunds", { files: modelFiles(), modelId })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
        await expect(store.getModelInfo("refunds", modelId)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      }
      expect(await keysUnder(backend, "")).toEqual([]);
    });

    it("refuses a model id that already exists", async () => {
      await store.upload("refunds", { files: modelFiles(), modelId: "v1" });
      await expect(store.upload("refunds", { files: modelFiles(), modelId: "v1" })).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
      expect(await store.listModels("refunds")).toHaveLength(1);
    });

    it("says which of domain or model is missing", async () => {
      await expect(store.getModelInfo("nowhere", "x")).rejects.toThrow(/Domain "nowhere" does not exist/);
      await store.upload("refunds", { files: modelFiles() });
      await expect(store.getModelInfo("refunds", "x")).rejects.toThrow(/Model "x" does not exist in domain "refunds"/);
      await expect(store.deleteModel("refunds", "x")).rejects.toMatchObject({ code: "NOT_FOUND" });
    });

    it("reports a corrupt metadata document with a clear error", async () => {
      await store.upload("refunds", { files: modelFiles(), modelId: "v1" });
      await backend.put("operatorai-model-store/refunds/versions/v1.json", text('{"model": {"domain": "refunds"}}'));
      await expect(store.getModelInfo("refunds", "v1")).rejects.toThrow(/corrupt/);
    });

    it("latest.json moves only forward", async () => {
      const newer = await store.upload("refunds", { files: modelFiles() });
      const older: ModelMetadata = { ...newer, model: { ...newer.model, model_id: "older" }, code: { ...newer.code, created: "2001-01-01T00:00:00.000Z" } };
      await advanceLatest(backend, store.layout.latestKey("refunds"), older);
      expect((await store.getLatest("refunds")).model.model_id).toBe(newer.model.model_id);
      const newest = { ...newer, model: { ...newer.model, model_id: "newest" }, code: { ...newer.code, created: "2999-01-01T00:00:00.000Z" } };
      await advanceLatest(backend, store.layout.latestKey("refunds"), newest);
      expect((await store.getLatest("refunds")).model.model_id).toBe("newest");
      expect(encodeMetadata(newest).byteLength).toBeGreaterThan(0);
    });

    it("honours a custom root prefix", async () => {
      const custom = new ModelStore({ backend, rootPrefix: "team/models" });
      const meta = await custom.upload("refunds", { files: modelFiles() });
      expect(await keysUnder(backend, "team/models/refunds/versions/")).toEqual([`team/models/refunds/versions/${meta.model.model_id}.json`]);
      expect(await custom.listDomains()).toEqual(["refunds"]);
      expect(await store.listDomains()).toEqual([]);
    });
  });
}

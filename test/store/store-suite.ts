/**
 * The ModelStore suite: every behaviour of the store, run against each backend
 * (memory, file system, S3) and each metadata repository (bucket layout by
 * default; memory, local JSON file, PostgreSQL) from a few lines per pairing.
 * Tests that look at the bucket layout's own documents run only where the
 * metadata is in the bucket.
 */
import { describe, expect, it, beforeEach, afterEach } from "vitest";
import type { Backend } from "../../src/backends/backend.ts";
import { BackendError, ModelReader, ModelStore, readArchive, scanArchives, type MetadataRepository, type ModelMetadata } from "../../src/index.ts";
import { advanceLatest } from "../../src/metadata/latest-pointer.ts";
import { interceptPuts } from "../support/intercept-backend.ts";
import { collect, failingStream, noise, sha256, streamOf, text } from "../support/bytes.ts";

/** A backend for one test, and optionally the metadata repository to use with it (default: the bucket layout). */
export type BackendFactory = () => Promise<{ backend: Backend; metadata?: MetadataRepository; cleanup?: () => Promise<void> }>;

const ARCHIVE_SLOT = /^operatorai-model-store\/refunds\/\d{4}\/\d{2}\/\d{2}\/\d{2}:\d{2}:\d{2}\//;

/**
 * The archive key the layout promises: `<time>/artifacts.tar.gz` where the backend enforces
 * create-only writes, `<time>/<model-id>/artifacts.tar.gz` where it cannot (no shared slot).
 */
function expectArchiveKey(backend: Backend, key: string, modelId: string): void {
  expect(key).toMatch(ARCHIVE_SLOT);
  const rest = key.replace(ARCHIVE_SLOT, "");
  expect(rest).toBe(backend.capabilities.conditionalWrites ? "artifacts.tar.gz" : `${modelId}/artifacts.tar.gz`);
}

async function keysUnder(backend: Backend, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of backend.list(prefix)) keys.push(o.key);
  return keys;
}

/**
 * A view of `backend` whose puts to keys ending in `suffix` never finish, as
 * if the process died there; `reached` resolves with the key each time one is attempted.
 */
function stallPutsTo(backend: Backend, suffix: string): { backend: Backend; readonly reached: Promise<string> } {
  let signalReached: (key: string) => void = () => {};
  const state = {
    reached: new Promise<string>((resolve) => (signalReached = resolve)),
    backend: interceptPuts(backend, (key, put) => {
      if (!key.endsWith(suffix)) return put();
      const resolve = signalReached;
      state.reached = new Promise<string>((next) => (signalReached = next));
      resolve(key);
      return new Promise<never>(() => {});
    }),
  };
  return state;
}

/** Knobs for one pairing of backend and metadata repository. */
export interface StoreSuiteOptions {
  /** Parallel uploads in the same-second test. @default 16 */
  concurrentUploads?: number;
  /**
   * Whether the metadata is the bucket layout in the backend (the factory returns no
   * `metadata`). Tests of the layout's own documents are defined only then. @default true
   */
  bucketLayout?: boolean;
}

/** Defines the store tests for one pairing; `makeBackend` gives each test a fresh, empty one. */
export function runStoreSuite(name: string, makeBackend: BackendFactory, options: StoreSuiteOptions = {}): void {
  const inBucket = options.bucketLayout ?? true;
  // Tests of versions/<id>.json and latest.json themselves; other repositories have theirs in test/metadata.
  const itInBucket = inBucket ? it : undefined;
  describe(`ModelStore on ${name}`, () => {
    let backend: Backend;
    let metadata: MetadataRepository | undefined;
    let cleanup: (() => Promise<void>) | undefined;
    let store: ModelStore;
    beforeEach(async () => {
      ({ backend, metadata, cleanup } = await makeBackend());
      expect(metadata === undefined).toBe(inBucket);
      store = new ModelStore({ backend, metadata });
    });
    afterEach(async () => {
      await store.close();
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
      expectArchiveKey(backend, archiveKeys[0], meta.model.model_id);
      if (inBucket) {
        expect(keys).toContain(`operatorai-model-store/refunds/versions/${meta.model.model_id}.json`);
        expect(keys).toContain("operatorai-model-store/refunds/latest.json");
        expect(await keysUnder(backend, "operatorai-model-store/.projects/")).toEqual([]); // no project named: the Python layout only
      } else {
        expect(keys).toEqual(archiveKeys); // the documents live in the metadata repository
      }
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
      // Only the Python modelstore's tombstones stay, so that it reports the models as deleted.
      const tombstones = [second.model.model_id, "first"].map((id) => `operatorai-model-store/refunds/versions/modelstore-deleted/${id}.json`).sort();
      expect(await keysUnder(backend, "operatorai-model-store/refunds/")).toEqual(inBucket ? tombstones : []);
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
        store.upload("refunds", { files: [{ path: "weights.bin", body: failingStream(noise(100_000)), size: 100_000 }] }),
      ).rejects.toThrow("disk read failed halfway");
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
      await expect(store.upload("refunds", { files: [{ path: "w.bin", body: slow, size: 10_000_000 }], signal: controller.signal })).rejects.toMatchObject({ code: "ABORTED" });
      expect(await keysUnder(backend, "operatorai-model-store/refunds/")).toEqual([]);
    });

    it("a failed upload does not disturb the models already there", async () => {
      const good = await store.upload("refunds", { files: modelFiles() });
      await expect(store.upload("refunds", { files: [{ path: "w.bin", body: failingStream(noise(1000)), size: 1000 }] })).rejects.toThrow("disk read failed halfway");
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
      for (const domain of ["", "a/b", "..", "a\\b", "versions", "latest.json", ".projects", "tab\there", " padded"]) {
        await expect(store.upload(domain, { files: modelFiles() })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      }
      for (const modelId of ["../escape", "a/b", "", "x\u0000y"]) {
        await expect(store.upload("refunds", { files: modelFiles(), modelId })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
        await expect(store.getModelInfo("refunds", modelId)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      }
      expect(await keysUnder(backend, "")).toEqual([]);
    });

    it("upload() reports progress up to the archive's stored size", async () => {
      const seen: number[] = [];
      const meta = await store.upload("refunds", { files: modelFiles(), onProgress: ({ bytes }) => seen.push(bytes) });
      expect(seen.length).toBeGreaterThan(0);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      expect(seen.at(-1)).toBe(meta.archive.size);
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

    itInBucket?.("reports a corrupt metadata document with a clear error", async () => {
      await store.upload("refunds", { files: modelFiles(), modelId: "v1" });
      await backend.put("operatorai-model-store/refunds/versions/v1.json", text('{"model": {"domain": "refunds"}}'));
      await expect(store.getModelInfo("refunds", "v1")).rejects.toThrow(/corrupt/);
    });

    itInBucket?.("latest.json moves only forward", async () => {
      const newer = await store.upload("refunds", { files: modelFiles() });
      const older: ModelMetadata = { ...newer, model: { ...newer.model, model_id: "older" }, code: { ...newer.code, created: "2001/01/01/00:00:00", created_at: "2001-01-01T00:00:00.000Z" } };
      await advanceLatest(backend, store.layout.latestKey("refunds"), older);
      expect((await store.getLatest("refunds")).model.model_id).toBe(newer.model.model_id);
      const newest = { ...newer, model: { ...newer.model, model_id: "newest" }, code: { ...newer.code, created: "2999/01/01/00:00:00", created_at: "2999-01-01T00:00:00.000Z" } };
      await advanceLatest(backend, store.layout.latestKey("refunds"), newest);
      expect((await store.getLatest("refunds")).model.model_id).toBe("newest");
    });

    itInBucket?.("a process that died between the version document and latest.json leaves getLatest on the newest complete model", async () => {
      const first = await store.upload("refunds", { files: modelFiles() });
      // What a kill -9 after versions/<id>.json and before latest.json leaves: the pointer write never happens.
      const stalled = stallPutsTo(backend, "/latest.json");
      const dying = new ModelStore({ backend: stalled.backend });
      const second = dying.upload("refunds", { files: modelFiles() });
      const crashed = await stalled.reached;
      expect((await store.listModels("refunds")).map((m) => m.model.model_id)).toHaveLength(2);
      expect(crashed).toContain("refunds/latest.json");
      const newest = (await store.listModels("refunds"))[0];
      expect(newest.model.model_id).not.toBe(first.model.model_id);
      expect((await store.getLatest("refunds")).model.model_id).toBe(newest.model.model_id);
      // In a new domain there is no pointer at all yet: the domain is listed, so it must have a latest too.
      void dying.upload("fresh", { files: modelFiles() });
      await stalled.reached;
      expect(await store.listDomains()).toContain("fresh");
      expect((await store.getLatest("fresh")).model.domain).toBe("fresh");
      void second;
    });

    it("honours a custom root prefix", async () => {
      const custom = new ModelStore({ backend, metadata, rootPrefix: "team/models" });
      const meta = await custom.upload("refunds", { files: modelFiles() });
      if (inBucket) {
        expect(await keysUnder(backend, "team/models/refunds/versions/")).toEqual([`team/models/refunds/versions/${meta.model.model_id}.json`]);
        expect(await store.listDomains()).toEqual([]);
      }
      expect((await keysUnder(backend, "team/models/refunds/")).filter((k) => k.endsWith("artifacts.tar.gz"))).toHaveLength(1);
      expect(await keysUnder(backend, "operatorai-model-store/")).toEqual([]);
      expect(await custom.listDomains()).toEqual(["refunds"]);
    });

    it("upload() with a project puts a new task in it, and later uploads join the task's project", async () => {
      const first = await store.upload("refunds", { files: modelFiles(), project: "payments" });
      await store.upload("refunds", { files: modelFiles() });
      await store.upload("churn", { files: modelFiles() });
      expect(await store.getTask("refunds")).toMatchObject({ name: "refunds", project: "payments" });
      expect(await store.getTask("churn")).toMatchObject({ project: "default" });
      expect((await store.listProjects()).map((p) => p.name)).toEqual(["default", "payments"]);
      expect((await store.listTasks({ project: "payments" })).map((t) => t.name)).toEqual(["refunds"]);
      expect(await store.listDomains()).toEqual(["churn", "refunds"]);
      expect((await store.getModelInfo("refunds", first.model.model_id)).archive).toEqual(first.archive);
      await expect(store.listTasks({ project: "nowhere" })).rejects.toMatchObject({ code: "NOT_FOUND", message: expect.stringContaining("store.listProjects()") });
    });

    it("upload() to a task that belongs to another project fails before any archive is written", async () => {
      await store.upload("refunds", { files: modelFiles(), project: "payments" });
      const before = await keysUnder(backend, "operatorai-model-store/refunds/");
      await expect(store.upload("refunds", { files: modelFiles(), project: "analytics" })).rejects.toMatchObject({
        code: "CONFLICT",
        message: expect.stringContaining('belongs to project "payments"'),
      });
      expect(await keysUnder(backend, "operatorai-model-store/refunds/")).toEqual(before);
      expect(await store.listModels("refunds")).toHaveLength(1);
    });

    it("a failed metadata write removes the archive again and leaves no model", async () => {
      await store.upload("refunds", { files: modelFiles(), modelId: "kept" });
      const failing: MetadataRepository = {
        ...store.metadata,
        addModel: async () => {
          throw new BackendError("metadata store down", { backend: "test" });
        },
      };
      const broken = new ModelStore({ backend, metadata: failing });
      await expect(broken.upload("refunds", { files: modelFiles(), modelId: "lost" })).rejects.toThrow(/metadata store down/);
      const archives = (await keysUnder(backend, "operatorai-model-store/refunds/")).filter((k) => k.endsWith("artifacts.tar.gz"));
      expect(archives).toHaveLength(1);
      expect(await store.modelExists("refunds", "lost")).toBe(false);
      expect((await store.getLatest("refunds")).model.model_id).toBe("kept");
    });

    it("an upload whose metadata commit answer was lost keeps the archive its recorded metadata points at", async () => {
      const lostAnswer: MetadataRepository = {
        ...store.metadata,
        addModel: async (doc, opts) => {
          await store.metadata.addModel(doc, opts);
          throw new BackendError("connection reset after commit", { backend: "test" });
        },
      };
      const flaky = new ModelStore({ backend, metadata: lostAnswer });
      const meta = await flaky.upload("refunds", { files: modelFiles(), modelId: "committed" });
      expect(meta.model.model_id).toBe("committed");
      expect(sha256(await collect(await store.getArchive("refunds", "committed")))).toBe(meta.archive.sha256);
    });

    it("deleteTask() refuses a task with models, and with cascade removes its models and archives", async () => {
      await store.upload("refunds", { files: modelFiles(), project: "payments" });
      await store.upload("refunds", { files: modelFiles() });
      await store.upload("churn", { files: modelFiles() });
      await expect(store.deleteTask("refunds")).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringContaining("cascade: true") });
      expect(await store.listModels("refunds")).toHaveLength(2);
      await store.deleteTask("refunds", { cascade: true });
      await expect(store.getTask("refunds")).rejects.toMatchObject({ code: "NOT_FOUND" });
      await expect(store.getLatest("refunds")).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect(await keysUnder(backend, "operatorai-model-store/refunds/")).toEqual([]);
      expect(await store.listDomains()).toEqual(["churn"]);
      expect(await store.listModels("churn")).toHaveLength(1);
      await expect(store.deleteTask("refunds")).rejects.toMatchObject({ code: "NOT_FOUND" });
    });

    it("deleteProject() refuses a project with tasks, and with cascade removes its tasks, models and archives", async () => {
      await store.upload("refunds", { files: modelFiles(), project: "payments" });
      await store.upload("chargebacks", { files: modelFiles(), project: "payments" });
      await store.upload("churn", { files: modelFiles() });
      await store.ensureTask("disputes", { project: "payments" });
      await expect(store.deleteProject("payments")).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringContaining("cascade: true") });
      expect(await store.listDomains()).toEqual(["chargebacks", "churn", "disputes", "refunds"]);
      await store.deleteProject("payments", { cascade: true });
      await expect(store.getProject("payments")).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect(await store.listDomains()).toEqual(["churn"]);
      for (const gone of ["refunds", "chargebacks"]) expect(await keysUnder(backend, `operatorai-model-store/${gone}/`)).toEqual([]);
      expect((await store.listProjects()).map((p) => p.name)).toEqual(["default"]);
      await expect(store.deleteProject("default")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      await store.deleteProject("default", { cascade: true }); // empties it; it stays
      expect(await store.listDomains()).toEqual([]);
      expect((await store.listProjects()).map((p) => p.name)).toEqual(["default"]);
    });

    it("readFile() on an indexed archive makes one ranged GET after one read of the index, cached per model", async () => {
      const big = noise(5 * 1024 * 1024);
      const meta = await store.upload("refunds", {
        files: [{ path: "a-weights.bin", body: streamOf(big), size: big.length }, { path: "zz-config.json", body: text('{"k": 1}') }],
      });
      expect(meta.archive.index?.offset).toBeGreaterThan(0);
      const gets: { key: string; range?: { offset: number; length?: number } }[] = [];
      const counting: Backend = Object.create(backend, {
        get: { value: (key: string, opts?: Parameters<Backend["get"]>[1]) => (gets.push({ key, range: opts?.range }), backend.get(key, opts)) },
      });
      const reader = new ModelStore({ backend: counting, metadata: metadata ?? undefined });
      const read = async (path: string) => collect((await reader.openFile(meta, path))!);
      expect(new TextDecoder().decode(await read("zz-config.json"))).toBe('{"k": 1}');
      expect(gets).toHaveLength(2); // the index, then the file's members
      expect(gets.every((g) => g.range !== undefined)).toBe(true);
      expect(gets[1].range!.length!).toBeLessThan(1 << 20);
      gets.length = 0;
      expect(sha256(await read("a-weights.bin"))).toBe(sha256(big));
      expect(gets).toHaveLength(1); // the index is cached
      expect(await reader.openFile(meta, "missing.bin")).toBeNull();
      expect(await reader.listFiles("refunds", meta.model.model_id)).toEqual([
        { path: "runtime-info.json", size: expect.any(Number), sha256: expect.stringMatching(/^[0-9a-f]{64}$/), mode: 0o644 },
        { path: "a-weights.bin", size: big.length, sha256: sha256(big), mode: 0o644 },
        { path: "zz-config.json", size: 8, sha256: sha256(text('{"k": 1}')), mode: 0o644 },
      ]);
    });

    it("readFile() scans archives without an index (older uploads, the Python library's)", async () => {
      const meta = await store.upload("refunds", { files: modelFiles() });
      const { index: _, ...archive } = meta.archive;
      const older = { ...meta, archive };
      expect(sha256(await collect((await store.openFile(older, "weights/layer-1.bin"))!))).toBe(sha256(weights));
      expect(await store.openFile(older, "missing.bin")).toBeNull();
      expect(sha256(await collect((await store.openFile(older, "weights/layer-1.bin", { range: { offset: 1000, length: 5000 } }))!))).toBe(sha256(weights.subarray(1000, 6000)));
      expect(sha256(await collect((await store.openFile(meta, "weights/layer-1.bin", { range: { offset: 1000, length: 5000 } }))!))).toBe(sha256(weights.subarray(1000, 6000)));
    });

    itInBucket?.("ModelReader reads what ModelStore wrote, with the same answers: latest, info, files (whole and parts), listFiles", async () => {
      const big = noise(3 * 1024 * 1024 + 17);
      const first = await store.upload("refunds", { files: modelFiles(), modelId: "first" });
      const second = await store.upload("refunds", {
        files: [{ path: "a-weights.bin", body: streamOf(big), size: big.length }, { path: "zz-config.json", body: text('{"k": 2}') }],
      });
      const modelReader = new ModelReader({ backend });
      expect(await modelReader.getLatest("refunds")).toEqual(await store.getLatest("refunds"));
      expect(await modelReader.getModelInfo("refunds", "first")).toEqual(await store.getModelInfo("refunds", "first"));
      const read = async (id: string | undefined, path: string, range?: { offset: number; length?: number }) => collect((await modelReader.readFile("refunds", id, path, { range }))!);
      expect(new TextDecoder().decode(await read(undefined, "zz-config.json"))).toBe('{"k": 2}');
      expect(sha256(await read(undefined, "a-weights.bin"))).toBe(sha256(big)); // several members, streamed
      expect(sha256(await read(undefined, "/a-weights.bin", { offset: 1_000_000, length: 2_500_000 }))).toBe(sha256(big.subarray(1_000_000, 3_500_000)));
      expect(sha256(await read("first", "weights/layer-1.bin"))).toBe(sha256(weights));
      expect(await modelReader.readFile("refunds", "first", "missing.bin")).toBeNull();
      expect(await modelReader.listFiles("refunds", undefined)).toEqual(await store.listFiles("refunds", undefined));
      expect(await modelReader.listFiles("refunds", first.model.model_id)).toEqual(await store.listFiles("refunds", "first"));
      await expect(modelReader.getLatest("no-such-domain")).rejects.toMatchObject({ code: "NOT_FOUND" });
      await expect(modelReader.getModelInfo("refunds", "no-such-model")).rejects.toMatchObject({ code: "NOT_FOUND" });
      await expect(modelReader.getLatest("../etc")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      for (const readConcurrency of [0, 257, 1.5]) {
        expect(() => new ModelReader({ backend, readConcurrency }), String(readConcurrency)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringContaining("readConcurrency") }));
      }
      expect(() => new ModelReader({ backend, rootPrefix: "../up" })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
      // Archives without a table of contents are ModelStore's to scan: a typed error that says so, not a wrong answer.
      const { index: _, ...archive } = second.archive;
      await expect(modelReader.openFile({ ...second, archive }, "zz-config.json")).rejects.toMatchObject({ code: "NOT_SUPPORTED", message: expect.stringContaining("ModelStore.readFile") });
      const scanning = new ModelReader({ backend, scan: scanArchives });
      expect(new TextDecoder().decode(await collect((await scanning.openFile({ ...second, archive }, "zz-config.json"))!))).toBe('{"k": 2}');
      expect(sha256(await collect((await scanning.openFile({ ...second, archive }, "a-weights.bin", { range: { offset: 10, length: 100 } }))!))).toBe(sha256(big.subarray(10, 110)));
      expect(await scanning.listFilesOf({ ...second, archive })).toEqual(await store.listFiles("refunds", undefined));
      const forged = { ...second, archive: { ...second.archive, index: { ...second.archive.index!, sha256: "0".repeat(64) } } };
      await expect(modelReader.openFile(forged, "zz-config.json")).rejects.toMatchObject({ code: "INTEGRITY" });
    });

    it("an index that does not match its metadata is refused with INTEGRITY and serves no bytes", async () => {
      const meta = await store.upload("refunds", { files: modelFiles() });
      const forged = { ...meta, archive: { ...meta.archive, index: { ...meta.archive.index!, sha256: "0".repeat(64) } } };
      await expect(store.openFile(forged, "model.json")).rejects.toMatchObject({ code: "INTEGRITY" });
    });

    it("rejects invalid project names before touching storage", async () => {
      for (const project of ["", "a/b", "..", ".projects", " padded"]) {
        await expect(store.upload("refunds", { files: modelFiles(), project })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
        await expect(store.ensureProject(project)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      }
      expect(await keysUnder(backend, "")).toEqual([]);
      expect(await store.listDomains()).toEqual([]);
    });
  });
}

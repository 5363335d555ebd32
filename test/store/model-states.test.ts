/**
 * Model states shared with the Python modelstore: the states in the trees the
 * real Python library wrote (0.0.73 and 0.0.81, copied to temp dirs) read as
 * its own answers in MANIFEST.json say, and the states this library writes sit
 * where the Python library's readers look for them, field by field.
 */
import { cp, mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { inMemory, ModelStore, modelsInStateAt, ReservedStateError, type ModelMetadata } from "../../src/index.ts";
import { fileSystemBackend } from "../../src/fs.ts";
import { text } from "../support/bytes.ts";

const FIXTURES = join(import.meta.dirname, "../../../shared/fixtures/python-modelstore");
const ROOT = "operatorai-model-store";
const ids = (models: ModelMetadata[]) => models.map((m) => m.model.model_id);
const files = () => [{ path: "weights.bin", body: text("w".repeat(100)) }];

interface Manifest {
  summary: { domains: Record<string, { by_state: Record<string, string[]> }>; deleted: string[] };
  answers: { list_model_states?: { result: string[] } };
  models: { domain: string; model_id: string; deleted: boolean; states: string[]; kind: string }[];
}

let dir: string;
afterEach(() => rm(dir, { recursive: true, force: true }));

for (const release of ["0.0.73", "0.0.81"]) {
  describe(`states written by Python ${release}`, () => {
    let store: ModelStore;
    let manifest: Manifest;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), `modelstore-states-${release}-`));
      await cp(join(FIXTURES, release, "store"), dir, { recursive: true });
      manifest = JSON.parse(await readFile(join(FIXTURES, release, "MANIFEST.json"), "utf8"));
      store = new ModelStore({ backend: fileSystemBackend({ root: dir }) });
    });

    it("listModelStates() is what Python's list_model_states() returned", async () => {
      const states = Object.keys(manifest.summary.domains.sklearn.by_state).filter((s) => s !== "modelstore-deleted");
      expect(new Set((await store.listModelStates()).map((s) => s.name))).toEqual(new Set(manifest.answers.list_model_states?.result ?? states));
    });

    it("listModels(domain, { state }) is what Python's list_models(domain, state_name=...) returned", async () => {
      for (const [domain, { by_state }] of Object.entries(manifest.summary.domains)) {
        for (const [state, expected] of Object.entries(by_state)) {
          const listed = ids(await store.listModels(domain, { state }));
          // A tombstone of a raw-file model (model_type without `type`) lists once documents of that shape are accepted.
          const certain = expected.filter((id) => state !== "modelstore-deleted" || manifest.models.find((m) => m.model_id === id)?.kind !== "raw-file");
          expect(listed).toEqual(expect.arrayContaining(certain));
          expect(new Set([...expected, ...listed])).toEqual(new Set(expected));
        }
      }
    });

    it("getModelStates() and getLatest(domain, { state }) agree with Python", async () => {
      for (const model of manifest.models.filter((m) => !m.deleted && m.domain === "sklearn")) {
        expect(new Set(await store.getModelStates(model.domain, model.model_id))).toEqual(new Set(model.states));
      }
      const production = manifest.summary.domains.sklearn.by_state.production;
      expect((await store.getLatest("sklearn", { state: "production" })).model.model_id).toBe(production[0]);
      await expect(store.getLatest("sklearn", { state: "archived" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    });

    it("a state set here is where Python reads it, and Python's states change here", async () => {
      const [older, newer] = [...manifest.summary.domains.sklearn.by_state.production, ...manifest.models.filter((m) => m.domain === "sklearn").map((m) => m.model_id)];
      await store.createModelState("shadow");
      await store.setModelState("sklearn", newer, "shadow");
      const stateDoc = JSON.parse(await readFile(join(dir, ROOT, "model_states", "shadow.json"), "utf8"));
      expect(stateDoc.state_name).toBe("shadow");
      expect(stateDoc.created).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\d{2}:\d{2}:\d{2}$/); // Python's strptime format
      // Python's list_models(state_name=...) reads the copy as the model's document: byte for byte the same, as Python copies it.
      const copy = await readFile(join(dir, ROOT, "sklearn", "versions", "shadow", `${newer}.json`), "utf8");
      expect(copy).toBe(await readFile(join(dir, ROOT, "sklearn", "versions", `${newer}.json`), "utf8"));
      // Raw-file models too, whatever shape their document has.
      const rawFile = manifest.models.find((m) => m.kind === "raw-file" && !m.deleted)!.model_id;
      await store.setModelState("raw-files", rawFile, "shadow");
      expect(await store.getModelStates("raw-files", rawFile)).toEqual(["shadow"]);
      expect(await readFile(join(dir, ROOT, "raw-files", "versions", "shadow", `${rawFile}.json`), "utf8")).toBe(
        await readFile(join(dir, ROOT, "raw-files", "versions", `${rawFile}.json`), "utf8"),
      );
      await store.removeModelState("sklearn", older, "production");
      // An empty state folder may go (Python lists a missing one as empty: see raw-files in MANIFEST.json).
      expect(await readdir(join(dir, ROOT, "sklearn", "versions", "production")).catch(() => [])).toEqual([]);
      expect(new Set((await store.listModelStates()).map((s) => s.name))).toEqual(new Set(["production", "staging", "shadow"]));
    });
  });
}

describe("ModelStore model states", () => {
  let store: ModelStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "modelstore-states-"));
    store = new ModelStore({ backend: fileSystemBackend({ root: dir }), user: "ana" });
  });

  it("reserved and invalid state names are refused with a typed error", async () => {
    await expect(store.createModelState("modelstore-deleted")).rejects.toBeInstanceOf(ReservedStateError);
    await expect(store.createModelState("modelstore-deleted")).rejects.toMatchObject({ code: "INVALID_ARGUMENT", state: "modelstore-deleted" });
    await expect(store.setModelState("d", "m", "modelstore-deleted")).rejects.toBeInstanceOf(ReservedStateError);
    await expect(store.deleteModelState("modelstore-deleted")).rejects.toBeInstanceOf(ReservedStateError);
    for (const bad of ["ab", "a/b", "x.json", "versions", "", " prod"]) {
      await expect(store.createModelState(bad)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    }
    // The states' own folders cannot be domains.
    for (const domain of ["model_states", ".state-history"]) {
      await expect(store.upload(domain, { files: files() })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    }
  });

  it("getLatest(domain, { state }) is the newest model in the state, not the newest model", async () => {
    const first = await store.upload("refunds", { files: files() });
    await new Promise((r) => setTimeout(r, 5));
    const second = await store.upload("refunds", { files: files() });
    await new Promise((r) => setTimeout(r, 5));
    await store.upload("refunds", { files: files() });
    await store.createModelState("production");
    await store.setModelState("refunds", first.model.model_id, "production");
    expect((await store.getLatest("refunds", { state: "production" })).model.model_id).toBe(first.model.model_id);
    await store.setModelState("refunds", second.model.model_id, "production");
    expect((await store.getLatest("refunds", { state: "production" })).model.model_id).toBe(second.model.model_id);
    expect(ids(await store.listModels("refunds", { state: "production" }))).toEqual([second.model.model_id, first.model.model_id]);
  });

  it("stateHistory() answers which model was in production at a given time", async () => {
    const a = (await store.upload("refunds", { files: files() })).model.model_id;
    const b = (await store.upload("refunds", { files: files() })).model.model_id;
    await store.createModelState("production");
    await store.setModelState("refunds", a, "production");
    await new Promise((r) => setTimeout(r, 20));
    const whileA = new Date();
    await new Promise((r) => setTimeout(r, 20));
    await store.setModelState("refunds", b, "production", { user: "ben" });
    await store.removeModelState("refunds", a, "production");
    const history = await store.stateHistory("refunds");
    expect(history.map((e) => [e.modelId, e.action, e.user])).toEqual([
      [a, "set", "ana"],
      [b, "set", "ben"],
      [a, "remove", "ana"],
    ]);
    expect(modelsInStateAt(history, "production", whileA)).toEqual([a]);
    expect(modelsInStateAt(history, "production", new Date())).toEqual([b]);
    // Every event is its own object: nothing was overwritten.
    expect(await readdir(join(dir, ROOT, ".state-history", "refunds"))).toHaveLength(3);
  });

  it("deleting a model takes it out of its states (recorded in the history), and the memory store has the same states", async () => {
    const memory = inMemory();
    for (const s of [store, memory]) {
      const id = (await s.upload("refunds", { files: files() })).model.model_id;
      await s.createModelState("production");
      await s.setModelState("refunds", id, "production");
      expect(await s.getModelStates("refunds", id)).toEqual(["production"]);
      await expect(s.deleteModelState("production")).rejects.toMatchObject({ code: "CONFLICT" });
      await s.deleteModel("refunds", id);
      expect(await s.listModels("refunds", { state: "production" })).toEqual([]);
      expect((await s.stateHistory("refunds")).at(-1)).toMatchObject({ modelId: id, state: "production", action: "remove" });
      await s.deleteModelState("production");
      expect(await s.listModelStates()).toEqual([]);
      // With cascade, as Python's delete_model_state: every model leaves the state first.
      const kept = (await s.upload("fraud", { files: files() })).model.model_id;
      await s.createModelState("staging");
      await s.setModelState("fraud", kept, "staging");
      await s.deleteModelState("staging", { cascade: true });
      expect(await s.listModelStates()).toEqual([]);
      expect(await s.getModelStates("fraud", kept)).toEqual([]);
      expect((await s.stateHistory("fraud")).map((e) => e.action)).toEqual(["set", "remove"]);
    }
  });
});

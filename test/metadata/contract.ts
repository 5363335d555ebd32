/**
 * The one MetadataRepository contract suite. Every repository (bucket, memory,
 * local JSON file, PostgreSQL) calls `runMetadataContract` in a few lines.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ModelMetadata } from "../../src/metadata/document.ts";
import type { MetadataRepository } from "../../src/metadata/repository.ts";

/** What a repository factory hands the suite. */
export interface MetadataSubject {
  repository: MetadataRepository;
  /** Removes whatever the repository created (temp dirs, schemas). */
  cleanup?: () => Promise<void>;
}

/** A valid metadata document for `task`/`id`, created at `created`. */
export function fakeModel(task: string, id: string, created = new Date().toISOString(), extra?: ModelMetadata["extra"]): ModelMetadata {
  return {
    model: { domain: task, model_id: id, model_type: { library: "onnx", type: "InferenceSession" } },
    storage: { type: "memory", prefix: `operatorai-model-store/${task}/${id}/artifacts.tar.gz` },
    modelstore: "0.1.0",
    code: { runtime: "node:20.0.0", user: "tester", created, dependencies: { fflate: "0.8.3" } },
    ...(extra !== undefined ? { extra } : {}),
    archive: { size: 123, sha256: "a".repeat(64) },
  };
}

const at = (second: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, second)).toISOString();
const ids = (models: ModelMetadata[]) => models.map((m) => m.model.model_id);
const names = (records: { name: string }[]) => records.map((r) => r.name);

/** Defines the contract tests for one repository; `makeSubject` gives each test a fresh, empty one. */
export function runMetadataContract(name: string, makeSubject: () => Promise<MetadataSubject>): void {
  describe(`MetadataRepository contract: ${name}`, () => {
    let repo: MetadataRepository;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ repository: repo, cleanup } = await makeSubject());
    });
    afterEach(async () => {
      await repo.close?.();
      await cleanup?.();
    });

    it("always has the default project, and nothing else when empty", async () => {
      expect(names(await repo.listProjects())).toEqual(["default"]);
      expect((await repo.getProject("default"))?.name).toBe("default");
      expect(await repo.getProject("payments")).toBeNull();
      expect(await repo.listTasks()).toEqual([]);
      expect(await repo.getTask("refunds")).toBeNull();
      expect(await repo.listModels("refunds")).toEqual([]);
      expect(await repo.latestModel("refunds")).toBeNull();
      expect(await repo.getModel("refunds", "x")).toBeNull();
    });

    it("ensureProject() creates once and lists projects sorted by name", async () => {
      const first = await repo.ensureProject("payments");
      expect(first.name).toBe("payments");
      expect((await repo.ensureProject("payments")).name).toBe("payments");
      await repo.ensureProject("analytics");
      expect(names(await repo.listProjects())).toEqual(["analytics", "default", "payments"]);
      expect((await repo.getProject("payments"))?.name).toBe("payments");
    });

    it("ensureTask() creates the task and its project, and refuses to move a task to another project", async () => {
      const task = await repo.ensureTask("refunds", "payments");
      expect(task).toMatchObject({ name: "refunds", project: "payments" });
      expect(await repo.getTask("refunds")).toMatchObject({ name: "refunds", project: "payments" });
      expect((await repo.getProject("payments"))?.name).toBe("payments");
      expect(await repo.ensureTask("refunds", "payments")).toMatchObject({ project: "payments" });
      await expect(repo.ensureTask("refunds", "default")).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringContaining('belongs to project "payments"') });
      await repo.ensureTask("churn", "default");
      expect(await repo.getTask("churn")).toMatchObject({ project: "default" });
    });

    it("listTasks() lists every task sorted, or one project's", async () => {
      await repo.ensureTask("refunds", "payments");
      await repo.ensureTask("chargebacks", "payments");
      await repo.addModel(fakeModel("churn", "m1", at(1)));
      expect(names(await repo.listTasks())).toEqual(["chargebacks", "churn", "refunds"]);
      expect(names(await repo.listTasks({ project: "payments" }))).toEqual(["chargebacks", "refunds"]);
      expect(names(await repo.listTasks({ project: "default" }))).toEqual(["churn"]);
      expect(await repo.listTasks({ project: "nowhere" })).toEqual([]);
    });

    it("addModel() puts a new task in the default project, or in the project it is given", async () => {
      await repo.addModel(fakeModel("churn", "m1", at(1)));
      expect(await repo.getTask("churn")).toMatchObject({ name: "churn", project: "default" });
      await repo.addModel(fakeModel("refunds", "m1", at(1)), { project: "payments" });
      expect(await repo.getTask("refunds")).toMatchObject({ project: "payments" });
      expect((await repo.getProject("payments"))?.name).toBe("payments");
      // Without a project, a model joins its task wherever the task is.
      await repo.addModel(fakeModel("refunds", "m2", at(2)));
      expect(ids(await repo.listModels("refunds"))).toEqual(["m2", "m1"]);
    });

    it("addModel() into a task of another project fails with ConflictError and records nothing", async () => {
      await repo.addModel(fakeModel("refunds", "m1", at(1)), { project: "payments" });
      await expect(repo.addModel(fakeModel("refunds", "m2", at(2)), { project: "analytics" })).rejects.toMatchObject({ code: "CONFLICT" });
      expect(ids(await repo.listModels("refunds"))).toEqual(["m1"]);
      expect(await repo.getModel("refunds", "m2")).toBeNull();
    });

    it("addModel() refuses an id the task already holds and keeps the original", async () => {
      await repo.addModel(fakeModel("refunds", "v1", at(1), { run: 1 }));
      await expect(repo.addModel(fakeModel("refunds", "v1", at(2), { run: 2 }))).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
      expect((await repo.getModel("refunds", "v1"))?.extra).toEqual({ run: 1 });
      expect(await repo.listModels("refunds")).toHaveLength(1);
    });

    it("getModel() returns the document as it was added, and the same id may live in two tasks", async () => {
      const doc = fakeModel("refunds", "v1", at(1), { accuracy: 0.93, tags: ["a", "b"], nested: { ok: true, none: null } });
      await repo.addModel(doc);
      await repo.addModel(fakeModel("churn", "v1", at(5)));
      expect(await repo.getModel("refunds", "v1")).toEqual(doc);
      expect((await repo.getModel("churn", "v1"))?.code.created).toBe(at(5));
      const copy = await repo.getModel("refunds", "v1");
      copy!.model.model_id = "changed";
      expect((await repo.getModel("refunds", "v1"))?.model.model_id).toBe("v1");
    });

    it("listModels() is newest first and latestModel() is the newest, whatever the order of adds", async () => {
      for (const [id, second] of [["b", 2], ["d", 4], ["a", 1], ["c", 3]] as const) await repo.addModel(fakeModel("refunds", id, at(second)));
      expect(ids(await repo.listModels("refunds"))).toEqual(["d", "c", "b", "a"]);
      expect((await repo.latestModel("refunds"))?.model.model_id).toBe("d");
      expect((await repo.listModelIds("refunds")).sort()).toEqual(["a", "b", "c", "d"]);
      expect(await repo.listModels("churn")).toEqual([]);
    });

    it("listModelsPage() pages newest first with no repeats or gaps, even while models are added and deleted", async () => {
      const created = Array.from({ length: 23 }, (_, i) => fakeModel("refunds", `m${String(i).padStart(2, "0")}`, at(i)));
      for (const m of [...created].reverse()) await repo.addModel(m);
      // Two models of the same instant are told apart by location, then id.
      await repo.addModel({ ...fakeModel("refunds", "twin", at(5)), storage: { type: "memory", prefix: "z-twin" } });
      const expected = ids(await repo.listModels("refunds"));
      expect(expected.length).toBe(24);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await repo.listModelsPage("refunds", { limit: 5, cursor });
        expect(page.items.length).toBeLessThanOrEqual(5);
        seen.push(...ids(page.items));
        cursor = page.cursor;
        pages++;
        // Between pages: a newer model arrives (it sorts before the cursor) and an already listed one goes.
        if (pages === 2) {
          await repo.addModel(fakeModel("refunds", "newcomer", at(59)));
          await repo.deleteModel("refunds", seen[0]);
        }
      } while (cursor !== undefined && pages < 50);
      expect(pages).toBe(5);
      expect(seen).toEqual(expected);
      const first = await repo.listModelsPage("refunds", { limit: 2 });
      expect(ids(first.items)).toEqual(["newcomer", expected[1]]);
      expect(await repo.listModelsPage("unknown-task")).toEqual({ items: [], cursor: undefined });
    });

    it("listModelsPage() refuses a bad limit or a cursor no page handed out", async () => {
      await repo.addModel(fakeModel("refunds", "a", at(1)));
      for (const limit of [0, -1, 1.5, 10_001]) await expect(repo.listModelsPage("refunds", { limit })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      for (const cursor of ["", "abc", "m1.!!!", "m1." + btoa("[1,2]")]) {
        await expect(repo.listModelsPage("refunds", { cursor })).rejects.toThrow(/cursor .* was not handed out by a previous page/);
      }
    });

    it("deleteModel() moves the latest to the newest remaining model, and to none after the last", async () => {
      await repo.addModel(fakeModel("refunds", "old", at(1)));
      await repo.addModel(fakeModel("refunds", "new", at(2)));
      expect(await repo.deleteModel("refunds", "new")).toBe(true);
      expect((await repo.latestModel("refunds"))?.model.model_id).toBe("old");
      expect(await repo.deleteModel("refunds", "new")).toBe(false);
      expect(await repo.deleteModel("refunds", "old")).toBe(true);
      expect(await repo.latestModel("refunds")).toBeNull();
      expect(await repo.listModels("refunds")).toEqual([]);
    });

    it("deleteTask() refuses a task that holds models, removes an empty one, and reports a missing one", async () => {
      await repo.addModel(fakeModel("refunds", "m1", at(1)), { project: "payments" });
      await expect(repo.deleteTask("refunds")).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringContaining("cascade") });
      expect(await repo.getTask("refunds")).not.toBeNull();
      await repo.deleteModel("refunds", "m1");
      expect(await repo.deleteTask("refunds")).toBe(true);
      expect(await repo.getTask("refunds")).toBeNull();
      expect(await repo.listTasks({ project: "payments" })).toEqual([]);
      expect(await repo.deleteTask("refunds")).toBe(false);
    });

    it("deleteProject() refuses a project with tasks, removes an empty one, and never removes the default", async () => {
      await repo.ensureTask("refunds", "payments");
      await expect(repo.deleteProject("payments")).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringContaining("cascade") });
      expect(await repo.deleteTask("refunds")).toBe(true);
      expect(await repo.deleteProject("payments")).toBe(true);
      expect(await repo.getProject("payments")).toBeNull();
      expect(await repo.deleteProject("payments")).toBe(false);
      await expect(repo.deleteProject("default")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      expect(names(await repo.listProjects())).toEqual(["default"]);
    });

    it("a deleted task can be created again in another project", async () => {
      await repo.ensureTask("refunds", "payments");
      await repo.deleteTask("refunds");
      await repo.addModel(fakeModel("refunds", "m1", at(1)), { project: "analytics" });
      expect(await repo.getTask("refunds")).toMatchObject({ project: "analytics" });
    });

    it("concurrent addModel() calls all land and the latest is the newest", async () => {
      const count = 20;
      await Promise.all(Array.from({ length: count }, (_, i) => repo.addModel(fakeModel("refunds", `m${String(i).padStart(2, "0")}`, at(i)))));
      const listed = await repo.listModels("refunds");
      expect(listed).toHaveLength(count);
      expect(listed[0].model.model_id).toBe("m19");
      expect((await repo.latestModel("refunds"))?.model.model_id).toBe("m19");
    });

    it("names that are special to JavaScript or SQL are plain names", async () => {
      for (const name of ["__proto__", "constructor", "x'; drop table models; --"]) {
        await repo.addModel(fakeModel(name, name, at(1)), { project: name === "__proto__" ? "hasOwnProperty" : undefined });
        expect((await repo.getModel(name, name))?.model.model_id).toBe(name);
        expect((await repo.latestModel(name))?.model.model_id).toBe(name);
      }
      expect(names(await repo.listTasks())).toEqual(["__proto__", "constructor", "x'; drop table models; --"].sort());
      expect(names(await repo.listProjects())).toEqual(["default", "hasOwnProperty"]);
    });

    it("createModelState() creates once, and listModelStates() lists states by name", async () => {
      expect(await repo.listModelStates()).toEqual([]);
      expect((await repo.createModelState("staging")).name).toBe("staging");
      await repo.createModelState("production");
      await repo.createModelState("staging");
      expect(names(await repo.listModelStates())).toEqual(["production", "staging"]);
      for (const state of await repo.listModelStates()) expect(Date.parse(state.created ?? "")).not.toBeNaN(); // ISO-8601
    });

    it("a model can be in many states; states are global across domains", async () => {
      await repo.addModel(fakeModel("refunds", "r1", at(1)));
      await repo.addModel(fakeModel("refunds", "r2", at(2)));
      await repo.addModel(fakeModel("fraud", "f1", at(3)));
      await repo.createModelState("production");
      await repo.createModelState("staging");
      await repo.setModelState("refunds", "r1", "production");
      await repo.setModelState("refunds", "r1", "staging");
      await repo.setModelState("refunds", "r2", "production");
      await repo.setModelState("fraud", "f1", "production");
      await repo.setModelState("refunds", "r2", "production"); // again: no duplicate
      expect(await repo.getModelStates("refunds", "r1")).toEqual(["production", "staging"]);
      expect(await repo.getModelStates("refunds", "r2")).toEqual(["production"]);
      expect(await repo.getModelStates("refunds", "nope")).toEqual([]);
      expect(ids(await repo.listModelsInState("refunds", "production"))).toEqual(["r2", "r1"]);
      expect(ids(await repo.listModelsInState("refunds", "staging"))).toEqual(["r1"]);
      expect(ids(await repo.listModelsInState("fraud", "production"))).toEqual(["f1"]);
      expect(ids(await repo.listModelsInState("fraud", "staging"))).toEqual([]);
      expect(await repo.removeModelState("refunds", "r1", "production")).toBe(true);
      expect(await repo.removeModelState("refunds", "r1", "production")).toBe(false);
      expect(ids(await repo.listModelsInState("refunds", "production"))).toEqual(["r2"]);
      expect(await repo.getModelStates("refunds", "r1")).toEqual(["staging"]);
    });

    it("state calls on a missing state or model fail with NOT_FOUND", async () => {
      await repo.addModel(fakeModel("refunds", "r1", at(1)));
      await expect(repo.setModelState("refunds", "r1", "production")).rejects.toMatchObject({ code: "NOT_FOUND" });
      await expect(repo.removeModelState("refunds", "r1", "production")).rejects.toMatchObject({ code: "NOT_FOUND" });
      await expect(repo.listModelsInState("refunds", "production")).rejects.toMatchObject({ code: "NOT_FOUND" });
      await repo.createModelState("production");
      await expect(repo.setModelState("refunds", "r9", "production")).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect(await repo.listModelsInState("refunds", "modelstore-deleted")).toEqual([]);
    });

    it("deleteModelState() refuses a state that holds models and removes an empty one", async () => {
      await repo.addModel(fakeModel("refunds", "r1", at(1)));
      await repo.createModelState("production");
      await repo.setModelState("refunds", "r1", "production");
      await expect(repo.deleteModelState("production")).rejects.toMatchObject({ code: "CONFLICT" });
      await repo.removeModelState("refunds", "r1", "production");
      expect(await repo.deleteModelState("production")).toBe(true);
      expect(await repo.deleteModelState("production")).toBe(false);
      expect(await repo.listModelStates()).toEqual([]);
    });

    it("a deleted model leaves its states, recorded in the history", async () => {
      await repo.addModel(fakeModel("refunds", "r1", at(1)));
      await repo.addModel(fakeModel("refunds", "r2", at(2)));
      await repo.createModelState("production");
      await repo.createModelState("staging");
      await repo.setModelState("refunds", "r1", "production");
      await repo.setModelState("refunds", "r2", "production");
      await repo.setModelState("refunds", "r2", "staging");
      await repo.deleteModel("refunds", "r2", { user: "cleaner" });
      expect(ids(await repo.listModelsInState("refunds", "production"))).toEqual(["r1"]);
      expect(await repo.listModelsInState("refunds", "staging")).toEqual([]);
      const left = (await repo.stateHistory("refunds")).slice(3);
      expect(left.map((e) => [e.modelId, e.state, e.action, e.user]).sort()).toEqual([
        ["r2", "production", "remove", "cleaner"],
        ["r2", "staging", "remove", "cleaner"],
      ]);
      expect(await repo.deleteModel("refunds", "r2")).toBe(false);
      expect(await repo.stateHistory("refunds")).toHaveLength(5);
      await repo.deleteModel("refunds", "r1");
      expect(await repo.deleteModelState("production")).toBe(true);
    });

    it("stateHistory() records every change, oldest first, with who and when", async () => {
      await repo.addModel(fakeModel("refunds", "r1", at(1)));
      await repo.addModel(fakeModel("refunds", "r2", at(2)));
      await repo.createModelState("production");
      const before = Date.now();
      await repo.setModelState("refunds", "r1", "production", { user: "ana" });
      await repo.setModelState("refunds", "r2", "production", { user: "ben" });
      await repo.removeModelState("refunds", "r1", "production", { user: "ben" });
      await repo.removeModelState("refunds", "r1", "production", { user: "ben" }); // not in it: nothing recorded
      const history = await repo.stateHistory("refunds");
      expect(history.map((e) => [e.modelId, e.state, e.action, e.user, e.domain])).toEqual([
        ["r1", "production", "set", "ana", "refunds"],
        ["r2", "production", "set", "ben", "refunds"],
        ["r1", "production", "remove", "ben", "refunds"],
      ]);
      for (const event of history) expect(Date.parse(event.at)).toBeGreaterThanOrEqual(before - 1000);
      expect(await repo.stateHistory("fraud")).toEqual([]);
    });

    it("concurrent state changes all land in the history", async () => {
      const count = 12;
      await repo.createModelState("production");
      for (let i = 0; i < count; i++) await repo.addModel(fakeModel("refunds", `m${i}`, at(i)));
      await Promise.all(Array.from({ length: count }, (_, i) => repo.setModelState("refunds", `m${i}`, "production", { user: `u${i}` })));
      const history = await repo.stateHistory("refunds");
      expect(history.map((e) => e.user).sort()).toEqual(Array.from({ length: count }, (_, i) => `u${i}`).sort());
      expect(await repo.listModelsInState("refunds", "production")).toHaveLength(count);
    });
  });
}

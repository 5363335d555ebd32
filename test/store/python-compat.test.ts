/**
 * Sharing a bucket with the Python modelstore, and documents that are not
 * what their key says: the store reads models the Python library uploaded
 * (no `archive` field, its own `created` format), writes `created` the way the
 * Python library parses it, refuses a document copied under another model's
 * key without acting on the model it names, and keeps listing a domain that
 * holds one corrupt document.
 */
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createdTime, formatCreated, ModelStore, type Backend } from "../../src/index.ts";
import { memoryBackend } from "../../src/backends/memory.ts";
import { fileSystemBackend } from "../../src/fs.ts";
import { collect, sha256, text } from "../support/bytes.ts";

const ROOT_PREFIX = "operatorai-model-store";
/** `datetime.strptime(created, "%Y/%m/%d/%H:%M:%S")`, which the Python library's listing applies to every model. */
const PYTHON_STRPTIME = /^\d{4}\/(0[1-9]|1[0-2])\/(0[1-9]|[12]\d|3[01])\/([01]\d|2[0-3]):[0-5]\d:[0-5]\d$/;

const model = () => [
  { path: "config.json", body: text('{"threshold": 0.5}') },
  { path: "weights.bin", body: text("w".repeat(10_000)) },
];

let root: string;
let store: ModelStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "modelstore-python-compat-"));
  store = new ModelStore({ backend: fileSystemBackend({ root }) });
});
afterEach(() => rm(root, { recursive: true, force: true }));

/** Writes a model the way the Python modelstore's file-system storage does: archive by GNU tar, document without `archive`. */
async function pythonUpload(domain: string, id: string, created: string): Promise<string> {
  const archivePath = join(root, ROOT_PREFIX, domain, created, "artifacts.tar.gz");
  const source = join(root, "..", `py-src-${id}-${Date.now()}`);
  await mkdir(source, { recursive: true });
  await writeFile(join(source, "model.joblib"), `python model ${id}`);
  await mkdir(dirname(archivePath), { recursive: true });
  expect(spawnSync("tar", ["czf", archivePath, "-C", source, "model.joblib"]).status).toBe(0);
  await rm(source, { recursive: true, force: true });
  const doc = {
    model: { domain, model_id: id, model_type: { library: "sklearn", type: "LogisticRegression" }, parameters: { C: 1 } },
    storage: { type: "file_system", root, path: archivePath },
    modelstore: "0.0.81",
    code: { runtime: "python:3.10.12", user: "alice", created, dependencies: { sklearn: "1.3.0" } },
  };
  const json = JSON.stringify(doc, null, 4);
  await mkdir(join(root, ROOT_PREFIX, domain, "versions"), { recursive: true });
  await writeFile(join(root, ROOT_PREFIX, domain, "versions", `${id}.json`), json);
  await writeFile(join(root, ROOT_PREFIX, domain, "latest.json"), json);
  return archivePath;
}

describe("a bucket shared with the Python modelstore", () => {
  it("writes code.created as the Python library parses it, in UTC, and reads both that and ISO-8601", async () => {
    const meta = await store.upload("refunds", { files: model() });
    const stored = JSON.parse(await readFile(join(root, ROOT_PREFIX, "refunds", "versions", `${meta.model.model_id}.json`), "utf8"));
    expect(stored.code.created).toMatch(PYTHON_STRPTIME);
    expect(Math.abs(createdTime(stored.code.created) - Date.now())).toBeLessThan(60_000);
    expect(formatCreated(new Date(Date.UTC(2020, 7, 30, 23, 29, 28, 900)))).toBe("2020/08/30/23:29:28");
    expect(createdTime("2020/08/30/23:29:28")).toBe(Date.UTC(2020, 7, 30, 23, 29, 28));
    expect(createdTime("2020-08-30T23:29:28.500Z")).toBe(Date.UTC(2020, 7, 30, 23, 29, 28, 500));
    for (const bad of ["2020/02/31/00:00:00", "2020/8/30/23:29:28", "yesterday", "1598830168"]) expect(createdTime(bad), bad).toBeNaN();
  });

  it("lists, describes and reads models the Python library uploaded, newest first among ours", async () => {
    await pythonUpload("refunds", "py-old", "2020/08/30/23:29:28");
    const ours = await store.upload("refunds", { files: model() });
    await pythonUpload("refunds", "py-future", "2999/01/01/00:00:00");

    expect((await store.listModels("refunds")).map((m) => m.model.model_id)).toEqual(["py-future", ours.model.model_id, "py-old"]);
    const info = await store.getModelInfo("refunds", "py-old");
    expect(info.archive).toBeUndefined();
    expect(info.model.model_type).toEqual({ library: "sklearn", type: "LogisticRegression" });
    // No size or sha256 to verify against: the archive is served as stored.
    const archive = await collect(await store.getArchive("refunds", "py-old"));
    expect(archive.length).toBeGreaterThan(0);
    expect(new TextDecoder().decode(await collect((await store.readFile("refunds", "py-old", "model.joblib"))!))).toBe("python model py-old");
    // The latest written by Python: moving forward past it keeps it, being newest.
    expect((await store.getLatest("refunds")).model.model_id).toBe("py-future");
  });

  it("deletes a Python-uploaded model with its archive", async () => {
    const archivePath = await pythonUpload("refunds", "py-1", "2020/08/30/23:29:28");
    await store.deleteModel("refunds", "py-1");
    expect(await store.modelExists("refunds", "py-1")).toBe(false);
    await expect(readFile(archivePath)).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("documents that are not what their key says", () => {
  it("refuses a version document copied under another domain's key, and deleting the copy leaves the original model whole", async () => {
    const original = await store.upload("prod", { files: model(), modelId: "m1" });
    await mkdir(join(root, ROOT_PREFIX, "staging", "versions"), { recursive: true });
    await writeFile(
      join(root, ROOT_PREFIX, "staging", "versions", "m1.json"),
      await readFile(join(root, ROOT_PREFIX, "prod", "versions", "m1.json")),
    );
    await expect(store.getModelInfo("staging", "m1")).rejects.toMatchObject({ code: "INTEGRITY", message: expect.stringContaining('describes model "m1" of domain "prod"') });
    expect(await store.listModels("staging")).toEqual([]);

    await store.deleteModel("staging", "m1");
    expect(await store.listModelIds("staging")).toEqual([]);
    expect(await store.modelExists("prod", "m1")).toBe(true);
    expect(sha256(await collect(await store.getArchive("prod", "m1")))).toBe(original.archive.sha256);
  });

  it("answers getLatest from the version documents when latest.json is corrupt, and the next upload replaces it", async () => {
    const first = await store.upload("refunds", { files: model() });
    await writeFile(join(root, ROOT_PREFIX, "refunds", "latest.json"), "");
    expect((await store.getLatest("refunds")).model.model_id).toBe(first.model.model_id);
    const second = await store.upload("refunds", { files: model() });
    expect(JSON.parse(await readFile(join(root, ROOT_PREFIX, "refunds", "latest.json"), "utf8")).model.model_id).toBe(second.model.model_id);
  });

  it("keeps listing a domain that holds a corrupt document, and deleteModel and a cascading deleteTask remove it", async () => {
    const good = await store.upload("refunds", { files: model() });
    await writeFile(join(root, ROOT_PREFIX, "refunds", "versions", "broken.json"), "{ not json");
    await expect(store.getModelInfo("refunds", "broken")).rejects.toMatchObject({ code: "INTEGRITY" });
    expect((await store.listModels("refunds")).map((m) => m.model.model_id)).toEqual([good.model.model_id]);

    await store.deleteModel("refunds", "broken");
    expect((await store.listModelIds("refunds")).sort()).toEqual([good.model.model_id]);

    await writeFile(join(root, ROOT_PREFIX, "refunds", "versions", "broken.json"), "{ not json");
    await store.deleteTask("refunds", { cascade: true });
    expect(await store.listDomains()).toEqual([]);
  });
});

describe("leftovers of an upload whose process died", () => {
  it("an archive placeholder alone does not make a domain: not listed, and the default project still deletes by cascade", async () => {
    await store.upload("refunds", { files: model() });
    // What a killed first upload to "ghost" leaves: the empty placeholder that claimed its archive slot.
    await mkdir(join(root, ROOT_PREFIX, "ghost", "2026", "11", "24", "01:00:00"), { recursive: true });
    await writeFile(join(root, ROOT_PREFIX, "ghost", "2026", "11", "24", "01:00:00", "artifacts.tar.gz"), "");
    expect(await store.listDomains()).toEqual(["refunds"]);
    await store.deleteProject("default", { cascade: true });
    expect(await store.listDomains()).toEqual([]);
  });
});

describe("a commit whose answer was lost", () => {
  /** The memory backend, except that the first write of a version document lands but answers as if it had been there already (a retried create-only PUT whose first attempt landed). */
  function lostFirstAnswer(): Backend {
    const inner = memoryBackend();
    let lost = false;
    return Object.assign(Object.create(inner) as Backend, {
      async put(...args: Parameters<Backend["put"]>) {
        const result = await inner.put(...args);
        if (!lost && args[0].includes("/versions/")) {
          lost = true;
          throw Object.assign(new (await import("../../src/util/errors.ts")).AlreadyExistsError(`"${args[0]}" already exists.`));
        }
        return result;
      },
    });
  }

  it("recognises its own version document behind ALREADY_EXISTS: the upload succeeds, its archive stays and latest.json names it", async () => {
    const backend = lostFirstAnswer();
    const lossy = new ModelStore({ backend });
    const meta = await lossy.upload("refunds", { files: model() });
    expect((await lossy.getLatest("refunds")).model.model_id).toBe(meta.model.model_id);
    expect(sha256(await collect(await lossy.getArchive("refunds", meta.model.model_id)))).toBe(meta.archive.sha256);
  });

  it("still refuses a model id that someone else holds, and removes its own archive", async () => {
    const backend = memoryBackend();
    const shared = new ModelStore({ backend });
    await shared.upload("refunds", { files: model(), modelId: "taken" });
    // Uploaders that both checked before either wrote: the second finds the id taken at commit.
    const racing = new ModelStore({ backend, metadata: Object.assign(Object.create(shared.metadata), { getModel: async () => null }) });
    await expect(racing.upload("refunds", { files: model(), modelId: "taken" })).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    const archives: string[] = [];
    for await (const o of backend.list(`${ROOT_PREFIX}/refunds/`)) if (o.key.endsWith("artifacts.tar.gz")) archives.push(o.key);
    expect(archives).toHaveLength(1);
  });
});

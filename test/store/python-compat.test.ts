/**
 * Sharing a bucket with the Python modelstore, and documents that are not
 * what their key says: the store reads models the Python library uploaded
 * (no `archive` field, its own `created` format), writes `created` the way the
 * Python library parses it, refuses a document copied under another model's
 * key without acting on the model it names, and keeps listing a domain that
 * holds one corrupt document.
 */
import { spawnSync } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createdTime, formatCreated, ModelReader, ModelStore, scanArchives, type Backend } from "../../src/index.ts";
import { memoryBackend } from "../../src/backends/memory.ts";
import { downloadModel, fileSystemBackend } from "../../src/fs.ts";
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

const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), "../../../shared/fixtures/python-modelstore");

interface FixtureModel {
  domain: string;
  model_id: string;
  kind: string;
  made_by: { seq: number };
  deleted: boolean;
  archive_file: string;
  archive_members: { name: string; sha256: string }[];
  files_beside_archive: Record<string, string>;
  answers: { get_model_info: { ok: boolean; result?: Record<string, unknown> } };
}
interface Manifest {
  release: string;
  tz: string;
  calls: unknown[];
  summary: { list_domains: string[]; domains: Record<string, { list_models?: string[]; list_versions?: string[]; latest: string }>; deleted: string[] };
  models: FixtureModel[];
}

/** A copy of a store tree the real Python release wrote, in a temp dir (so it has moved from where it was written), and its manifest. */
async function pythonTree(release: string): Promise<{ root: string; manifest: Manifest }> {
  const manifest = JSON.parse(await readFile(join(FIXTURES, release, "MANIFEST.json"), "utf8")) as Manifest;
  const copy = join(root, `python-${release}`);
  await cp(join(FIXTURES, release, "store"), copy, { recursive: true });
  expect(spawnSync("chmod", ["-R", "u+w", copy]).status).toBe(0); // the fixtures are read-only
  // The checkout lost the times the documents were written at: give each version document back its upload's time (manifest "calls").
  const calls = manifest.calls as { seq: number; utc: string }[];
  for (const m of manifest.models.filter((m) => !m.deleted)) {
    const when = new Date(calls.find((c) => c.seq === m.made_by.seq)!.utc);
    await utimes(join(copy, ROOT_PREFIX, m.domain, "versions", `${m.model_id}.json`), when, when);
  }
  return { root: copy, manifest };
}

const listed = (m: Manifest, domain: string) => m.summary.domains[domain].list_models ?? m.summary.domains[domain].list_versions!;

for (const release of ["0.0.73", "0.0.81"]) {
  describe(`a store written by the Python modelstore ${release}, moved to another directory`, () => {
    let tree: { root: string; manifest: Manifest };
    let py: ModelStore;
    beforeEach(async () => {
      tree = await pythonTree(release);
      py = new ModelStore({ backend: fileSystemBackend({ root: tree.root }) });
    });

    it("lists the domains Python lists, and not its domains/ and model_states/ folders", async () => {
      expect(await py.listDomains()).toEqual([...tree.manifest.summary.list_domains].sort());
      for (const folder of ["domains", "model_states"]) {
        await expect(py.upload(folder, { files: model() }), folder).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("reserved") });
      }
    });

    it("lists each domain's models in the order Python lists them, and answers Python's latest", async () => {
      for (const domain of tree.manifest.summary.list_domains) {
        expect((await py.listModels(domain)).map((m) => m.model.model_id), domain).toEqual(listed(tree.manifest, domain));
        expect((await py.getLatest(domain)).model.model_id, domain).toBe(tree.manifest.summary.domains[domain].latest);
      }
    });

    it("ModelReader answers Python's latest and its documents, and sends reads of its unindexed archives to ModelStore", async () => {
      const reader = new ModelReader({ backend: fileSystemBackend({ root: tree.root }) });
      for (const domain of tree.manifest.summary.list_domains) {
        expect((await reader.getLatest(domain)).model.model_id, domain).toBe(tree.manifest.summary.domains[domain].latest);
      }
      for (const model of tree.manifest.models.filter((m) => !m.deleted)) {
        expect(await reader.getModelInfo(model.domain, model.model_id)).toEqual(await py.getModelInfo(model.domain, model.model_id));
        await expect(reader.readFile(model.domain, model.model_id, model.archive_members[0].name)).rejects.toMatchObject({ code: "NOT_SUPPORTED" });
      }
    });

    it("ModelReader with scan: scanArchives reads every file of Python's archives, and the extras 0.0.73 kept beside them", async () => {
      const reader = new ModelReader({ backend: fileSystemBackend({ root: tree.root }), scan: scanArchives });
      for (const model of tree.manifest.models.filter((m) => !m.deleted)) {
        for (const member of model.archive_members) {
          expect(sha256(await collect((await reader.readFile(model.domain, model.model_id, member.name))!)), member.name).toBe(member.sha256);
        }
        for (const [name, digest] of Object.entries(model.files_beside_archive)) {
          expect(sha256(await collect((await reader.readFile(model.domain, model.model_id, `extras/${name}`))!)), name).toBe(digest);
        }
        const listed = await reader.listFiles(model.domain, model.model_id);
        expect(listed.map((f) => [f.path, f.sha256])).toEqual(model.archive_members.map((m) => [m.name, m.sha256]));
        expect(await reader.readFile(model.domain, model.model_id, "missing.bin")).toBeNull();
      }
    });

    it("describes raw-file and scikit-learn models as Python's get_model_info does, model_type without `type` included", async () => {
      for (const model of tree.manifest.models.filter((m) => !m.deleted)) {
        const info = await py.getModelInfo(model.domain, model.model_id);
        // 0.0.81 answers with the stored document plus its left-out fields as null.
        const expected = JSON.parse(JSON.stringify(model.answers.get_model_info.result!, (_, v: unknown) => (v === null ? undefined : v)));
        expect(info.model.model_type).toEqual((expected.model as { model_type: unknown }).model_type);
        expect(info.code.created).toBe((expected.code as { created: string }).created);
        expect(info.storage).toEqual(expected.storage);
        expect(await py.modelExists(model.domain, model.model_id)).toBe(true);
      }
      const raw = tree.manifest.models.find((m) => m.kind === "raw-file" && !m.deleted)!;
      expect((await py.getModelInfo(raw.domain, raw.model_id)).model.model_type).toEqual({ library: "model_file" });
    });

    it("reads one file and downloads every model from the moved store, each file as Python archived it", async () => {
      for (const model of tree.manifest.models.filter((m) => !m.deleted)) {
        const [first] = model.archive_members;
        expect(sha256(await collect((await py.readFile(model.domain, model.model_id, first.name))!))).toBe(first.sha256);
        const dir = join(root, `download-${release}-${model.model_id}`);
        await downloadModel(py, model.domain, model.model_id, dir);
        for (const member of model.archive_members) expect(sha256(await readFile(join(dir, member.name))), member.name).toBe(member.sha256);
        // 0.0.73 stored extra files beside the archive: they read as extras/<name>, as 0.0.75+ archives them.
        for (const [name, digest] of Object.entries(model.files_beside_archive)) {
          expect(sha256(await collect((await py.readFile(model.domain, model.model_id, `extras/${name}`))!)), name).toBe(digest);
        }
      }
      expect(tree.manifest.models.some((m) => Object.keys(m.files_beside_archive).length > 0)).toBe(release === "0.0.73");
    });

    it("deletes a model with its archive and moves Python's pointer to the next newest", async () => {
      for (const domain of tree.manifest.summary.list_domains) {
        const [newest, next] = listed(tree.manifest, domain);
        const model = tree.manifest.models.find((m) => m.model_id === newest)!;
        await py.deleteModel(domain, newest);
        expect(await py.modelExists(domain, newest)).toBe(false);
        await expect(py.getModelInfo(domain, newest)).rejects.toMatchObject({ code: "NOT_FOUND", message: expect.stringContaining("was deleted") });
        await expect(stat(join(tree.root, model.archive_file))).rejects.toMatchObject({ code: "ENOENT" });
        for (const name of Object.keys(model.files_beside_archive)) {
          await expect(stat(join(tree.root, dirname(model.archive_file), name)), name).rejects.toMatchObject({ code: "ENOENT" });
        }
        expect((await py.listModels(domain)).map((m) => m.model.model_id)).toEqual(listed(tree.manifest, domain).slice(1));
        expect((await py.getLatest(domain)).model.model_id).toBe(next);
        const pointer = JSON.parse(await readFile(join(tree.root, ROOT_PREFIX, "domains", `${domain}.json`), "utf8"));
        expect(pointer.model.model_id).toBe(next);
        // Python 0.0.78+ reads this as "deleted": the document under versions/modelstore-deleted/.
        const tombstone = JSON.parse(await readFile(join(tree.root, ROOT_PREFIX, domain, "versions", "modelstore-deleted", `${newest}.json`), "utf8"));
        expect(tombstone.model.model_id).toBe(newest);
      }
      const deletedState = JSON.parse(await readFile(join(tree.root, ROOT_PREFIX, "model_states", "modelstore-deleted.json"), "utf8"));
      expect(deletedState).toMatchObject({ state_name: "modelstore-deleted" });
    });

    it("uploads into a Python domain: both pointers name the new model, and listing puts it first", async () => {
      const ours = await py.upload("sklearn", { files: model() });
      const ids = [ours.model.model_id, ...listed(tree.manifest, "sklearn")];
      expect((await py.listModels("sklearn")).map((m) => m.model.model_id)).toEqual(ids);
      expect((await py.getLatest("sklearn")).model.model_id).toBe(ours.model.model_id);
      for (const pointer of ["domains/sklearn.json", "sklearn/latest.json"]) {
        expect(JSON.parse(await readFile(join(tree.root, ROOT_PREFIX, pointer), "utf8")).model.model_id, pointer).toBe(ours.model.model_id);
      }
      await py.deleteModel("sklearn", ours.model.model_id);
      expect((await py.getLatest("sklearn")).model.model_id).toBe(tree.manifest.summary.domains.sklearn.latest);
      expect(JSON.parse(await readFile(join(tree.root, ROOT_PREFIX, "domains/sklearn.json"), "utf8")).model.model_id).toBe(tree.manifest.summary.domains.sklearn.latest);
    });
  });
}

describe("a domain shared with a Python uploader in America/New_York", () => {
  afterEach(() => vi.useRealTimers());

  for (const release of ["0.0.73", "0.0.81"]) {
    it(`orders a ${release} upload made after ours first, though its code.created (local time, no zone) reads hours earlier, and both pointers follow`, async () => {
      const { root: storeRoot, manifest } = await pythonTree(release);
      expect(manifest.tz).toBe("America/New_York");
      const [newest, older] = listed(manifest, "sklearn");
      const py = new ModelStore({ backend: fileSystemBackend({ root: storeRoot }) });
      // When they were made: code.created in New York (UTC-05:00 in December).
      const made = async (id: string) => createdTime((await py.getModelInfo("sklearn", id)).code.created) + 5 * 3600_000;
      const [olderAt, newestAt] = [await made(older), await made(newest)];
      expect(newestAt - olderAt).toBeGreaterThanOrEqual(1000);
      // Our upload half a second after the older one by the clock: between the two in time, hours after both by their code.created read as UTC.
      vi.useFakeTimers({ toFake: ["Date"] });
      vi.setSystemTime(new Date(olderAt + 500));
      const ours = await py.upload("sklearn", { files: model() });
      vi.useRealTimers();
      expect((await py.listModels("sklearn")).map((m) => m.model.model_id)).toEqual([newest, ours.model.model_id, older]);
      expect((await py.getLatest("sklearn")).model.model_id).toBe(newest);
      // Python's pointer stays on its newer model (only forward); latest.json, which Python never wrote, starts at ours and getLatest reads past it.
      expect(JSON.parse(await readFile(join(storeRoot, ROOT_PREFIX, "domains", "sklearn.json"), "utf8")).model.model_id).toBe(newest);
      // Deleting Python's newest leaves ours the latest, in both pointers.
      await py.deleteModel("sklearn", newest);
      expect((await py.getLatest("sklearn")).model.model_id).toBe(ours.model.model_id);
      for (const pointer of ["domains/sklearn.json", "sklearn/latest.json"]) {
        expect(JSON.parse(await readFile(join(storeRoot, ROOT_PREFIX, pointer), "utf8")).model.model_id, pointer).toBe(ours.model.model_id);
      }
    });
  }
});

describe("the Python modelstore 0.0.81's deleted model", () => {
  it("is not listed, does not exist, and getModelInfo says it was deleted", async () => {
    const { root: storeRoot, manifest } = await pythonTree("0.0.81");
    const py = new ModelStore({ backend: fileSystemBackend({ root: storeRoot }) });
    const [deleted] = manifest.summary.deleted;
    expect((await py.listModels("raw-files")).map((m) => m.model.model_id)).not.toContain(deleted);
    expect(await py.listModelIds("raw-files")).not.toContain(deleted);
    expect(await py.modelExists("raw-files", deleted)).toBe(false);
    await expect(py.getModelInfo("raw-files", deleted)).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: `Model "${deleted}" was deleted from domain "raw-files". List the domain's models with store.listModels("raw-files").`,
    });
  });
});

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

});

describe("what we write, as the Python modelstore 0.0.81 reads it", () => {
  // Summary.from_json (metadata/metadata.py) needs model.{domain, model_id, model_type.library},
  // storage.type, modelstore and code.{runtime, user, created, dependencies}; list_domains reads
  // domains/*.json and download() without an id reads domains/<domain>.json (storage/blob_storage.py).
  it("records every field Python's dataclasses require, model_type included, and Python's domain pointer", async () => {
    const meta = await store.upload("refunds", { files: model() });
    const stored = JSON.parse(await readFile(join(root, ROOT_PREFIX, "refunds", "versions", `${meta.model.model_id}.json`), "utf8"));
    expect(stored.model).toMatchObject({ domain: "refunds", model_id: meta.model.model_id, model_type: { library: "model_file" } });
    expect(stored.storage).toEqual({ type: "file_system", root, path: join(root, meta.storage.path!.slice(root.length)) });
    expect(typeof stored.modelstore).toBe("string");
    expect(stored.code).toMatchObject({ runtime: expect.any(String), user: expect.any(String), created: expect.stringMatching(PYTHON_STRPTIME), dependencies: expect.any(Object) });
    const pointer = JSON.parse(await readFile(join(root, ROOT_PREFIX, "domains", "refunds.json"), "utf8"));
    expect(pointer).toEqual(stored);
    const typed = await store.upload("refunds", { files: model(), modelType: { library: "onnx", type: "InferenceSession" } });
    expect(JSON.parse(await readFile(join(root, ROOT_PREFIX, "domains", "refunds.json"), "utf8")).model.model_type).toEqual({ library: "onnx", type: "InferenceSession" });
    expect(typed.model.model_type).toEqual({ library: "onnx", type: "InferenceSession" });
  });
});

describe('archiveLayout: "python"', () => {
  it("puts archives where the Python modelstore 0.0.77+ does, <%Y.%m.%d-%H.%M.%S>/<model-id>/, with no ':' in the key, and reads them back", async () => {
    const py = new ModelStore({ backend: fileSystemBackend({ root }), archiveLayout: "python" });
    const before = new Date();
    const meta = await py.upload("refunds", { files: model() });
    const rel = meta.storage.path!.slice(root.length + 1).split("/");
    expect(rel.slice(0, 2)).toEqual([ROOT_PREFIX, "refunds"]);
    expect(rel[2]).toMatch(/^\d{4}\.\d{2}\.\d{2}-\d{2}\.\d{2}\.\d{2}$/);
    expect(rel.slice(3)).toEqual([meta.model.model_id, "artifacts.tar.gz"]);
    expect(meta.storage.path).not.toContain(":");
    const [y, mo, d, h, mi, s] = rel[2].split(/[.-]/).map(Number);
    expect(Math.abs(Date.UTC(y, mo - 1, d, h, mi, s) - before.getTime())).toBeLessThan(5_000);
    // Any store reads it, whatever its own archiveLayout.
    expect(sha256(await collect((await store.readFile("refunds", meta.model.model_id, "weights.bin"))!))).toBe(sha256(model()[1].body));
    await store.deleteModel("refunds", meta.model.model_id);
    await expect(stat(meta.storage.path!)).rejects.toMatchObject({ code: "ENOENT" });
    expect(() => new ModelStore({ backend: fileSystemBackend({ root }), archiveLayout: "windows" as "python" })).toThrow(/archiveLayout must be/);
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

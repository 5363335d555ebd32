/**
 * listFiles() on archives without a table of contents: a model the Python
 * modelstore uploaded (archive by GNU tar, document without `archive`) is
 * listed by reading its archive, with each file's sha256 computed on the way.
 */
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { ModelStore } from "../../src/index.ts";
import { fileSystemBackend } from "../../src/fs.ts";
import { sha256, text } from "../support/bytes.ts";

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "modelstore-list-files-"));
});
afterEach(() => rm(root, { recursive: true, force: true }));

it("listFiles() lists a Python-uploaded model (no index) by scanning its archive: path, size and sha256", async () => {
  const created = "2026/11/23/18:01:07";
  const archivePath = join(root, "operatorai-model-store", "refunds", created, "artifacts.tar.gz");
  const source = join(root, "src");
  await mkdir(join(source, "sub"), { recursive: true });
  await writeFile(join(source, "model.joblib"), "python model");
  await writeFile(join(source, "sub", "vocab.txt"), "a\nb\n");
  await mkdir(join(archivePath, ".."), { recursive: true });
  expect(spawnSync("tar", ["czf", archivePath, "-C", source, "model.joblib", "sub"]).status).toBe(0);
  const doc = {
    model: { domain: "refunds", model_id: "py", model_type: { library: "sklearn", type: "LogisticRegression" } },
    storage: { type: "file_system", root, path: archivePath },
    modelstore: "0.0.81",
    code: { runtime: "python:3.10.12", user: "alice", created, dependencies: {} },
  };
  await mkdir(join(root, "operatorai-model-store", "refunds", "versions"), { recursive: true });
  await writeFile(join(root, "operatorai-model-store", "refunds", "versions", "py.json"), JSON.stringify(doc));
  await writeFile(join(root, "operatorai-model-store", "refunds", "latest.json"), JSON.stringify(doc));
  const store = new ModelStore({ backend: fileSystemBackend({ root }) });
  expect(await store.listFiles("refunds", "py")).toEqual([
    { path: "model.joblib", size: 12, sha256: sha256(text("python model")), mode: expect.any(Number) },
    { path: "sub/vocab.txt", size: 4, sha256: sha256(text("a\nb\n")), mode: expect.any(Number) },
  ]);
  expect(await store.listFiles("refunds", undefined)).toHaveLength(2);
});

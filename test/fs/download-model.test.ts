/** downloadModel into a directory that already holds files: refused, or replaced whole with `overwrite`. */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ModelStore, memoryBackend } from "../../src/index.ts";
import { downloadModel } from "../../src/fs.ts";

const encode = (text: string) => new TextEncoder().encode(text);

describe("downloadModel", () => {
  let base: string;
  let store: ModelStore;
  let first: string;
  let second: string;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), "modelstore-download-"));
    store = new ModelStore({ backend: memoryBackend() });
    first = (await store.upload("refunds", { files: [{ path: "weights.bin", body: encode("v1") }, { path: "old-only.txt", body: encode("stale") }] })).model.model_id;
    second = (await store.upload("refunds", { files: [{ path: "weights.bin", body: encode("v2") }] })).model.model_id;
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  const listing = async (dir: string) => (await readdir(dir)).sort();

  it("extracts into a new or empty directory", async () => {
    await mkdir(join(base, "empty"));
    await downloadModel(store, "refunds", second, join(base, "empty"));
    expect(await readFile(join(base, "empty/weights.bin"), "utf8")).toBe("v2");
    await downloadModel(store, "refunds", undefined, join(base, "new/nested"));
    expect(await listing(join(base, "new/nested"))).toEqual(["runtime-info.json", "weights.bin"]);
  });

  it("refuses a non-empty directory with ALREADY_EXISTS, leaving it as it was, instead of mixing two models", async () => {
    const dir = join(base, "model");
    await downloadModel(store, "refunds", first, dir);
    const error = await downloadModel(store, "refunds", second, dir).catch((e) => e);
    expect(error).toMatchObject({ code: "ALREADY_EXISTS" });
    expect(error.message).toContain("`overwrite: true`");
    expect(await readFile(join(dir, "weights.bin"), "utf8")).toBe("v1");
    expect(await listing(dir)).toEqual(["old-only.txt", "runtime-info.json", "weights.bin"]);
    // No staged directory is left beside it.
    expect(await listing(base)).toEqual(["model"]);
  });

  it("with overwrite, replaces the directory's contents whole: no stale file of the old model stays", async () => {
    const dir = join(base, "model");
    await downloadModel(store, "refunds", first, dir);
    await writeFile(join(dir, "mine.txt"), "not the model's");
    const result = await downloadModel(store, "refunds", second, dir, { overwrite: true });
    expect(result.dir).toBe(dir);
    expect(await listing(dir)).toEqual(["runtime-info.json", "weights.bin"]);
    expect(await readFile(join(dir, "weights.bin"), "utf8")).toBe("v2");
    expect(await listing(base)).toEqual(["model"]);
  });

  it("with overwrite, leaves the old contents in place when the download fails", async () => {
    const dir = join(base, "model");
    await downloadModel(store, "refunds", first, dir);
    // Corrupt the stored archive: verification fails before anything is swapped.
    const key = (await store.getModelInfo("refunds", second)).storage.prefix!;
    await store.backend.put(key, encode("not a gzip archive"));
    await expect(downloadModel(store, "refunds", second, dir, { overwrite: true })).rejects.toMatchObject({ code: "INTEGRITY" });
    expect(await readFile(join(dir, "weights.bin"), "utf8")).toBe("v1");
    expect(await listing(base)).toEqual(["model"]);
  });

  it("refuses a target that is a file with INVALID_ARGUMENT", async () => {
    await writeFile(join(base, "file"), "x");
    await expect(downloadModel(store, "refunds", second, join(base, "file"), { overwrite: true })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});

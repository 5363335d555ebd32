/** The local JSON repository under real concurrency: separate processes, one file. */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { local, localMetadata } from "../../src/fs.ts";
import { collect, sha256 } from "../support/bytes.ts";
import { fakeModel } from "./contract.ts";

const run = promisify(execFile);
let work: string;
let child: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "modelstore-local-procs-"));
  // The child runs the current sources, bundled, not whatever dist/ holds.
  child = join(work, "push-models.mjs");
  await build({ entryPoints: [join(import.meta.dirname, "fixtures/push-models.ts")], bundle: true, platform: "node", format: "esm", outfile: child, logLevel: "error", external: ["postgres"] });
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe("local JSON metadata across processes", () => {
  it("two processes pushing to one store at once lose no model", async () => {
    const dir = join(work, "store");
    const perWriter = 25;
    await Promise.all(["a", "b"].map((writer) => run(process.execPath, [child, dir, writer, String(perWriter)], { timeout: 120_000 })));
    const store = await local(dir);
    const models = await store.listModels("refunds");
    expect(models.map((m) => m.model.model_id).sort()).toEqual(
      ["a", "b"].flatMap((w) => Array.from({ length: perWriter }, (_, i) => `${w}-${i}`)).sort(),
    );
    expect((await store.getLatest("refunds")).model.model_id).toBe(models[0].model.model_id);
    for (const meta of models.slice(0, 5)) {
      expect(sha256(await collect(await store.getArchive("refunds", meta.model.model_id)))).toBe(meta.archive!.sha256);
    }
    // Every write replaced the file whole: it parses, and no temp or lock file is left over.
    const doc = JSON.parse(await readFile(join(dir, "metadata.json"), "utf8"));
    expect(Object.keys(doc.models.refunds)).toHaveLength(2 * perWriter);
    const { readdir } = await import("node:fs/promises");
    expect((await readdir(dir)).sort()).toEqual(["metadata.json", "operatorai-model-store"]);
  });

  it("a second repository on the same file sees the first one's writes at once", async () => {
    const path = join(work, "shared", "metadata.json");
    const one = localMetadata({ path });
    const two = localMetadata({ path });
    await one.addModel(fakeModel("refunds", "m1"));
    expect((await two.latestModel("refunds"))?.model.model_id).toBe("m1");
    await two.addModel(fakeModel("refunds", "m2", "2999-01-01T00:00:00.000Z"));
    expect((await one.latestModel("refunds"))?.model.model_id).toBe("m2");
  });

  it("a corrupt metadata file fails with IntegrityError that says how to recover", async () => {
    const path = join(work, "corrupt.json");
    await writeFile(path, '{"version": 1, "projects": {');
    await expect(localMetadata({ path }).listTasks()).rejects.toMatchObject({ code: "INTEGRITY", message: expect.stringContaining("not valid JSON") });
    await writeFile(path, '{"something": "else"}');
    await expect(localMetadata({ path }).addModel(fakeModel("refunds", "m1"))).rejects.toMatchObject({ code: "INTEGRITY" });
    expect(await readFile(path, "utf8")).toBe('{"something": "else"}'); // a failed change leaves the file alone
  });

  it("a lock left by a crashed process is broken once stale", async () => {
    const dir = join(work, "stale");
    const path = join(dir, "metadata.json");
    await localMetadata({ path }).ensureProject("payments");
    await writeFile(join(dir, ".metadata.json.lock"), "");
    const { utimes } = await import("node:fs/promises");
    const old = new Date(Date.now() - 60_000);
    await utimes(join(dir, ".metadata.json.lock"), old, old);
    await localMetadata({ path, staleLockMs: 10_000 }).ensureProject("analytics");
    expect((await localMetadata({ path }).listProjects()).map((p) => p.name)).toEqual(["analytics", "default", "payments"]);
  });
});

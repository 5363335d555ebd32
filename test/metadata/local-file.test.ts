import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { localMetadata } from "../../src/node/local-metadata.ts";
import { describe, expect, it } from "vitest";
import { fakeModel, runMetadataContract } from "./contract.ts";

runMetadataContract("local JSON file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "modelstore-meta-local-"));
  return { repository: localMetadata({ path: join(dir, "metadata.json") }), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe("a hand-edited metadata.json", () => {
  it("is refused with the broken entry named, instead of handing out a model without its fields", async () => {
    const dir = await mkdtemp(join(tmpdir(), "modelstore-meta-local-"));
    try {
      const path = join(dir, "metadata.json");
      const repository = localMetadata({ path });
      await repository.addModel(fakeModel("d", "good"));
      const state = JSON.parse(await readFile(path, "utf8"));
      state.models.d.broken = { model: { domain: "d" } };
      await writeFile(path, JSON.stringify(state));
      await expect(repository.latestModel("d")).rejects.toMatchObject({
        code: "INTEGRITY",
        message: expect.stringContaining('The entry for model "broken" of task "d"'),
      });
      state.models.d.broken = { ...state.models.d.good, model: { ...state.models.d.good.model, model_id: "other" } };
      await writeFile(path, JSON.stringify(state));
      await expect(repository.getModel("d", "good")).rejects.toMatchObject({ message: expect.stringContaining('describes model "other"') });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

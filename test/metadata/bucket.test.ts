import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryBackend } from "../../src/backends/memory.ts";
import { fileSystemBackend } from "../../src/fs.ts";
import { bucketMetadata } from "../../src/metadata/bucket.ts";
import { describe, expect, it } from "vitest";
import { encodeMetadata, ModelStore } from "../../src/index.ts";
import { fakeModel, runMetadataContract } from "./contract.ts";

runMetadataContract("bucket layout on the memory backend", async () => ({ repository: bucketMetadata({ backend: memoryBackend() }) }));

runMetadataContract("bucket layout on the file-system backend", async () => {
  const root = await mkdtemp(join(tmpdir(), "modelstore-meta-bucket-"));
  return { repository: bucketMetadata({ backend: fileSystemBackend({ root }) }), cleanup: () => rm(root, { recursive: true, force: true }) };
});

describe("bucket layout with projects", () => {
  const keys = async (backend: ReturnType<typeof memoryBackend>, prefix = "") => {
    const out: string[] = [];
    for await (const o of backend.list(prefix)) out.push(o.key);
    return out;
  };

  it("reads a store written without projects as tasks of the default project, and adds documents only for other projects", async () => {
    const backend = memoryBackend();
    // A store as the Python modelstore (or this library before projects) writes it.
    const old = fakeModel("refunds", "v1", "2024-01-01T00:00:00.000Z");
    await backend.put("operatorai-model-store/refunds/versions/v1.json", encodeMetadata(old));
    await backend.put("operatorai-model-store/refunds/latest.json", encodeMetadata(old));
    const repo = bucketMetadata({ backend });
    expect(await repo.listTasks()).toEqual([{ name: "refunds", project: "default" }]);
    expect((await repo.latestModel("refunds"))?.model.model_id).toBe("v1");

    await repo.addModel(fakeModel("refunds", "v2", "2024-02-01T00:00:00.000Z"));
    expect(await keys(backend, "operatorai-model-store/.projects/")).toEqual([]); // still the Python layout exactly

    await repo.addModel(fakeModel("chargebacks", "c1"), { project: "payments" });
    expect(await keys(backend, "operatorai-model-store/.projects/")).toEqual([
      "operatorai-model-store/.projects/payments.json",
      "operatorai-model-store/.projects/payments/chargebacks.json",
    ]);
    expect(await repo.listTasks()).toEqual([
      expect.objectContaining({ name: "chargebacks", project: "payments" }),
      { name: "refunds", project: "default" },
    ]);
    expect((await repo.latestModel("refunds"))?.model.model_id).toBe("v2");
  });

  it("never lists the .projects documents as a domain, and refuses .projects as a name", async () => {
    const backend = memoryBackend();
    const store = new ModelStore({ backend });
    await store.ensureTask("refunds", { project: "payments" });
    expect(await store.listDomains()).toEqual(["refunds"]);
    await expect(store.upload(".projects", { files: [] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("reserved") });
  });
});

/**
 * `latest.json` after deletes that race uploads and other deletes. The races
 * are made exact by a backend that runs a step of the other party just before
 * a given write of this one reaches the (memory) backend.
 */
import { describe, expect, it } from "vitest";
import { ModelStore, type Backend } from "../../src/index.ts";
import { memoryBackend } from "../../src/backends/memory.ts";
import { text } from "../support/bytes.ts";

type Step = { when: (method: "put" | "delete", key: string, options: Parameters<Backend["put"]>[2]) => boolean; run: () => Promise<unknown> };

/** The memory backend, running `step.run()` once, right before the first write `step.when` picks. */
function interleaving(): Backend & { before(step: Step): void } {
  const inner = memoryBackend();
  let step: Step | undefined;
  const take = async (method: "put" | "delete", key: string, options?: Parameters<Backend["put"]>[2]) => {
    if (step?.when(method, key, options)) {
      const run = step.run;
      step = undefined;
      await run();
    }
  };
  return Object.assign(Object.create(inner) as Backend, {
    before: (next: Step) => void (step = next),
    async put(...args: Parameters<Backend["put"]>) {
      await take("put", args[0], args[2]);
      return inner.put(...args);
    },
    async delete(...args: Parameters<Backend["delete"]>) {
      await take("delete", args[0]);
      return inner.delete(...args);
    },
  });
}

const files = (s: string) => [{ path: "m.json", body: text(s) }];

describe("deleteModel racing other writers", () => {
  it("puts latest.json back when an upload advanced it just before the delete of the last model removed it", async () => {
    const backend = interleaving();
    const store = new ModelStore({ backend });
    await store.upload("d", { files: files("x"), modelId: "X" });
    backend.before({ when: (method, key) => method === "delete" && key.endsWith("/latest.json"), run: () => store.upload("d", { files: files("y"), modelId: "Y" }) });
    await store.deleteModel("d", "X");
    expect((await store.listModels("d")).map((m) => m.model.model_id)).toEqual(["Y"]);
    expect((await store.getLatest("d")).model.model_id).toBe("Y");
  });

  it("does not leave latest.json on a model that a concurrent delete removed while it was chosen as the replacement", async () => {
    const backend = interleaving();
    const store = new ModelStore({ backend });
    await store.upload("d", { files: files("w"), modelId: "W" });
    await store.upload("d", { files: files("x"), modelId: "X" });
    expect((await store.getLatest("d")).model.model_id).toBe("X");
    // X's repair picks W; W is deleted (latest still says X, so W's own repair does nothing) before the swap lands.
    backend.before({ when: (method, key, options) => method === "put" && key.endsWith("/latest.json") && options?.ifMatch !== undefined, run: () => store.deleteModel("d", "W") });
    await store.deleteModel("d", "X");
    expect(await store.listModels("d")).toEqual([]);
    await expect(store.getLatest("d")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

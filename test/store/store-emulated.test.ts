import { describe, expect, it } from "vitest";
import { memoryBackend } from "../../src/backends/memory.ts";
import { ModelStore } from "../../src/index.ts";
import { collect, sha256, text } from "../support/bytes.ts";
import { emulatedConditionalBackend } from "../support/emulated-backend.ts";
import { interceptPuts } from "../support/intercept-backend.ts";
import { runStoreSuite } from "./store-suite.ts";

// Every store behaviour where create-only and compare-and-swap are only emulated.
runStoreSuite("memory with emulated conditional writes", async () => ({
  backend: emulatedConditionalBackend(memoryBackend(), { checkToWriteMs: () => Math.random() * 5 }),
}));

describe("archive slots where create-only writes are emulated", () => {
  it("uploads in the same second whose claims land long after each other's checks all stay readable", async () => {
    // Each write lands up to 600 ms after its check: longer than any read-back pause, as on a loaded machine.
    const backend = emulatedConditionalBackend(memoryBackend(), { checkToWriteMs: () => Math.random() * 600 });
    const store = new ModelStore({ backend });
    const uploads = await Promise.all(
      Array.from({ length: 12 }, (_, i) => store.upload("refunds", { files: [{ path: "model.json", body: text(`{"n": ${i}}`) }] })),
    );
    expect(new Set(uploads.map((m) => m.storage.prefix)).size).toBe(uploads.length);
    for (const meta of uploads) {
      expect(meta.storage.prefix).toContain(`/${meta.model.model_id}/artifacts.tar.gz`);
      expect(sha256(await collect(await store.getArchive("refunds", meta.model.model_id)))).toBe(meta.archive.sha256);
    }
    expect(await store.listModels("refunds")).toHaveLength(uploads.length);
  });
});

describe("archive slots where create-only writes are enforced", () => {
  it("a burst of uploads tries a few seconds at most, then takes keys with the model id", async () => {
    let refused = 0;
    const backend = interceptPuts(memoryBackend(), async (key, put) => {
      try {
        return await put();
      } catch (error) {
        if (key.endsWith("artifacts.tar.gz")) refused++;
        throw error;
      }
    });
    const store = new ModelStore({ backend });
    const uploads = await Promise.all(
      Array.from({ length: 10 }, (_, i) => store.upload("refunds", { files: [{ path: "model.json", body: text(`{"n": ${i}}`) }] })),
    );
    const keys = uploads.map((m) => m.storage.prefix!);
    expect(new Set(keys).size).toBe(uploads.length);
    const withId = uploads.filter((m) => m.storage.prefix!.endsWith(`/${m.model.model_id}/artifacts.tar.gz`));
    expect(withId.length).toBeGreaterThanOrEqual(uploads.length - 3); // at most three seconds' slots were claimed
    expect(refused).toBeLessThanOrEqual(uploads.length * 3); // never more than three claims each
    for (const meta of uploads) expect(sha256(await collect(await store.getArchive("refunds", meta.model.model_id)))).toBe(meta.archive.sha256);
  });
});

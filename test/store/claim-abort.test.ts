/**
 * An upload aborted while its archive slot claim is in flight: the claim may
 * land on the server after the client gave up. The upload takes it back (it
 * names the upload's model), and never deletes another upload's claim.
 */
import { describe, expect, it } from "vitest";
import { AbortedError, ModelStore, memoryBackend } from "../../src/index.ts";
import { interceptPuts } from "../support/intercept-backend.ts";

const keysUnder = async (backend: ReturnType<typeof memoryBackend>, prefix: string) => {
  const keys: string[] = [];
  for await (const object of backend.list(prefix)) keys.push(object.key);
  return keys;
};
const files = [{ path: "w.bin", body: new Uint8Array([1, 2, 3]), size: 3 }];

describe("an archive slot claim whose answer is lost", () => {
  it("is taken back when the upload is aborted in flight", async () => {
    const backend = memoryBackend();
    const controller = new AbortController();
    const store = new ModelStore({
      backend: interceptPuts(backend, async (key, put) => {
        if (!key.endsWith("artifacts.tar.gz")) return put();
        await put(); // the server stored the claim...
        controller.abort(); // ...but the client was aborted before the answer came
        throw new AbortedError("aborted in flight");
      }),
    });
    await expect(store.upload("refunds", { files, signal: controller.signal })).rejects.toMatchObject({ code: "ABORTED" });
    expect(await keysUnder(backend, "operatorai-model-store/refunds/")).toEqual([]);
  });

  it("is taken back when the server stores it only after the client gave up", async () => {
    const backend = memoryBackend();
    const controller = new AbortController();
    let landed: Promise<unknown> | undefined;
    const store = new ModelStore({
      backend: interceptPuts(backend, async (key, put) => {
        if (!key.endsWith("artifacts.tar.gz")) return put();
        controller.abort(); // the client gives up at once...
        // ...and the server stores the claim (it names the upload's model) 100 ms later.
        const claim = new TextEncoder().encode("modelstore upload claim late-claim\n");
        landed = new Promise((resolve) => setTimeout(resolve, 100)).then(() => backend.put(key, claim, { ifNoneMatch: "*" }));
        throw new AbortedError("aborted in flight");
      }),
    });
    await expect(store.upload("refunds", { files, modelId: "late-claim", signal: controller.signal })).rejects.toMatchObject({ code: "ABORTED" });
    await landed;
    expect(await keysUnder(backend, "operatorai-model-store/refunds/")).toEqual([]);
  });

  it("leaves another upload's claim alone when its own claim failed", async () => {
    const backend = memoryBackend();
    let other: string | undefined;
    const store = new ModelStore({
      backend: interceptPuts(backend, async (key, put) => {
        if (!key.endsWith("artifacts.tar.gz") || other) return put();
        // Another upload claims the slot first, then this claim fails on the wire.
        other = key;
        await backend.put(key, new TextEncoder().encode("modelstore upload claim someone-else\n"), { ifNoneMatch: "*" });
        throw new Error("connection reset");
      }),
    });
    await expect(store.upload("refunds", { files })).rejects.toThrow("connection reset");
    expect(await keysUnder(backend, "operatorai-model-store/refunds/")).toEqual([other]);
  });
});

/**
 * Checks of the R2 binding backend that run inside workerd, on the Worker's
 * own `env.MODELS` (Miniflare's local R2): a whole model's round trip with a
 * multipart archive, the binding's conditional writes, and racing uploads.
 */
import { ModelStore } from "../../src/index.ts";
import { r2Backend, type R2BucketBinding } from "../../src/r2.ts";
import { assert, assertBytesEqual, assertEqual, bytesOf, noise, storeRoundTrip, type Check, type ExpectedRuntime } from "./checks.ts";

const MiB = 1024 * 1024;

async function rejectsWith(promise: Promise<unknown>, code: string, what: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: { code?: string }) => e,
  );
  assertEqual(error?.code, code, what);
}

export function r2Checks(bucket: R2BucketBinding | undefined, expected: ExpectedRuntime): Check[] {
  const prefix = `rt-r2-${Date.now().toString(36)}`;
  const backend = () => {
    assert(bucket, "No R2 binding: the worker needs an R2 bucket bound as MODELS (Miniflare's r2Buckets).");
    return r2Backend({ bucket, partSize: 5 * MiB });
  };
  return [
    {
      name: "R2 binding: a model is listed, latest, readable file by file (a multipart archive), and gone after deleteModel()",
      async run() {
        const store = new ModelStore({ backend: backend(), rootPrefix: prefix });
        assertEqual(store.backend.name, "r2", "backend name");
        await storeRoundTrip(store, "r2-refunds", expected, 6 * MiB);
      },
    },
    {
      name: "R2 binding: ranged reads, prefix listing, and create-only and compare-and-swap puts enforced by R2",
      async run() {
        const r2 = backend();
        const body = noise(10_000, 3);
        const first = await r2.put(`${prefix}/raw/a.bin`, body, { ifNoneMatch: "*" });
        await rejectsWith(r2.put(`${prefix}/raw/a.bin`, body, { ifNoneMatch: "*" }), "ALREADY_EXISTS", "a second create-only put");
        assertBytesEqual(await bytesOf(await r2.get(`${prefix}/raw/a.bin`, { range: { offset: 100, length: 50 } })), body.slice(100, 150), "ranged get");
        const second = await r2.put(`${prefix}/raw/a.bin`, noise(10, 4), { ifMatch: first.etag });
        assert(second.etag !== first.etag, "the etag changes on a swap");
        await rejectsWith(r2.put(`${prefix}/raw/a.bin`, body, { ifMatch: first.etag }), "CONFLICT", "a swap from a stale etag");
        const keys: string[] = [];
        for await (const object of r2.list(`${prefix}/raw/`)) keys.push(object.key);
        assertEqual(keys, [`${prefix}/raw/a.bin`], "list()");
        await r2.delete(`${prefix}/raw/a.bin`);
        assertEqual(await r2.head(`${prefix}/raw/a.bin`), null, "head() after delete()");
      },
    },
    {
      name: "R2 binding: four uploads at once all land, each listed, and latest names one of them",
      async run() {
        const store = new ModelStore({ backend: backend(), rootPrefix: `${prefix}-race` });
        const uploads = await Promise.all(
          [1, 2, 3, 4].map((i) => store.upload("r2-race", { files: [{ path: "weights.bin", body: noise(20_000, i) }] })),
        );
        const ids = uploads.map((m) => m.model.model_id).sort();
        assertEqual((await store.listModels("r2-race")).map((m) => m.model.model_id).sort(), ids, "every upload is listed");
        assert(ids.includes((await store.getLatest("r2-race")).model.model_id), "latest names one of the uploads");
        for (const id of ids) await store.deleteModel("r2-race", id);
      },
    },
  ];
}

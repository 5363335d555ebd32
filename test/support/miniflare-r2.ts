/**
 * A real R2 bucket binding for tests run on Node: Miniflare starts workerd
 * with a local R2 bucket, and `getR2Bucket()` hands Node a proxy whose every
 * call is served by workerd's own R2 implementation (the one a Worker's
 * `env.MODELS` uses locally). Storage is in memory and gone on `stop()`.
 */
import { Miniflare } from "miniflare";
import type { R2BucketBinding } from "../../src/r2.ts";
import { COMPATIBILITY_DATE } from "../runtimes/workerd/compat.ts";

export interface R2Fixture {
  bucket: R2BucketBinding;
  /** Deletes every object, so the next test starts with an empty bucket. */
  empty(): Promise<void>;
  stop(): Promise<void>;
}

export async function startR2(): Promise<R2Fixture> {
  const mf = new Miniflare({
    modules: true,
    script: "export default { fetch() { return new Response('r2 test worker'); } };",
    compatibilityDate: COMPATIBILITY_DATE,
    r2Buckets: ["MODELS"],
  });
  const bucket = (await mf.getR2Bucket("MODELS")) as unknown as R2BucketBinding;
  return {
    bucket,
    async empty() {
      for (;;) {
        const page = await bucket.list({ limit: 1000 });
        if (page.objects.length === 0) return;
        await bucket.delete(page.objects.map((object) => object.key));
      }
    },
    stop: () => mf.dispose(),
  };
}

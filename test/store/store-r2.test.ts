import { afterAll, beforeAll } from "vitest";
import { r2Backend } from "../../src/r2.ts";
import { startR2, type R2Fixture } from "../support/miniflare-r2.ts";
import { runStoreSuite } from "./store-suite.ts";

let r2: R2Fixture;
beforeAll(async () => {
  r2 = await startR2();
}, 120_000);
afterAll(() => r2?.stop());

// workerd's R2 enforces onlyIf, so the same-second uploads race on latest.json with real conditional writes.
runStoreSuite("R2 binding (workerd via Miniflare)", async () => {
  await r2.empty();
  return { backend: r2Backend({ bucket: r2.bucket, partSize: 5 * 1024 * 1024 }) };
});

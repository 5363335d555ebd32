import { afterAll, beforeAll } from "vitest";
import { createContainer, useAzurite, type AzuriteServer } from "../support/azurite-server.ts";
import { runStoreSuite } from "./store-suite.ts";

let server: AzuriteServer;
beforeAll(async () => {
  server = await useAzurite();
}, 120_000);
afterAll(() => server?.stop());

// A container per test: every store test starts empty. Azurite enforces If-None-Match / If-Match,
// so the concurrent-upload test races on latest.json with real conditional writes.
runStoreSuite("Azure Blob (Azurite, conditional writes enforced)", async () => {
  const { backend } = await createContainer(server, "store", { blockSize: 256 * 1024 });
  return { backend };
});

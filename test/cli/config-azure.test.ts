/** The CLI reaches Azure Blob by `--storage azure-container` and the Python library's variables. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeFromSettings } from "../../src/cli/config.ts";
import { usage } from "../../src/cli/help.ts";
import { createContainer, useAzurite, type AzuriteServer } from "../support/azurite-server.ts";

let server: AzuriteServer;
beforeAll(async () => {
  server = await useAzurite();
}, 120_000);
afterAll(() => server?.stop());

describe("CLI storage azure-container", () => {
  it("opens a store on the container MODEL_STORE_AZURE_CONTAINER names, with AZURE_STORAGE_CONNECTION_STRING", async () => {
    const { name, backend } = await createContainer(server, "cli");
    await backend.put("models/operatorai-model-store/refunds/latest.json", new TextEncoder().encode("{}"));
    const env = {
      MODEL_STORE_AZURE_CONTAINER: name,
      MODEL_STORE_AZURE_ROOT_PREFIX: "models/operatorai-model-store",
      AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${server.account};AccountKey=${server.accountKey};BlobEndpoint=${server.endpoint};`,
    };
    const store = await storeFromSettings({ storage: "azure-container" }, env);
    expect(store.layout.root).toBe("models/operatorai-model-store");
    expect(await store.listDomains()).toEqual(["refunds"]);
    // The same through MODEL_STORE_STORAGE and the account variables Azure's tools read.
    const viaAccount = await storeFromSettings({}, {
      MODEL_STORE_STORAGE: "azure-container",
      MODEL_STORE_AZURE_CONTAINER: name,
      MODEL_STORE_AZURE_ROOT_PREFIX: "models/operatorai-model-store",
      AZURE_STORAGE_ACCOUNT: server.account,
      AZURE_STORAGE_KEY: server.accountKey,
    });
    expect(viaAccount.layout.root).toBe("models/operatorai-model-store");
  });

  it("is listed in the help with its variables", () => {
    for (const text of ["azure-container", "MODEL_STORE_AZURE_CONTAINER", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN"]) {
      expect(usage()).toContain(text);
    }
  });
});

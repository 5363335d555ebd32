/**
 * Checks of the Azure Blob backend that run in each runtime (Deno, Bun,
 * workerd) against the runner's Azurite: SharedKey signing on the runtime's
 * WebCrypto, block uploads, conditional writes the service enforces, and a
 * SAS URL a plain fetch downloads.
 */
import { ModelStore } from "../../src/index.ts";
import { azureBackend, type AzureBackend } from "../../src/azure.ts";
import { DEV_ACCOUNT, DEV_KEY } from "../../src/backends/azure/azure-auth.ts";
import { createSha256 } from "../../src/digest/sha256.ts";
import { assert, assertBytesEqual, assertEqual, bytesOf, noise, sampleModel, storeRoundTrip, type Check, type ExpectedRuntime } from "./checks.ts";

const MiB = 1024 * 1024;

/** The runner's Azurite endpoint (`http://127.0.0.1:<port>/devstoreaccount1`) from AZURITE_BLOB_ENDPOINT, or undefined. */
export function azuriteFromEnv(env: Record<string, string | undefined>): string | undefined {
  return env.AZURITE_BLOB_ENDPOINT || undefined;
}

let containers = 0;

/** A new container on Azurite and a backend on it (1 MiB blocks, so small models still go as blocks). */
async function newContainer(endpoint: string, label: string): Promise<AzureBackend> {
  const container = `${label}-${Date.now().toString(36)}-${++containers}`;
  const backend = azureBackend({ container, endpoint, account: DEV_ACCOUNT, accountKey: DEV_KEY, blockSize: MiB });
  // Create Container is a signed PUT ?restype=container: the backend's own signer does it.
  const response = await (backend as unknown as { request: (...a: unknown[]) => Promise<Response> }).request("create container", "PUT", undefined, { query: { restype: "container" } });
  assertEqual(response.status, 201, `Create Container ${container}`);
  return backend;
}

export function azureChecks(endpoint: string | undefined, expected: ExpectedRuntime): Check[] {
  const need = (): string => {
    assert(endpoint, "No Azurite: run the runtime suites with `npm run test:runtimes`, which starts one and sets AZURITE_BLOB_ENDPOINT.");
    return endpoint;
  };
  return [
    {
      name: "Azure Blob: a model is listed, latest, readable file by file (a block upload), and gone after deleteModel()",
      async run() {
        const backend = await newContainer(need(), `rt-${expected.name}`);
        assertEqual(backend.name, "azure", "backend name");
        await storeRoundTrip(new ModelStore({ backend }), "azure-refunds", expected, 3 * MiB);
      },
    },
    {
      name: "Azure Blob: create-only and compare-and-swap enforced by the service, ranged reads, and a SAS URL a plain fetch downloads",
      async run() {
        const backend = await newContainer(need(), `rt-${expected.name}-cas`);
        const body = noise(5000, 9);
        const first = await backend.put("raw/a.bin", body, { ifNoneMatch: "*" });
        const again = await backend.put("raw/a.bin", body, { ifNoneMatch: "*" }).then(() => undefined, (e: { code?: string }) => e.code);
        assertEqual(again, "ALREADY_EXISTS", "a second create-only put");
        await backend.put("raw/a.bin", noise(10, 1), { ifMatch: first.etag });
        const stale = await backend.put("raw/a.bin", body, { ifMatch: first.etag }).then(() => undefined, (e: { code?: string }) => e.code);
        assertEqual(stale, "CONFLICT", "a swap from a stale etag");
        await backend.put("raw/b.bin", body);
        assertBytesEqual(await bytesOf(await backend.get("raw/b.bin", { range: { offset: 10, length: 20 } })), body.slice(10, 30), "ranged get");
        const store = new ModelStore({ backend });
        const meta = await store.upload("sas-refunds", { files: sampleModel(20_000).files() });
        const signed = await store.signedUrl("sas-refunds", undefined, { expiresIn: 300 });
        const response = await fetch(signed.url);
        assertEqual(response.status, 200, "GET of the SAS URL");
        const hash = createSha256();
        hash.update(new Uint8Array(await response.arrayBuffer()));
        assertEqual(hash.hexDigest(), meta.archive.sha256, "sha256 of the SAS URL's bytes");
      },
    },
  ];
}

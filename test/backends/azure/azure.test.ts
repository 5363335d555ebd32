/**
 * The Azure Blob backend against Azurite on 127.0.0.1 (npm, started by the test):
 * the contract suite with real conditional writes, block uploads, a wrong key.
 */
import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { azureBackend, type AzureBackendOptions } from "../../../src/azure.ts";
import { parseConnectionString, DEV_ACCOUNT } from "../../../src/backends/azure/azure-auth.ts";
import { azureBackendFromEnv } from "../../../src/backends/azure/azure-env.ts";
import { AlreadyExistsError, BackendError, ConflictError } from "../../../src/util/errors.ts";
import { createContainer, useAzurite, type AzuriteServer } from "../../support/azurite-server.ts";
import { bytes, collect, runBackendContract, text } from "../contract.ts";
import { xmlElements, xmlText } from "../../../src/util/xml.ts";

let server: AzuriteServer;
let container: string;

beforeAll(async () => {
  server = await useAzurite();
  container = (await createContainer(server, "contract")).name;
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

function backend(extra: Partial<AzureBackendOptions> = {}) {
  const b = azureBackend({ container, endpoint: server.endpoint, account: server.account, accountKey: server.accountKey, ...extra });
  (b as unknown as { backoffMs: number }).backoffMs = 5;
  return b;
}

runBackendContract("azure (Azurite)", async () => ({ backend: backend({ blockSize: 64 * 1024 }) }), { manyKeys: 5010, conditionalWrites: true });

/** A body that gives five 1 KiB blocks, then fails: a block upload staged halfway. */
function brokenAfterBlocks(): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent > 4096) return c.error(new Error("source broke"));
      c.enqueue(new Uint8Array(1024));
      sent += 1024;
    },
  });
}

describe("azureBackend on Azurite", () => {
  it("records locations as the Python modelstore does: azure:blob-storage {container, prefix}", () => {
    const b = backend();
    expect(b.name).toBe("azure");
    expect(b.locate("root/x.tar.gz")).toEqual({ type: "azure:blob-storage", container, prefix: "root/x.tar.gz" });
    expect(b.keyOf({ type: "azure:blob-storage", container, prefix: "root/x.tar.gz" })).toBe("root/x.tar.gz");
    expect(() => b.keyOf({ type: "azure:blob-storage", container: "other", prefix: "x" })).toThrow(/not in Azure container/);
    expect(() => b.keyOf({ type: "aws:s3", bucket: container, prefix: "x" })).toThrow(/not in Azure container/);
  });

  it("uploads a stream as staged blocks committed together, and reads ranges of it", async () => {
    const b = backend({ blockSize: 1024, concurrency: 3 });
    const data = new Uint8Array(10_000).map((_, i) => (i * 7) % 251);
    let i = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (i >= data.length) return c.close();
        c.enqueue(data.subarray(i, i + 333));
        i += 333;
      },
    });
    const info = await b.put("blocks/one", stream);
    expect(info.size).toBe(10_000);
    const whole = new Uint8Array(await new Response(await b.get("blocks/one")).arrayBuffer());
    expect(whole).toEqual(data);
    const part = new Uint8Array(await new Response(await b.get("blocks/one", { range: { offset: 5000, length: 100 } })).arrayBuffer());
    expect(part).toEqual(data.subarray(5000, 5100));
  });

  it("leaves nothing visible when a block upload's source fails", async () => {
    const b = backend({ blockSize: 1024 });
    const failing = brokenAfterBlocks();
    await expect(b.put("blocks/failed", failing)).rejects.toThrow(/source broke/);
    expect(await b.head("blocks/failed")).toBeNull();
    expect(await collect(b.list("blocks/failed"))).toEqual([]);
  });

  it("collectGarbage deletes blobs of uncommitted blocks a failed upload left, only once older than `before`, and reports them", async () => {
    const prefix = `gc-${Date.now().toString(36)}/`;
    const b = backend({ blockSize: 1024 });
    const failing = brokenAfterBlocks();
    await expect(b.put(`${prefix}failed`, failing)).rejects.toThrow(/source broke/);
    await b.put(`${prefix}kept`, new Uint8Array(10));
    const uncommitted = async () => {
      const response = await (b as unknown as { request: (...a: unknown[]) => Promise<Response> }).request("LIST", "GET", undefined, {
        query: { restype: "container", comp: "list", prefix, include: "uncommittedblobs" },
      });
      return xmlElements(await response.text(), "Blob").map((blob) => xmlText(blob, "Name"));
    };
    expect((await uncommitted()).sort()).toEqual([`${prefix}failed`, `${prefix}kept`]);
    // Younger than `before`: a write that may still be running, left alone.
    expect(await collect(b.collectGarbage!(prefix, { before: new Date(Date.now() - 60_000) }))).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // Last-Modified has whole seconds
    const dry = await collect(b.collectGarbage!(prefix, { before: new Date(), dryRun: true }));
    expect(dry).toEqual([{ kind: "uncommitted-blocks", key: `${prefix}failed`, lastModified: expect.any(String) }]);
    expect(await uncommitted()).toContain(`${prefix}failed`);
    await collect(b.collectGarbage!(prefix, { before: new Date() }));
    expect(await uncommitted()).toEqual([`${prefix}kept`]);
  });

  it("refuses create-only and stale compare-and-swap writes of block blobs with the service's own checks", async () => {
    const b = backend({ blockSize: 1024 });
    const first = await b.put("blocks/cas", new Uint8Array(3000), { ifNoneMatch: "*" });
    await expect(b.put("blocks/cas", new Uint8Array(3000), { ifNoneMatch: "*" })).rejects.toBeInstanceOf(AlreadyExistsError);
    const second = await b.put("blocks/cas", new Uint8Array(2500), { ifMatch: first.etag });
    await expect(b.put("blocks/cas", new Uint8Array(2500), { ifMatch: first.etag })).rejects.toBeInstanceOf(ConflictError);
    expect((await b.head("blocks/cas"))?.etag).toBe(second.etag);
  });

  it("fails with a clear error that names no secret when the account key is wrong", async () => {
    const wrongKey = btoa("not the right key at all, sixty-four bytes long, more or less....");
    const b = backend({ accountKey: wrongKey, retries: 0 });
    const error = await b.put("x", bytes("y")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    const message = (error as Error).message;
    expect((error as BackendError).status).toBe(403);
    expect(message).toMatch(/AuthenticationFailed|AuthorizationFailure/);
    expect(message).toMatch(/account key/);
    expect(message).not.toContain(wrongKey);
    expect(message).not.toContain(server.accountKey);
    expect(message).not.toMatch(/SharedKey/);
  });

  it("reads connection strings, UseDevelopmentStorage=true included, and the environment", async () => {
    expect(parseConnectionString("UseDevelopmentStorage=true")).toMatchObject({ account: DEV_ACCOUNT, endpoint: "http://127.0.0.1:10000/devstoreaccount1" });
    const cs = `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${server.accountKey};BlobEndpoint=${server.endpoint};`;
    const b = azureBackendFromEnv({ MODEL_STORE_AZURE_CONTAINER: container, AZURE_STORAGE_CONNECTION_STRING: cs });
    await b.put("env/x", bytes("hello"));
    expect(await text(await b.get("env/x"))).toBe("hello");
    const c = azureBackendFromEnv({ MODEL_STORE_AZURE_CONTAINER: container, AZURE_STORAGE_ACCOUNT: DEV_ACCOUNT, AZURE_STORAGE_KEY: server.accountKey }, { endpoint: server.endpoint });
    expect(await text(await c.get("env/x"))).toBe("hello");
    expect(() => azureBackendFromEnv({})).toThrow(/MODEL_STORE_AZURE_CONTAINER/);
  });
});

describe("azureBackend with a SAS token", () => {
  /** An account SAS (https://learn.microsoft.com/rest/api/storageservices/create-account-sas), signed here with node:crypto. */
  function accountSas(permissions: string): string {
    const fields = {
      sv: "2021-08-06",
      ss: "b",
      srt: "sco",
      sp: permissions,
      se: new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, "Z"),
      spr: "https,http",
    };
    const toSign = [server.account, fields.sp, fields.ss, fields.srt, "", fields.se, "", fields.spr, fields.sv, "", ""].join("\n");
    const sig = createHmac("sha256", Buffer.from(server.accountKey, "base64")).update(toSign, "utf8").digest("base64");
    return new URLSearchParams({ ...fields, sig }).toString();
  }

  it("reads and writes with the token appended to each request, and keeps it out of errors", async () => {
    const sas = accountSas("rwdlac");
    const b = azureBackend({ container, endpoint: server.endpoint, sasToken: `?${sas}` });
    await b.put("sas/x", bytes("via sas"));
    expect(await text(await b.get("sas/x"))).toBe("via sas");
    expect((await collect(b.list("sas/"))).map((i) => i.key)).toEqual(["sas/x"]);
    const readOnly = azureBackend({ container, endpoint: server.endpoint, sasToken: accountSas("rl"), retries: 0 });
    const error = await readOnly.put("sas/y", bytes("no")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as BackendError).status).toBe(403);
    expect((error as Error).message).not.toContain("sig=");
    expect((error as Error).message).not.toContain(new URLSearchParams(sas).get("sig")!);
  });
});

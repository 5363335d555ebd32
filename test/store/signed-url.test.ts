import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inMemory, ModelStore } from "../../src/index.ts";
import type { Backend } from "../../src/backends/backend.ts";
import { azureBackend } from "../../src/azure.ts";
import { createContainer, useAzurite, type AzuriteServer } from "../support/azurite-server.ts";
import { useCephServer } from "../support/ceph-server.ts";
import { backendOn, createBucket, useS3Server, type S3Server } from "../support/s3-server.ts";
import { noise, sha256 } from "../support/bytes.ts";

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Uploads a model of random bytes and returns its store and id. */
async function storeWithModel(backend: Backend): Promise<{ store: ModelStore; id: string }> {
  const store = new ModelStore({ backend });
  const meta = await store.upload("refunds", { files: [{ path: "weights.bin", body: noise(300_000) }] });
  return { store, id: meta.model.model_id };
}

/** The tests every signing backend passes: a plain fetch downloads the archive, until it expires. */
function signedUrlSuite(name: string, makeBackend: () => Promise<Backend>): void {
  describe(`signedUrl (${name})`, () => {
    it("a plain fetch of the URL downloads the archive's exact bytes", async () => {
      const { store, id } = await storeWithModel(await makeBackend());
      const info = await store.getModelInfo("refunds", id);
      const signed = await store.signedUrl("refunds", undefined, { expiresIn: 300 });
      expect(signed.modelId).toBe(id);
      expect(signed.sha256).toBe(info.archive!.sha256);
      expect(Date.parse(signed.expiresAt) - Date.now()).toBeGreaterThan(290_000);
      const response = await fetch(signed.url);
      expect(response.status).toBe(200);
      const body = new Uint8Array(await response.arrayBuffer());
      expect(body.byteLength).toBe(info.archive!.size);
      expect(sha256(body)).toBe(info.archive!.sha256);
    });

    it("the URL is refused once expired, and with a wrong signature", async () => {
      const { store, id } = await storeWithModel(await makeBackend());
      const signed = await store.signedUrl("refunds", id, { expiresIn: 1 });
      // A signature that is not the one the server computes is refused: the URL is really checked.
      const tampered = new URL(signed.url);
      const param = tampered.searchParams.has("sig") ? "sig" : "X-Amz-Signature";
      const signature = tampered.searchParams.get(param)!;
      tampered.searchParams.set(param, (signature[0] === "A" ? "B" : "A") + signature.slice(1));
      expect((await fetch(tampered)).status).toBe(403);
      expect((await fetch(signed.url)).status).toBe(200);
      await wait(2500);
      const late = await fetch(signed.url);
      expect(late.status).toBeGreaterThanOrEqual(400);
      expect(late.status).toBeLessThan(500);
    });
  });
}

describe("signedUrl on Swift, RGW and Azurite", () => {
  let swift: S3Server;
  let rgw: S3Server;
  let azurite: AzuriteServer;
  beforeAll(async () => {
    [swift, rgw, azurite] = await Promise.all([useS3Server(), useCephServer(), useAzurite()]);
  }, 300_000);
  afterAll(async () => {
    await Promise.all([swift?.stop(), rgw?.stop(), azurite?.stop()]);
  });

  signedUrlSuite("S3, Swift", async () => backendOn(swift, await createBucket(swift, "sign")));
  signedUrlSuite("S3, Ceph RGW", async () => backendOn(rgw, await createBucket(rgw, "sign")));
  signedUrlSuite("Azure, Azurite", async () => (await createContainer(azurite, "sign")).backend);

  it("Azure with only a SAS token cannot sign: NOT_SUPPORTED, and the token is not in the message", async () => {
    const { name } = await createContainer(azurite, "sas");
    const backend = azureBackend({ container: name, endpoint: azurite.endpoint, sasToken: "sv=2022-11-02&sig=SECRETSIG" });
    const error = await backend.signedUrl("a/artifacts.tar.gz", { expiresIn: 60 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "NOT_SUPPORTED" });
    expect(String((error as Error).message)).not.toContain("SECRETSIG");
  });
});

describe("signedUrl where it cannot be signed", () => {
  it("the memory backend answers NOT_SUPPORTED and says what to do instead", async () => {
    const store = inMemory();
    await store.upload("refunds", { files: [{ path: "a.txt", body: new TextEncoder().encode("a") }] });
    const error = await store.signedUrl("refunds", undefined, { expiresIn: 60 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "NOT_SUPPORTED" });
    expect((error as Error).message).toContain("getArchive");
  });

  it("expiresIn out of range and id with state are INVALID_ARGUMENT, before any request", async () => {
    const store = inMemory();
    for (const expiresIn of [0, -5, 1.5, 604_801, Number.NaN]) {
      await expect(store.signedUrl("refunds", undefined, { expiresIn })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    }
    await expect(store.signedUrl("refunds", "some-id", { expiresIn: 60, state: "production" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});

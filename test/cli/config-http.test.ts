/** The CLI reads a store served over plain HTTP by `--storage http` and MODEL_STORE_HTTP_URL, and refuses writes. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeFromSettings } from "../../src/cli/config.ts";
import { fileSystemBackend } from "../../src/fs.ts";
import { ModelStore, type ModelMetadata } from "../../src/index.ts";
import { startStaticServer, type StaticServer } from "../support/static-server.ts";
import { collect, text } from "../support/bytes.ts";

let dir: string;
let server: StaticServer;
let uploaded: ModelMetadata;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelstore-cli-http-"));
  uploaded = await new ModelStore({ backend: fileSystemBackend({ root: dir }) }).upload("refunds", { files: [{ path: "config.json", body: text('{"a": 1}') }] });
  server = await startStaticServer(dir);
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("CLI storage http", () => {
  it("reads the latest model and its files from MODEL_STORE_HTTP_URL, by --storage or MODEL_STORE_STORAGE", async () => {
    for (const store of [
      await storeFromSettings({ storage: "http" }, { MODEL_STORE_HTTP_URL: server.url }),
      await storeFromSettings({}, { MODEL_STORE_STORAGE: "http", MODEL_STORE_HTTP_URL: server.url }),
    ]) {
      expect(store.backend.name).toBe("http");
      const latest = await store.getLatest("refunds");
      expect(latest.model.model_id).toBe(uploaded.model.model_id);
      expect(new TextDecoder().decode(await collect((await store.readFile("refunds", undefined, "config.json"))!))).toBe('{"a": 1}');
      await expect(store.upload("refunds", { files: [{ path: "x", body: text("x") }] })).rejects.toMatchObject({ code: "NOT_SUPPORTED" });
    }
  });

  it("without MODEL_STORE_HTTP_URL says which variable to set", async () => {
    await expect(storeFromSettings({ storage: "http" }, {})).rejects.toThrow(/MODEL_STORE_HTTP_URL/);
  });
});

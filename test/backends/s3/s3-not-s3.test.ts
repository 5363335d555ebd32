/**
 * An `endpoint` that is not an S3 API: a real HTTP server on 127.0.0.1 answering
 * every request with a web page, as a web site, a console URL or a proxy's error
 * page does. The store must say so, naming the endpoint, instead of reporting "no
 * models" or a corrupt document to delete.
 */
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelStore } from "../../../src/index.ts";
import { s3Backend } from "../../../src/s3.ts";
import { xmlRootName } from "../../../src/util/xml.ts";
import { createBucket, useS3Server, type S3Server } from "../../support/s3-server.ts";

const PAGE = "<!DOCTYPE html>\n<html><head><title>Welcome to our site</title></head><body><h1>It works!</h1></body></html>";

/**
 * A web server: "catch-all" answers 200 with the page to every method and path (a
 * single-page app, a captive portal); "site" answers 200 at "/" and 404 with an HTML
 * page elsewhere (nginx's default site).
 */
async function webServer(mode: "catch-all" | "site" | "bad-gateway"): Promise<{ server: Server; endpoint: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      requests.push(`${req.method} ${req.url}`);
      const found = mode === "catch-all" || req.url === "/";
      const status = mode === "bad-gateway" ? 502 : found ? 200 : 404;
      const body = status === 200 ? PAGE : PAGE.replace("Welcome to our site", status === 502 ? "502 Bad Gateway" : "404 Not Found");
      res.writeHead(status, { "content-type": "text/html; charset=utf-8", "content-length": Buffer.byteLength(body) });
      res.end(req.method === "HEAD" ? undefined : body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no address");
  return { server, endpoint: `http://127.0.0.1:${address.port}`, requests };
}

function storeAt(endpoint: string): ModelStore {
  const backend = s3Backend({ bucket: "models", endpoint, region: "us-east-1", credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "not-a-real-secret" } });
  (backend as unknown as { transport: { backoffMs: number } }).transport.backoffMs = 1;
  return new ModelStore({ backend });
}

const model = { files: [{ path: "weights.bin", body: new Uint8Array([1, 2, 3]) }] };

describe.each(["catch-all", "site"] as const)("a web server (%s) as the S3 endpoint", (mode) => {
  let web: Awaited<ReturnType<typeof webServer>>;
  let store: ModelStore;

  beforeAll(async () => {
    web = await webServer(mode);
    store = storeAt(web.endpoint);
  });
  afterAll(() => new Promise<void>((resolve) => web.server.close(() => resolve())));

  const calls: [string, (store: ModelStore) => Promise<unknown>][] = [
    ["listDomains", (s) => s.listDomains()],
    ["listModels", (s) => s.listModels("refunds")],
    ["listModelIds", (s) => s.listModelIds("refunds")],
    ["getLatest", (s) => s.getLatest("refunds")],
    ["getModelInfo", (s) => s.getModelInfo("refunds", "3f2c0e1a-0000-4000-8000-000000000000")],
    ["modelExists", (s) => s.modelExists("refunds", "3f2c0e1a-0000-4000-8000-000000000000")],
    ["upload", (s) => s.upload("refunds", model)],
    ["deleteModel", (s) => s.deleteModel("refunds", "3f2c0e1a-0000-4000-8000-000000000000")],
  ];

  it.each(calls)("%s fails with BACKEND naming the endpoint, and never advises deleting anything", async (_, call) => {
    const error = await call(store).then(
      (value) => ({ resolved: value }),
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: "BACKEND", backend: "s3" });
    const message = (error as Error).message;
    expect(message).toContain(web.endpoint);
    expect(message).toContain("not S3's");
    expect(message).toContain("text/html");
    expect(message).not.toMatch(/delete|corrupt/i);
    expect(message).not.toContain("not-a-real-secret");
  });

  it("upload() writes nothing: at most its first request is a write, and its web page stops the upload", async () => {
    web.requests.length = 0;
    await expect(storeAt(web.endpoint).upload("refunds", model)).rejects.toMatchObject({ code: "BACKEND" });
    expect(web.requests.filter((r) => /^(PUT|POST)/.test(r)).length).toBeLessThanOrEqual(1);
  });
});

it("a proxy's 502 page is retried, then named as the proxy's and not S3's", async () => {
  const web = await webServer("bad-gateway");
  try {
    const error = await storeAt(web.endpoint).listDomains().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "BACKEND", status: 502 });
    expect((error as Error).message).toContain(`not S3's from ${web.endpoint}: 502 text/html ("502 Bad Gateway")`);
    expect((error as Error).message).toContain("retry later");
    expect(web.requests.length).toBeGreaterThan(1);
  } finally {
    await new Promise<void>((resolve) => web.server.close(() => resolve()));
  }
});

it("xmlRootName reads the root element past the prolog, and HTML as html", () => {
  expect(xmlRootName(`<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)).toBe("ListBucketResult");
  expect(xmlRootName(`\uFEFF<!-- generated --><?pi x?>\n  <s3:Error/>`)).toBe("Error");
  expect(xmlRootName("   \n<CompleteMultipartUploadResult>")).toBe("CompleteMultipartUploadResult");
  expect(xmlRootName(PAGE)).toBe("html");
  expect(xmlRootName('{"message":"Forbidden"}')).toBeUndefined();
  expect(xmlRootName("")).toBeUndefined();
});

describe("the modelstore CLI against a web server", () => {
  let web: Awaited<ReturnType<typeof webServer>>;
  let work: string;
  let bin: string;

  beforeAll(async () => {
    web = await webServer("catch-all");
    work = await mkdtemp(join(tmpdir(), "modelstore-not-s3-cli-"));
    bin = join(work, "modelstore.mjs");
    await build({
      entryPoints: [fileURLToPath(new URL("../../../src/cli/main.ts", import.meta.url))],
      bundle: true,
      platform: "node",
      format: "esm",
      outfile: bin,
      logLevel: "silent",
    });
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => web.server.close(() => resolve()));
    await rm(work, { recursive: true, force: true });
  });

  it("`modelstore domains` exits 1 and says the endpoint is not S3, instead of printing nothing", async () => {
    // Not spawnSync: the web server answers from this process's event loop.
    const env = {
      ...process.env,
      MODEL_STORE_STORAGE: "aws-s3",
      MODEL_STORE_AWS_BUCKET: "models",
      AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
      AWS_SECRET_ACCESS_KEY: "not-a-real-secret",
      AWS_REGION: "us-east-1",
      AWS_ENDPOINT_URL_S3: web.endpoint,
    };
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [bin, "domains"], { cwd: work, env, timeout: 30_000 }, (_, stdout, stderr) =>
        resolve({ code: child.exitCode, stdout, stderr }),
      );
    });
    expect(result.stdout).toBe("");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(web.endpoint);
    expect(result.stderr).toContain("not S3's");
  });
});

describe("a real S3 server serving web pages as objects", () => {
  let server: S3Server;
  let bucket: string;

  beforeAll(async () => {
    server = await useS3Server();
    bucket = await createBucket(server, "html");
  });
  afterAll(() => server.stop());

  it("still reads, heads and lists an object stored as text/html", async () => {
    const options = { bucket, endpoint: server.endpoint, region: server.region, credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey } };
    await s3Backend(options).put("site/index.html", new TextEncoder().encode(PAGE), { contentType: "text/html" });
    const fresh = s3Backend(options);
    expect(await new Response(await fresh.get("site/index.html")).text()).toBe(PAGE);
    expect(await fresh.head("site/index.html")).toMatchObject({ size: PAGE.length });
    const keys: string[] = [];
    for await (const object of fresh.list("site/")) keys.push(object.key);
    expect(keys).toEqual(["site/index.html"]);
  });
});

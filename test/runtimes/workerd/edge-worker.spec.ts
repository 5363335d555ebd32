/**
 * examples/edge-worker in workerd (Miniflare): on the R2 bucket its
 * wrangler.toml binds (Miniflare's local R2), and against the local S3 server
 * with no binding, with the compatibility date and vars of its wrangler.toml.
 * Models are uploaded from Node first; the worker reaches Swift through a
 * counting proxy, so the tests see every request and every byte it read.
 */
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { createServer, request as httpRequest, type Server } from "node:http";
import { dirname, resolve } from "node:path";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleWorker, READ_ONLY_ENTRY, WORKER_ENTRY } from "../../../examples/edge-worker/build.mjs";
import { ModelStore, type ModelMetadata } from "../../../src/index.ts";
import { s3Backend } from "../../../src/s3.ts";
import { r2Backend, type R2BucketBinding } from "../../../src/r2.ts";
import { createBucket, useS3Server, type S3Server } from "../../support/s3-server.ts";
import { COMPATIBILITY_DATE } from "./compat.ts";
import { sha256 } from "../../support/bytes.ts";

const MiB = 1024 * 1024;
const BIG = 150 * MiB; // over a worker's 128 MB of memory

/**
 * wrangler.toml's top-level settings and its [vars]. It holds only `key = "string"`
 * lines and comments, so this is all of TOML it needs (no parser dependency).
 */
function wranglerToml(path: string): { top: Record<string, string>; vars: Record<string, string>; r2Buckets: Record<string, string>[] } {
  const top: Record<string, string> = {};
  const vars: Record<string, string> = {};
  const r2Buckets: Record<string, string>[] = [];
  let section = top;
  for (const raw of readFileSync(path, "utf8").split("\n")) {
    const line = raw.replace(/^\s*#.*$/, "").trim();
    if (!line) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      if (header[1] !== "vars") throw new Error(`${path}: this reader knows [vars] only, not [${header[1]}]`);
      section = vars;
      continue;
    }
    const table = /^\[\[(\w+)\]\]$/.exec(line);
    if (table) {
      if (table[1] !== "r2_buckets") throw new Error(`${path}: this reader knows [[r2_buckets]] only, not [[${table[1]}]]`);
      r2Buckets.push((section = {}));
      continue;
    }
    const pair = /^([\w-]+)\s*=\s*"([^"]*)"$/.exec(line);
    if (!pair) throw new Error(`${path}: cannot read ${JSON.stringify(raw)}`);
    section[pair[1]] = pair[2];
  }
  return { top, vars, r2Buckets };
}
const WRANGLER = resolve(dirname(WORKER_ENTRY), "wrangler.toml");
const wrangler = wranglerToml(WRANGLER);
const config = new TextEncoder().encode(JSON.stringify({ architecture: "logistic-regression", threshold: 0.5 }));

/** A proxy that forwards to `target` and counts the response bytes of each request. */
async function countingProxy(target: string) {
  const upstream = new URL(target);
  const requests: { method: string; path: string; bytes: number }[] = [];
  const server: Server = createServer((req, res) => {
    const record = { method: req.method ?? "", path: decodeURIComponent(req.url ?? ""), bytes: 0 };
    requests.push(record);
    const forward = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.on("data", (chunk: Buffer) => (record.bytes += chunk.length));
      answer.pipe(res);
      // The worker hung up (it had the file it wanted): stop reading from S3 too.
      res.on("close", () => answer.destroy());
    });
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const endpoint = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  return { endpoint, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** `size` zero bytes in 1 MiB chunks, never all in memory at once. */
function zeros(size: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= size) return controller.close();
      const chunk = new Uint8Array(Math.min(MiB, size - sent));
      sent += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
}

let server: S3Server;
let proxy: Awaited<ReturnType<typeof countingProxy>>;
let mf: Miniflare;
let small: ModelMetadata;
let big: ModelMetadata;
let inProduction: ModelMetadata;
let bucketName: string;
let uploader: ModelStore;

beforeAll(async () => {
  server = await useS3Server();
  const bucket = await createBucket(server, "edge");
  const credentials = { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey };
  const store = new ModelStore({ backend: s3Backend({ bucket, endpoint: server.endpoint, region: server.region, credentials }) });
  bucketName = bucket;
  uploader = store;
  small = await store.upload("refunds", {
    files: [
      { path: "config.json", body: config },
      { path: "weights.bin", body: new Uint8Array(64 * 1024).fill(7) },
    ],
  });
  // Stored, not deflated (level 0), so the archive really is bigger than a worker's memory;
  // one small file comes first and one after the weights, where only the index finds it without reading on.
  big = await store.upload("big", {
    files: [
      { path: "config.json", body: config },
      { path: "weights.bin", body: zeros(BIG), size: BIG },
      { path: "zz-tokenizer.json", body: config },
    ],
    archive: { level: 0 },
  });
  // A domain whose production model is not its newest.
  const productionConfig = new TextEncoder().encode('{"stage": "production"}');
  inProduction = await store.upload("fraud", { files: [{ path: "config.json", body: productionConfig }] });
  await store.upload("fraud", { files: [{ path: "config.json", body: config }] });
  await store.createModelState("production");
  await store.setModelState("fraud", inProduction.model.model_id, "production");
  proxy = await countingProxy(server.endpoint);
  const { code } = await bundleWorker(WORKER_ENTRY);
  mf = new Miniflare({
    modules: [{ type: "ESModule", path: "worker.mjs", contents: code }],
    compatibilityDate: wrangler.top.compatibility_date,
    bindings: {
      ...wrangler.vars,
      S3_ENDPOINT: proxy.endpoint,
      S3_BUCKET: bucket,
      S3_REGION: server.region,
      AWS_ACCESS_KEY_ID: server.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
    },
  });
}, 300_000);

afterAll(async () => {
  await mf?.dispose();
  await proxy?.close();
  await server?.stop();
});

/** Fetches from the worker; returns the response and the S3 requests it caused. */
async function get(path: string, headers: Record<string, string> = {}) {
  const before = proxy.requests.length;
  const response = await mf.dispatchFetch(`http://models.example${path}`, { headers });
  const body = new Uint8Array(await response.arrayBuffer());
  // Let the proxy see the worker hang up before counting.
  await new Promise((resolve) => setTimeout(resolve, 200));
  return { response, body, s3: proxy.requests.slice(before) };
}

const json = (body: Uint8Array) => JSON.parse(new TextDecoder().decode(body));
const archiveKeyOf = (meta: ModelMetadata) => `/${meta.storage.prefix}`;

describe("examples/edge-worker in workerd, on the R2 bucket wrangler.toml binds", () => {
  it("serves the latest model and its files out of R2, with ranges, uploaded through the same binding", async () => {
    const { code } = await bundleWorker(WORKER_ENTRY);
    const r2mf = new Miniflare({
      modules: [{ type: "ESModule", path: "worker.mjs", contents: code }],
      compatibilityDate: wrangler.top.compatibility_date,
      bindings: wrangler.vars,
      r2Buckets: Object.fromEntries(wrangler.r2Buckets.map((b) => [b.binding, b.bucket_name])),
    });
    try {
      const bucket = (await r2mf.getR2Bucket("MODELS")) as unknown as R2BucketBinding;
      const meta = await new ModelStore({ backend: r2Backend({ bucket }) }).upload("refunds", {
        files: [
          { path: "config.json", body: config },
          { path: "weights.bin", body: new Uint8Array(64 * 1024).fill(9) },
        ],
      });
      const latest = await r2mf.dispatchFetch("http://models.example/models/refunds/latest");
      expect(latest.status).toBe(200);
      expect(((await latest.json()) as ModelMetadata).model.model_id).toBe(meta.model.model_id);
      const file = await r2mf.dispatchFetch("http://models.example/models/refunds/latest/files/config.json");
      expect(file.headers.get("etag")).toBe(`"${sha256(config)}"`);
      expect(new Uint8Array(await file.arrayBuffer())).toEqual(config);
      const part = await r2mf.dispatchFetch("http://models.example/models/refunds/latest/files/weights.bin", { headers: { range: "bytes=10-19" } });
      expect(part.status).toBe(206);
      expect(part.headers.get("content-range")).toBe(`bytes 10-19/${64 * 1024}`);
      expect(new Uint8Array(await part.arrayBuffer())).toEqual(new Uint8Array(10).fill(9));
    } finally {
      await r2mf.dispose();
    }
  });
});

describe("examples/edge-worker in workerd", () => {
  it("wrangler.toml deploys worker.ts with the compatibility date workerd runs it with here, and binds the R2 bucket", () => {
    expect(resolve(dirname(WRANGLER), wrangler.top.main)).toBe(WORKER_ENTRY);
    expect(wrangler.top.compatibility_date).toBe(COMPATIBILITY_DATE);
    expect(wrangler.r2Buckets).toEqual([{ binding: "MODELS", bucket_name: expect.any(String) }]);
    expect(wrangler.vars.S3_BUCKET).toBeTruthy();
  });

  it("worker.ts imports the package by the name package.json gives it, as an app would", () => {
    const { name } = JSON.parse(readFileSync(resolve(dirname(WORKER_ENTRY), "../../package.json"), "utf8")) as { name: string };
    const specifiers = [...readFileSync(WORKER_ENTRY, "utf8").matchAll(/^import\b[^;]*?\sfrom\s+"([^"]+)"/gm)].map((m) => m[1]);
    expect(specifiers.length).toBeGreaterThan(0);
    expect(specifiers.filter((s) => s !== name && !s.startsWith(`${name}/`))).toEqual([]);
  });

  it("GET /models/:domain/latest answers the latest metadata with the model id as ETag, reading both latest pointers and one listing of versions/", async () => {
    const { response, body, s3 } = await get("/models/refunds/latest");
    expect(response.status).toBe(200);
    expect(json(body).model.model_id).toBe(small.model.model_id);
    expect(response.headers.get("etag")).toBe(`"${small.model.model_id}"`);
    expect(response.headers.get("cache-control")).toMatch(/max-age=\d+/);
    // Our latest.json, the Python library's domains/<domain>.json, and the listing that finds version
    // documents newer than either (a crashed upload's): the three go in parallel.
    expect(s3.map((r) => `${r.method} ${r.path.replace(/^\/[^/?]+/, "")}`).sort()).toEqual([
      expect.stringMatching(/^GET \/\?list-type=2&prefix=operatorai-model-store\/refunds\/versions\/&/),
      "GET /operatorai-model-store/domains/refunds.json",
      "GET /operatorai-model-store/refunds/latest.json",
    ]);
  });

  it("GET /models/:domain/latest/files/:path streams the file byte-identical with its sha256 as ETag", async () => {
    const { response, body } = await get("/models/refunds/latest/files/config.json");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("etag")).toBe(`"${sha256(config)}"`);
    expect(response.headers.get("accept-ranges")).toBe("bytes");
    expect(body).toEqual(config);
    // The file's length is declared, so a response cut short is seen as cut (asked without transport
    // compression, which workerd applies to JSON and which replaces Content-Length with its own framing).
    const identity = await get("/models/refunds/latest/files/config.json", { "accept-encoding": "identity" });
    expect(identity.response.headers.get("content-length")).toBe(String(config.length));
    const weights = await get("/models/refunds/latest/files/weights.bin");
    expect(weights.response.headers.get("content-length")).toBe(String(64 * 1024));
    expect(weights.body).toEqual(new Uint8Array(64 * 1024).fill(7));
  });

  it("a Range is answered with 206 and its Content-Range; a suffix range too; past the end is 416", async () => {
    const weights = new Uint8Array(64 * 1024).fill(7);
    const part = await get("/models/refunds/latest/files/config.json", { range: "bytes=2-9" });
    expect(part.response.status).toBe(206);
    expect(part.response.headers.get("content-range")).toBe(`bytes 2-9/${config.length}`);
    expect(part.response.headers.get("content-length")).toBe("8");
    expect(part.body).toEqual(config.subarray(2, 10));
    const tail = await get("/models/refunds/latest/files/config.json", { range: "bytes=-5" });
    expect(tail.response.status).toBe(206);
    expect(tail.response.headers.get("content-range")).toBe(`bytes ${config.length - 5}-${config.length - 1}/${config.length}`);
    expect(tail.body).toEqual(config.subarray(config.length - 5));
    const open = await get("/models/refunds/latest/files/weights.bin", { range: "bytes=65000-" });
    expect(open.response.headers.get("content-range")).toBe(`bytes 65000-65535/65536`);
    expect(open.body).toEqual(weights.subarray(65000));
    const past = await get("/models/refunds/latest/files/config.json", { range: `bytes=${config.length}-` });
    expect(past.response.status).toBe(416);
    expect(past.response.headers.get("content-range")).toBe(`bytes */${config.length}`);
  });

  it("a Range in a file after 150 MiB of weights reads under 1 MiB of the archive", async () => {
    const { response, body, s3 } = await get("/models/big/latest/files/zz-tokenizer.json", { range: "bytes=0-3" });
    expect(response.status).toBe(206);
    expect(body).toEqual(config.subarray(0, 4));
    expect(s3.filter((r) => r.path.endsWith(archiveKeyOf(big))).reduce((n, r) => n + r.bytes, 0)).toBeLessThan(MiB);
  });

  it("If-None-Match with the file's sha256 gets 304 after reading only the index", async () => {
    const { response, s3 } = await get("/models/refunds/latest/files/config.json", { "if-none-match": `"${sha256(config)}"` });
    expect(response.status).toBe(304);
    expect(response.headers.get("etag")).toBe(`"${sha256(config)}"`);
    expect(s3.filter((r) => r.path.endsWith(archiveKeyOf(small)))).toHaveLength(1);
  });

  it("a matching If-None-Match gets 304 without touching the archive", async () => {
    const { response, s3 } = await get("/models/refunds/latest/files/config.json", { "if-none-match": `"${small.model.model_id}"` });
    expect(response.status).toBe(304);
    expect(s3.some((r) => r.path.endsWith(archiveKeyOf(small)))).toBe(false);
  });

  it.each(["config.json", "zz-tokenizer.json"])("serves %s of a 150 MiB archive after both latest pointers, the versions listing, and two small ranged reads of the archive (index, file)", async (file) => {
    expect(big.archive!.size).toBeGreaterThan(128 * MiB);
    const { response, body, s3 } = await get(`/models/big/latest/files/${file}`);
    expect(response.status).toBe(200);
    expect(body).toEqual(config);
    const paths = s3.map((r) => r.path.replace(/^\/[^/?]+/, ""));
    expect(paths.slice(0, 3).sort()).toEqual([
      expect.stringMatching(/^\/\?list-type=2&prefix=operatorai-model-store\/big\/versions\//),
      "/operatorai-model-store/big/latest.json",
      "/operatorai-model-store/domains/big.json",
    ]);
    expect(paths.slice(3)).toEqual([archiveKeyOf(big), archiveKeyOf(big)]);
    const archiveBytes = s3[3].bytes + s3[4].bytes;
    expect(archiveBytes).toBeLessThan(1 * MiB); // the index and the file's own member, not the archive
  });

  it("GET /models/:domain/:state serves the newest model in a model state, and its files", async () => {
    const meta = await get("/models/fraud/production");
    expect(meta.response.status).toBe(200);
    expect(json(meta.body).model.model_id).toBe(inProduction.model.model_id);
    expect((await get("/models/fraud/latest")).response.headers.get("x-model-id")).not.toBe(inProduction.model.model_id);
    const file = await get("/models/fraud/production/files/config.json");
    expect(file.response.status).toBe(200);
    expect(new TextDecoder().decode(file.body)).toBe('{"stage": "production"}');
    const unknown = await get("/models/fraud/staging");
    expect(unknown.response.status).toBe(404);
    expect(json(unknown.body).error.message).toContain('model state "staging" does not exist');
  });

  it("an unknown domain, an unknown file and an unknown route are 404s with a JSON error", async () => {
    const domain = await get("/models/no-such-domain/latest");
    expect(domain.response.status).toBe(404);
    expect(json(domain.body).error.code).toBe("NOT_FOUND");
    expect(json(domain.body).error.message).toContain("no-such-domain");
    const file = await get("/models/refunds/latest/files/missing.bin");
    expect(file.response.status).toBe(404);
    expect(json(file.body).error.message).toContain("missing.bin");
    expect(file.response.headers.get("content-type")).toContain("application/json");
    const route = await get("/nothing-here");
    expect(route.response.status).toBe(404);
    expect(json(route.body).error.code).toBe("NOT_FOUND");
  });

  it("the worker bundles (esbuild, platform neutral), full and read-only, have no node: imports", async () => {
    for (const entry of [WORKER_ENTRY, READ_ONLY_ENTRY]) {
      const { code, externalImports } = await bundleWorker(entry, { minify: true });
      expect(externalImports).toEqual([]);
      expect(code).not.toMatch(/["']node:/);
      expect(code.length).toBeGreaterThan(10_000); // the store, the archive reader and the S3 signer are in it
    }
  });
});

describe("examples/edge-worker/read-only-worker.ts in workerd (ModelReader + s3Reader)", () => {
  const SHARD = 3 * MiB + 123;
  // Compressible but not uniform, so its members are deflated, not stored.
  const shard = Uint8Array.from({ length: SHARD }, (_, i) => (i * 7919) % 251 ^ (i >> 12));
  let readOnly: Miniflare;
  let shards: ModelMetadata;
  beforeAll(async () => {
    shards = await uploader.upload("shards", { files: [{ path: "config.json", body: config }, { path: "weights.bin", body: shard }] });
    const { code } = await bundleWorker(READ_ONLY_ENTRY);
    readOnly = new Miniflare({
      modules: [{ type: "ESModule", path: "worker.mjs", contents: code }],
      compatibilityDate: wrangler.top.compatibility_date,
      bindings: { S3_ENDPOINT: proxy.endpoint, S3_BUCKET: bucketName, S3_REGION: server.region, AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: server.secretAccessKey },
    });
  }, 120_000);
  afterAll(async () => {
    await readOnly?.dispose();
  });

  async function read(domain: string, path: string) {
    const before = proxy.requests.length;
    const response = await readOnly.dispatchFetch(`http://models.example/?domain=${domain}&path=${encodeURIComponent(path)}`);
    const body = await response.arrayBuffer().then((b) => new Uint8Array(b), (error: Error) => error);
    await new Promise((resolve) => setTimeout(resolve, 200));
    return { response, body, s3: proxy.requests.slice(before) };
  }

  it("bundles to at most 20 KiB minified and gzipped (#16), without fflate, the unrolled SHA-256 or the upload path", async () => {
    const { code } = await bundleWorker(READ_ONLY_ENTRY, { minify: true });
    expect(gzipSync(code, { level: 9 }).byteLength).toBeLessThanOrEqual(20 * 1024);
    const { code: readable } = await bundleWorker(READ_ONLY_ENTRY);
    for (const left of ["src/digest/sha256-block.ts", "node_modules/fflate", "src/archive/create-archive.ts", "src/backends/s3/s3-multipart.ts"]) {
      expect(readable, left).not.toContain(`// ${left}`); // esbuild marks each bundled module with its path
    }
    expect(readable).toContain("// src/store/model-reader.ts");
  });

  it("streams a file of several gzip members byte-identical (DecompressionStream per member, SHA-256 checked), and a small one", async () => {
    const weights = await read("shards", "weights.bin");
    expect(weights.response.status).toBe(200);
    expect(weights.body).toBeInstanceOf(Uint8Array);
    expect(sha256(weights.body as Uint8Array)).toBe(sha256(shard));
    const small = await read("shards", "config.json");
    expect(small.body).toEqual(config);
    expect((await read("shards", "missing.bin")).response.status).toBe(404);
  });

  it("reads a file after 150 MiB of weights with under 1 MiB of the archive", async () => {
    const { response, body, s3 } = await read("big", "zz-tokenizer.json");
    expect(response.status).toBe(200);
    expect(body).toEqual(config);
    const archive = s3.filter((r) => r.path.replace(/^\/[^/?]+/, "") === archiveKeyOf(big));
    expect(archive).toHaveLength(2); // the index, then the file's member
    expect(archive.reduce((sum, r) => sum + r.bytes, 0)).toBeLessThan(MiB);
  });

  it("a corrupted member of the archive fails the read instead of serving other bytes", async () => {
    const backend = uploader.backend;
    const key = shards.storage.prefix!;
    const bytes = await new Response((await backend.get(key))!).arrayBuffer().then((b) => new Uint8Array(b));
    bytes[Math.floor(bytes.length / 2)] ^= 0xff; // inside the weights' members
    await backend.put(key, bytes);
    const { response, body } = await read("shards", "weights.bin");
    // Either the worker fails before answering, or the body breaks off part-way (workerd ends a
    // response whose stream errored): never the whole file with other bytes in it.
    if (response.status === 200 && body instanceof Uint8Array) expect(body.length).toBeLessThan(SHARD);
    else expect(body instanceof Error || response.status === 500).toBe(true);
    // The full worker declares the file's length, so the cut is visible in the response itself.
    const full = await mf.dispatchFetch("http://models.example/models/shards/latest/files/weights.bin");
    expect(full.status).toBe(200);
    expect(full.headers.get("content-length")).toBe(String(SHARD));
    expect(await full.arrayBuffer().then((received) => received.byteLength, () => "broke off")).not.toBe(SHARD);
  });
});

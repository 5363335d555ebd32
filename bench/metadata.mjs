#!/usr/bin/env node
/**
 * Metadata benchmark: with BENCH_MODELS (default 10,000) models in one task,
 * times `listModels` (median of BENCH_RUNS, default 5) and `latest` (median of
 * 50) for each metadata repository, printed side by side:
 *   - the bucket layout on the file-system backend and on S3 (a local OpenStack
 *     Swift, started here unless S3_ENDPOINT names one): one LIST per 1,000 keys,
 *     then the version documents read with bounded concurrency;
 *   - PostgreSQL (a throwaway cluster started here unless POSTGRES_URL names one);
 *   - the local JSON file and memory, for scale.
 * Seeding writes the documents directly (bulk), since only reads are timed.
 * Targets: PostgreSQL list < 100 ms and latest < 5 ms; with 10,000 models on the
 * local S3 server the first page of 100 in <= 300 ms and the whole listing in
 * <= 2 s (listing cache warm), the file system <= 0.5 s.
 * Run: npm run bench:metadata (builds first).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";

const run = promisify(execFile);

const root = fileURLToPath(new URL("..", import.meta.url));
const COUNT = Number(process.env.BENCH_MODELS ?? 10_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const LATEST_RUNS = Number(process.env.BENCH_LATEST_RUNS ?? 50);
const TASK = "refunds";
const CACHE_KEY = `operatorai-model-store/${TASK}/.listing/models.json`;

const { ModelStore, memoryMetadata, bucketMetadata } = await import(join(root, "dist/index.js"));
const { fileSystemBackend, localMetadata } = await import(join(root, "dist/fs.js"));
const { s3Backend } = await import(join(root, "dist/s3.js"));
const { postgresMetadata } = await import(join(root, "dist/postgres.js"));
const { default: postgres } = await import("postgres");

// The test servers' helpers are TypeScript: bundle them next to node_modules so "postgres" resolves.
const helpers = join(root, "node_modules/.cache/modelstore-bench/servers.mjs");
await mkdir(join(root, "node_modules/.cache/modelstore-bench"), { recursive: true });
await build({
  stdin: { contents: 'export * from "./test/support/postgres-server.ts"; export * from "./test/support/s3-server.ts";', resolveDir: root, loader: "ts" },
  bundle: true, platform: "node", format: "esm", outfile: helpers, logLevel: "error", external: ["postgres", "aws4fetch"],
});
const servers = await import(helpers);

/** The Swift named by S3_ENDPOINT, or one started from test/support/swift.sh (as bench/s3.mjs does). */
async function startSwift() {
  if (process.env.S3_ENDPOINT) return servers.useS3Server();
  const script = join(root, "test/support/swift.sh");
  const base = mkdtempSync(join(tmpdir(), "modelstore-bench-swift-"));
  const port = await servers.freePort();
  await run("bash", [script, "start", base, String(port)], { timeout: 300_000 });
  return {
    endpoint: `http://127.0.0.1:${port}`, accessKeyId: "test:tester", secretAccessKey: "testing", region: "us-east-1",
    stop: async () => { await run("bash", [script, "stop", base]).catch(() => {}); rmSync(base, { recursive: true, force: true }); },
  };
}

function fakeModel(i) {
  const created = new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString();
  const id = `model-${String(i).padStart(6, "0")}`;
  return {
    model: { domain: TASK, model_id: id, model_type: { library: "onnx", type: "InferenceSession" } },
    storage: { type: "file_system", root: "/models", path: `operatorai-model-store/${TASK}/${created}/artifacts.tar.gz` },
    modelstore: "0.1.0",
    code: { runtime: "node:20.20.2", user: "bench", created, dependencies: { fflate: "0.8.3", uuid: "14.0.3" } },
    extra: { accuracy: 0.9 + (i % 100) / 1000, epochs: 10, tags: ["bench"] },
    archive: { size: 123_456 + i, sha256: "ab".repeat(32) },
  };
}
const models = Array.from({ length: COUNT }, (_, i) => fakeModel(i));
const encode = (doc) => new TextEncoder().encode(JSON.stringify(doc, null, 2) + "\n");

async function pool(items, concurrency, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

/**
 * Writes the bucket layout's documents straight into the backend, each created
 * just before it is written, as an upload's is (latestModel and the first page
 * rely on a document never being written before its model was created).
 */
async function seedBucket(backend) {
  const layout = new ModelStore({ backend }).layout;
  let last = 0;
  const stamp = (m) => {
    last = Math.max(Date.now(), last + 1); // increasing with the index: models are taken in order
    const at = new Date(last).toISOString();
    return { ...m, code: { ...m.code, created: at, created_at: at } };
  };
  let newest;
  await pool(models, 32, async (m) => {
    const doc = stamp(m);
    if (m === models[models.length - 1]) newest = doc;
    await backend.put(layout.versionKey(TASK, m.model.model_id), encode(doc), { contentType: "application/json" });
  });
  await backend.put(layout.latestKey(TASK), encode(newest), { contentType: "application/json" });
}

async function seedPostgres(url) {
  const repo = postgresMetadata({ url });
  await repo.ensureTask(TASK, "default"); // runs the migrations
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const [{ id }] = await sql`select id from modelstore_tasks where name = ${TASK}`;
  for (let i = 0; i < models.length; i += 1000) {
    const rows = models.slice(i, i + 1000).map((m) => ({ task_id: id, model_id: m.model.model_id, created: m.code.created, location: m.storage.path, metadata: sql.json(m) }));
    await sql`insert into modelstore_models ${sql(rows)}`;
  }
  await sql`analyze modelstore_models`;
  await sql.end();
  return repo;
}

async function time(fn, runs) {
  const warm = performance.now();
  await fn(); // warm-up: connections, caches, JIT
  // Slow cases (the bucket layout on Swift takes most of a minute per listing) are timed once.
  if (performance.now() - warm > 10_000) runs = 1;
  const samples = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

async function measure(label, repository, coldListing) {
  console.error(`measuring ${label}...`);
  globalThis.gc?.(); // start each case with a clean heap (npm run bench:metadata passes --expose-gc)
  const newestId = models[models.length - 1].model.model_id;
  // The bucket layout's first listing reads every document and writes the listing cache: timed once, apart.
  let cold;
  if (coldListing) {
    await coldListing();
    const start = performance.now();
    const listed = await repository.listModels(TASK);
    cold = performance.now() - start;
    if (listed.length !== COUNT) throw new Error(`${label}: listed ${listed.length} of ${COUNT}`);
  }
  const list = await time(async () => {
    const listed = await repository.listModels(TASK);
    if (listed.length !== COUNT) throw new Error(`${label}: listed ${listed.length} of ${COUNT}`);
  }, RUNS);
  const page = await time(async () => {
    const first = await repository.listModelsPage(TASK, { limit: 100 });
    if (first.items.length !== 100 || first.items[0].model.model_id !== newestId) throw new Error(`${label}: wrong first page`);
  }, RUNS);
  const latest = await time(async () => {
    for (let i = 0; i < LATEST_RUNS / RUNS; i++) {
      const newest = await repository.latestModel(TASK);
      if (newest?.model.model_id !== newestId) throw new Error(`${label}: wrong latest`);
    }
  }, RUNS) / (LATEST_RUNS / RUNS);
  // One more model on top of the 10,000 (the latest moves to it), median of 3.
  let extra = 0;
  const add = await time(async () => {
    const model = fakeModel(COUNT + extra++);
    const now = new Date().toISOString();
    const doc = { ...model, code: { ...model.code, created: now, created_at: now } }; // the newest, as a new upload is
    await repository.addModel(doc);
  }, 2);
  // The newest page again, now that models were added through the repository since the listing cache's snapshot.
  const newestAdded = `model-${String(COUNT + extra - 1).padStart(6, "0")}`;
  const pageAfterAdd = await time(async () => {
    const first = await repository.listModelsPage(TASK, { limit: 100 });
    if (first.items.length !== 100 || first.items[0].model.model_id !== newestAdded) throw new Error(`${label}: wrong first page after adds`);
  }, RUNS);
  return { label, list, page, cold, latest, add, pageAfterAdd };
}

const results = [];
const cleanups = [];
// Interrupted (Ctrl-C, a timeout): stop the servers started here before leaving.
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, async () => {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
    process.exit(130);
  });
}
try {
  const work = mkdtempSync(join(tmpdir(), "modelstore-bench-meta-"));
  cleanups.push(async () => rmSync(work, { recursive: true, force: true }));
  console.error(`seeding ${COUNT} models per repository...`);

  const pg = await servers.usePostgresServer();
  cleanups.push(() => pg.stop());
  const db = await servers.createDatabase(pg, "bench");
  const pgRepo = await seedPostgres(db.url);
  cleanups.unshift(async () => { await pgRepo.close(); await db.drop(); });
  results.push(await measure("PostgreSQL", pgRepo));

  // The file as localMetadata writes it (each addModel rewrites the whole file, so seeding one by one is O(n²)).
  const now = new Date().toISOString();
  writeFileSync(join(work, "metadata.json"), JSON.stringify({
    version: 1, projects: {}, tasks: { [TASK]: { project: "default", created: now } },
    models: { [TASK]: Object.fromEntries(models.map((m) => [m.model.model_id, m])) },
  }));
  const local = localMetadata({ path: join(work, "metadata.json") });
  results.push(await measure("local JSON file", local));

  const memory = memoryMetadata();
  for (const m of models) await memory.addModel(m);
  results.push(await measure("memory", memory));
  const fsBackend = fileSystemBackend({ root: join(work, "fs") });
  await seedBucket(fsBackend);
  results.push(await measure("bucket layout, file system", bucketMetadata({ backend: fsBackend }), () => fsBackend.delete(CACHE_KEY)));

  const s3 = await startSwift();
  cleanups.push(() => s3.stop());
  const bucket = await servers.createBucket(s3, "benchmeta");
  const s3b = s3Backend({ bucket, endpoint: s3.endpoint, region: s3.region, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
  await seedBucket(s3b);
  results.push(await measure("bucket layout, S3 (Swift)", bucketMetadata({ backend: s3b }), () => s3b.delete(CACHE_KEY)));

} finally {
  for (const cleanup of cleanups) await cleanup().catch((e) => console.error(String(e)));
}

const pad = (s, n) => String(s).padEnd(n);
const ms = (v) => `${v.toFixed(v < 10 ? 2 : 0)} ms`;
console.log(`\nmetadata: ${COUNT.toLocaleString("en")} models in one task (median; list of ${RUNS} runs, or 1 when a run takes over 10 s; latest of ${LATEST_RUNS})\n`);
console.log(`${pad("repository", 30)}${pad("first page (100)", 18)}${pad("after 3 adds", 14)}${pad("listModels", 14)}${pad("uncached list", 16)}${pad("latest", 12)}addModel`);
for (const r of results) console.log(`${pad(r.label, 30)}${pad(ms(r.page), 18)}${pad(ms(r.pageAfterAdd), 14)}${pad(ms(r.list), 14)}${pad(r.cold === undefined ? "-" : ms(r.cold), 16)}${pad(ms(r.latest), 12)}${ms(r.add)}`);
const pgResult = results.find((r) => r.label === "PostgreSQL");
if (pgResult) console.log(`\nPostgreSQL targets: list < 100 ms ${pgResult.list < 100 ? "met" : "MISSED"}, latest < 5 ms ${pgResult.latest < 5 ? "met" : "MISSED"}`);
const s3Result = results.find((r) => r.label.includes("S3"));
const fsResult = results.find((r) => r.label.includes("file system"));
if (s3Result) console.log(`S3 targets: first page <= 300 ms ${s3Result.page <= 300 && s3Result.pageAfterAdd <= 300 ? "met" : "MISSED"}, whole listing <= 2 s ${s3Result.list <= 2000 ? "met" : "MISSED"}`);
if (fsResult) console.log(`file-system target: whole listing <= 0.5 s ${fsResult.list <= 500 ? "met" : "MISSED"}`);
console.log("bucket layout, first page: from the listing cache's snapshot and journal (no LIST of versions/) when every change since is accounted for");
console.log(`bucket layout, other listings: one LIST of versions/ (${Math.ceil(COUNT / 1000)} pages of 1,000 keys) and one read of the listing cache; the uncached list reads all ${COUNT.toLocaleString("en")} documents, 16 at a time, and writes the cache`);

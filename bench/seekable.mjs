#!/usr/bin/env node
/**
 * Seekable archives: what reading one small file out of a large model costs,
 * scanning the archive from its start (archives without an index, as older
 * uploads and the Python library's) against the table of contents (one ranged
 * read of the index, one of the file's members), on the file-system store and
 * on S3 (a local OpenStack Swift). The model: BENCH_MIB (default 1024) MiB of
 * float32 weights between `aa-config.json` (sorts first) and `zz-config.json`
 * (sorts last). For each: requests to the backend, bytes read from it, time
 * (median of BENCH_RUNS, default 101: sub-millisecond times on the file system need that many
 * for a steady median; after BENCH_WARMUP unmeasured runs, default 30;
 * scans: BENCH_SCAN_RUNS, default 3, after the counted run), and plain ranged GETs of the same bytes
 * the index path reads, as the floor, timed in alternation with it run by run. Nothing is cached between runs: every
 * run uses a fresh ModelStore. Then whole downloads: the sequential scan (one core inflating), one
 * stream (downloadModel, concurrency 1) and member groups fetched and inflated on BENCH_PARALLEL
 * (default 3, the default) connections, in turns.
 * Run: npm run bench:seekable   (builds, starts and stops Swift via test/support/swift.sh)
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const MiB = 1 << 20;
const SIZE = Number(process.env.BENCH_MIB ?? 1024) * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 101);
// Unmeasured runs first, for every path alike: sub-millisecond reads are otherwise timed mostly as
// compiling (with 3 the index path measured 2.2–2.4× the plain reads on the file system, warm 1.3–2×).
const WARMUP = Number(process.env.BENCH_WARMUP ?? 30);
// "fs" or "s3": one backend only.
const ONLY = process.env.BENCH_ONLY;
const SCAN_RUNS = Number(process.env.BENCH_SCAN_RUNS ?? 3);
const { ModelStore, createGunzipStream } = await import(join(root, "dist/index.js"));
const { fileSystemBackend, downloadModel, extractArchive } = await import(join(root, "dist/fs.js"));
const DOWNLOAD_RUNS = Number(process.env.BENCH_DOWNLOAD_RUNS ?? 3);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 3);
const { s3Backend } = await import(join(root, "dist/s3.js"));

/** float32 weights generated as read, 4 MiB at a time (deflate saves ~8 %, so blocks are stored). */
function weights(size) {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= size) return controller.close();
      const n = Math.min(4 * MiB, size - sent);
      const f = new Float32Array(n / 4);
      for (let i = 0; i < f.length; i++) f[i] = (Math.random() - 0.5) * 0.1;
      sent += n;
      controller.enqueue(new Uint8Array(f.buffer));
    },
  });
}

/** A view of `backend` that counts archive GETs and the bytes their bodies delivered. */
function counting(backend, stats) {
  return Object.create(backend, {
    get: {
      value: async (key, options) => {
        const body = await backend.get(key, options);
        if (!key.endsWith(".tar.gz") || !body) return body;
        stats.requests++;
        return body.pipeThrough(new TransformStream({ transform(chunk, c) { stats.bytes += chunk.byteLength; c.enqueue(chunk); } }));
      },
    },
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Times `read` and `floor` in alternation, run by run, so that both see the same
 * machine (page cache, JIT, other load): medians of each.
 */
async function interleaved(runs, warmup, read, floor) {
  const times = { read: [], floor: [] };
  for (let i = -warmup; i < runs; i++) {
    for (const [name, fn] of [["read", read], ["floor", floor]]) {
      if (!fn) continue;
      const start = performance.now();
      await fn();
      if (i >= 0) times[name].push(performance.now() - start);
    }
  }
  return { ms: median(times.read), floorMs: times.floor.length ? median(times.floor) : undefined };
}

/** Plain ranged GETs of `ranges`, one after the other: the floor for the index path's time. */
const plainGets = (backend, key, ranges) => async () => {
  for (const range of ranges) await new Response(await backend.get(key, { range })).arrayBuffer();
};

async function measure(backend, metadata, path, indexed, { cached = false, floor } = {}) {
  const meta = indexed ? metadata : { ...metadata, archive: { size: metadata.archive.size, sha256: metadata.archive.sha256 } };
  // cached: one store for every run, whose index cache holds the model's index after the first.
  const stores = new Map();
  const storeFor = (via) => (cached ? stores.get(via) ?? stores.set(via, new ModelStore({ backend: via })).get(via) : new ModelStore({ backend: via }));
  const read = async (via) => new Response(await storeFor(via).openFile(meta, path)).arrayBuffer();
  if (cached) await read(backend);
  // Requests and bytes from one run through a counting view; the times from runs without it,
  // as the plain GETs are timed (its extra stream stage costs more than a small read).
  const stats = { requests: 0, bytes: 0 };
  const counted = counting(backend, stats);
  if (cached) {
    await read(counted);
    Object.assign(stats, { requests: 0, bytes: 0 });
  }
  await read(counted);
  // Scanning reads up to the whole model each run: fewer runs.
  const [count, warmup] = indexed ? [RUNS, WARMUP] : [SCAN_RUNS, 0];
  return { ...(await interleaved(count, warmup, () => read(backend), floor)), ...stats };
}

async function bench(label, backend) {
  const store = new ModelStore({ backend });
  const config = new TextEncoder().encode(JSON.stringify({ threshold: 0.5, labels: ["refund", "keep"] }));
  const t0 = performance.now();
  const meta = await store.upload("bench", {
    files: [
      { path: "aa-config.json", body: config },
      { path: "model.bin", body: weights(SIZE), size: SIZE },
      { path: "zz-config.json", body: config },
    ],
  });
  const uploadMs = performance.now() - t0;
  const key = backend.keyOf ? backend.keyOf(meta.storage) : meta.storage.prefix;
  const rows = [];
  for (const path of ["aa-config.json", "zz-config.json"]) {
    // The ranges the index path reads, recorded through a view that keeps them.
    const ranges = [];
    const recorder = Object.create(backend, { get: { value: (k, o) => (k === key && ranges.push(o.range), backend.get(k, o)) } });
    await new Response(await new ModelStore({ backend: recorder }).openFile(meta, path)).arrayBuffer();
    const scan = await measure(backend, meta, path, false);
    const index = await measure(backend, meta, path, true, { floor: plainGets(backend, key, ranges) });
    const cached = await measure(backend, meta, path, true, { cached: true, floor: plainGets(backend, key, ranges.slice(-1)) });
    rows.push({ path, scan, index, cached });
  }
  console.log(`\n${label}: ${(meta.archive.size / MiB).toFixed(0)} MiB archive (uploaded in ${(uploadMs / 1000).toFixed(1)} s), median of ${RUNS} (scans: ${SCAN_RUNS})`);
  console.log("| file | path | requests | bytes read | time | vs plain ranged GETs of the same bytes |\n|---|---|---:|---:|---:|---:|");
  for (const { path, scan, index, cached } of rows) {
    const kib = (b) => (b >= MiB ? `${(b / MiB).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`);
    console.log(`| ${path} | scan | ${scan.requests} | ${kib(scan.bytes)} | ${scan.ms.toFixed(1)} ms | |`);
    console.log(`| ${path} | index | ${index.requests} | ${kib(index.bytes)} | ${index.ms.toFixed(2)} ms | ${(index.ms / index.floorMs).toFixed(2)}× (${index.floorMs.toFixed(2)} ms) |`);
    console.log(`| ${path} | index, cached | ${cached.requests} | ${kib(cached.bytes)} | ${cached.ms.toFixed(2)} ms | ${(cached.ms / cached.floorMs).toFixed(2)}× (${cached.floorMs.toFixed(2)} ms) |`);
  }
  // Whole downloads, in turns: the sequential scan (the archive as one stream, inflated on one core,
  // as before members recorded their length), one stream (members inflated two at a time, as every
  // archive of ours is read now without an index), and member groups on PARALLEL connections.
  const ways = {
    sequential: (dir) => store.getArchive("bench", meta.model.model_id).then((archive) => extractArchive(archive.pipeThrough(createGunzipStream({ parallel: false })), dir)),
    "one stream": (dir) => downloadModel(new ModelStore({ backend }), "bench", meta.model.model_id, dir, { concurrency: 1 }),
    index: (dir) => downloadModel(new ModelStore({ backend }), "bench", meta.model.model_id, dir, { concurrency: PARALLEL }),
  };
  const runs = Object.fromEntries(Object.keys(ways).map((name) => [name, []]));
  for (let i = 0; i < DOWNLOAD_RUNS; i++) {
    for (const [name, download] of Object.entries(ways)) {
      const dir = join(work, `download-${i}`);
      const start = performance.now();
      await download(dir);
      runs[name].push(performance.now() - start);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const [sequential, oneStream, index] = Object.values(runs).map(median);
  console.log(`\nwhole download (extract to disk), median of ${DOWNLOAD_RUNS} in turns: sequential scan ${(sequential / 1000).toFixed(2)} s, ` +
    `one stream ${(oneStream / 1000).toFixed(2)} s, ${PARALLEL} parallel member groups ${(index / 1000).toFixed(2)} s: ` +
    `the index path is ${(sequential / index).toFixed(2)}× faster than the sequential scan, ${(oneStream / index).toFixed(2)}× than one stream`);
  await store.deleteModel("bench", meta.model.model_id);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function benchSwift() {
  const port = await freePort();
  const swift = join(root, "test/support/swift.sh");
  execFileSync("bash", [swift, "start", join(work, "swift"), String(port)], { stdio: "inherit" });
  try {
    const endpoint = `http://127.0.0.1:${port}`;
    const credentials = { accessKeyId: "test:tester", secretAccessKey: "testing" };
    const { AwsClient } = await import("aws4fetch");
    const aws = new AwsClient({ ...credentials, service: "s3", region: "us-east-1" });
    for (let i = 0; ; i++) {
      const r = await aws.fetch(`${endpoint}/bench`, { method: "PUT" });
      if (r.ok) break;
      if (i > 40) throw new Error(`create bucket: ${r.status}`);
      await new Promise((res) => setTimeout(res, 250));
    }
    await bench("S3 (local Swift)", s3Backend({ bucket: "bench", endpoint, credentials }));
  } finally {
    execFileSync("bash", [swift, "stop", join(work, "swift")], { stdio: "inherit" });
  }
}

const work = mkdtempSync(join(tmpdir(), "modelstore-bench-seekable-"));
try {
  if (ONLY !== "s3") await bench("file system", fileSystemBackend({ root: join(work, "fs") }));
  if (ONLY !== "fs") await benchSwift();
} finally {
  rmSync(work, { recursive: true, force: true });
}

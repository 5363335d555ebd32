#!/usr/bin/env node
/**
 * S3 backend benchmark against a local OpenStack Swift (s3api) on 127.0.0.1:
 *   - uploads of BENCH_MIB (default 256) MiB of incompressible bytes, then
 *     downloads of one such object written once beforehand, so that no download
 *     pays for the server's work after an upload just before it;
 *   - each client sends one 1 KiB request first (a PUT before an upload, a GET
 *     before a download), so that its cold start is not timed;
 *   - modelstore's s3Backend vs @aws-sdk/client-s3 + @aws-sdk/lib-storage
 *     Upload, same part size (8 MiB) and concurrency (4): MB/s and peak RSS,
 *     each run in its own child process so that RSS is its own;
 *   - BENCH_RUNS (default 5) rounds, each starting with the next client;
 *     medians, and the download ratio round by round;
 *   - modelstore is its S3 entry as Node resolves it (nodeFetch, node:http),
 *     then again with `fetch: globalThis.fetch` (what the plain entry uses),
 *     and for downloads with `downloadConcurrency` = concurrency (ranged GETs);
 *   - the RSS floor: a process that loads modelstore's S3 entry and sends one
 *     tiny put and get;
 *   - minified + gzipped size of each client bundled by esbuild.
 * Run: node bench/s3.mjs  (starts and stops Swift via test/support/swift.sh;
 * BENCH_SERVER=rgw: Ceph RGW via test/support/ceph.sh instead, a C++ server that
 * leaves the client more of the two cores).
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";

const root = fileURLToPath(new URL("..", import.meta.url));
const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_MIB ?? 256) * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PART = 8 * MiB;
const CONCURRENCY = 4;
const SERVER = process.env.BENCH_SERVER === "rgw" ? "rgw" : "swift";
// As test/support/swift.sh and ceph.sh create their S3 users.
const creds = SERVER === "rgw" ? { accessKeyId: "modelstore-test", secretAccessKey: "modelstore-test-secret" } : { accessKeyId: "test:tester", secretAccessKey: "testing" };

/**
 * Incompressible bytes generated as read (xorshift32), as a byte stream like the
 * archives `createArchive` makes: a reader with its own buffer (BYOB) gets them
 * generated into it, any other reader gets fresh 1 MiB chunks.
 */
function noise(size) {
  let sent = 0;
  let state = 0x2545f491;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      const request = controller.byobRequest;
      if (sent >= size) {
        controller.close();
        request?.respond(0);
        return;
      }
      const target = request?.view ? new Uint8Array(request.view.buffer, request.view.byteOffset, request.view.byteLength) : new Uint8Array(MiB);
      const chunk = target.subarray(0, Math.min(target.byteLength, size - sent) & ~3);
      const words = new Uint32Array(chunk.buffer, chunk.byteOffset, chunk.byteLength >>> 2);
      for (let i = 0; i < words.length; i++) {
        state ^= state << 13; state ^= state >>> 17; state ^= state << 5;
        words[i] = state >>> 0;
      }
      sent += chunk.byteLength;
      if (request) request.respond(chunk.byteLength);
      else controller.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
}

async function drain(stream) {
  let n = 0;
  for await (const chunk of stream) n += chunk.byteLength;
  return n;
}

/** The client `which` ("modelstore", "modelstore-fetch", "modelstore-ranged" or "aws-sdk") over `endpoint`: `put(key, stream)`, `get(key)` → async iterable of bytes, `delete(key)`. */
async function client(which, endpoint, bucket, bundle) {
  if (which.startsWith("modelstore")) {
    // modelstore-js/s3 as Node resolves it (src/s3-node.ts: nodeFetch unless told otherwise), bundled
    // beside the plain entry, which sends with the runtime's fetch as workers, Deno and Bun do.
    const { s3Backend } = await import(which === "modelstore-fetch" ? bundle : bundle.replace(/s3\.mjs$/, "s3-node.mjs"));
    const ranged = which === "modelstore-ranged" ? { downloadConcurrency: CONCURRENCY } : {};
    const b = s3Backend({ bucket, endpoint, credentials: creds, partSize: PART, concurrency: CONCURRENCY, ...ranged });
    return { put: (key, body) => b.put(key, body), get: (key) => b.get(key), delete: (key) => b.delete(key) };
  }
  const { S3Client, GetObjectCommand, DeleteObjectCommand } = await import("@aws-sdk/client-s3");
  const { Upload } = await import("@aws-sdk/lib-storage");
  const sdk = new S3Client({
    endpoint, region: "us-east-1", forcePathStyle: true, credentials: creds,
    // Swift's s3api predates the SDK's default CRC32 trailers.
    requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED",
  });
  return {
    put: (key, body) => new Upload({ client: sdk, params: { Bucket: bucket, Key: key, Body: body }, partSize: PART, queueSize: CONCURRENCY }).done(),
    get: async (key) => (await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body,
    delete: (key) => sdk.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })),
  };
}

/**
 * One measurement in this (child) process; prints JSON. `upload`: put SIZE
 * bytes under a key of its own, then delete it. `download`: get the object
 * `key` that the parent uploaded once for every client, so no download pays
 * for the work an upload just before it left the server.
 */
async function child(task, which, endpoint, bucket, bundle, key, warmKey) {
  if (which === "floor") {
    const { s3Backend } = await import(bundle.replace(/s3\.mjs$/, "s3-node.mjs"));
    const b = s3Backend({ bucket, endpoint, credentials: creds, partSize: PART, concurrency: CONCURRENCY });
    const tiny = `bench/floor-${Date.now()}`;
    await b.put(tiny, new Uint8Array(1024));
    await drain(await b.get(tiny));
    await b.delete(tiny);
    console.log(JSON.stringify({ rssMiB: process.resourceUsage().maxRSS / 1024 }));
    return;
  }
  const c = await client(which, endpoint, bucket, bundle);
  // The client's first request (connection, signing key, the SDK's lazy set-up) comes before the clock:
  // the time is the transfer's, not a cold start's.
  if (task === "upload") {
    const own = `bench/${which}-${Date.now()}`;
    await c.put(`${own}-warm-up`, new Uint8Array(1024));
    const t = performance.now();
    await c.put(own, noise(SIZE));
    const ms = performance.now() - t;
    const rssMiB = process.resourceUsage().maxRSS / 1024;
    await c.delete(own);
    await c.delete(`${own}-warm-up`);
    console.log(JSON.stringify({ ms, rssMiB }));
    return;
  }
  await drain(await c.get(warmKey));
  const t0 = performance.now();
  const n = await drain(await c.get(key));
  const ms = performance.now() - t0;
  if (n !== SIZE) throw new Error(`downloaded ${n} bytes`);
  console.log(JSON.stringify({ ms, rssMiB: process.resourceUsage().maxRSS / 1024 }));
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** esbuild bundle, minified; returns [raw, gzip] bytes. */
function bundleSize(entrySource, platform, outfile) {
  const entry = join(root, `.bench-entry-${process.pid}.mjs`);
  writeFileSync(entry, entrySource);
  try {
    // Neutral needs main fields spelled out; with them, a bundle that still reaches node: fails here.
    const fields = platform === "neutral" ? ["--main-fields=module,main"] : [];
    execFileSync(join(root, "node_modules/.bin/esbuild"), [entry, "--bundle", "--minify", "--format=esm", `--platform=${platform}`, ...fields, `--outfile=${outfile}`, "--log-level=error"], { cwd: root, stdio: "ignore" });
    const code = readFileSync(outfile);
    return [code.length, gzipSync(code, { level: 9 }).length];
  } catch {
    return null;
  } finally {
    rmSync(entry, { force: true });
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  if (process.argv[2] === "--child") return child(...process.argv.slice(3));
  const work = mkdtempSync(join(tmpdir(), "modelstore-bench-s3-"));
  const bundle = join(work, "s3.mjs");
  // The S3 entry as users get it, plain and as Node resolves it: one ESM file each, aws4fetch inlined.
  execFileSync(join(root, "node_modules/.bin/esbuild"), [join(root, "src/s3.ts"), "--bundle", "--format=esm", "--platform=neutral", `--outfile=${bundle}`, "--log-level=error"]);
  execFileSync(join(root, "node_modules/.bin/esbuild"), [join(root, "src/s3-node.ts"), "--bundle", "--format=esm", "--platform=node", `--outfile=${join(work, "s3-node.mjs")}`, "--log-level=error"]);

  const sizes = {
    "modelstore/s3 (neutral)": bundleSize(`export { s3Backend, s3BackendFromEnv } from "./src/s3.ts";`, "neutral", join(work, "a.js")),
    "modelstore/s3 (browser)": bundleSize(`export { s3Backend, s3BackendFromEnv } from "./src/s3.ts";`, "browser", join(work, "b.js")),
    "@aws-sdk/client-s3 (neutral)": bundleSize(`export { S3Client, PutObjectCommand, GetObjectCommand } from "@aws-sdk/client-s3";`, "neutral", join(work, "c.js")),
    "@aws-sdk/client-s3 (browser)": bundleSize(`export { S3Client, PutObjectCommand, GetObjectCommand } from "@aws-sdk/client-s3";`, "browser", join(work, "d.js")),
    "@aws-sdk/client-s3 + lib-storage (browser)": bundleSize(`export { S3Client, GetObjectCommand } from "@aws-sdk/client-s3"; export { Upload } from "@aws-sdk/lib-storage";`, "browser", join(work, "e.js")),
  };
  console.log("\nBundle size (esbuild --bundle --minify, gzip -9):");
  console.log("| bundle | min KiB | min+gz KiB |\n|---|---|---|");
  for (const [name, s] of Object.entries(sizes)) {
    console.log(`| ${name} | ${s ? (s[0] / 1024).toFixed(1) : "does not bundle"} | ${s ? (s[1] / 1024).toFixed(1) : "(node: imports)"} |`);
  }

  const port = await freePort();
  const base = join(work, SERVER);
  const serverScript = join(root, SERVER === "rgw" ? "test/support/ceph.sh" : "test/support/swift.sh");
  execFileSync("bash", [serverScript, "start", base, String(port)], { stdio: "inherit" });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    const bucket = `bench-${Date.now().toString(36)}`;
    const { AwsClient } = await import("aws4fetch");
    const aws = new AwsClient({ ...creds, service: "s3", region: "us-east-1" });
    for (let i = 0; ; i++) {
      const r = await aws.fetch(`${endpoint}/${bucket}`, { method: "PUT" });
      if (r.ok) break;
      if (i > 40) throw new Error(`create bucket: ${r.status}`);
      await new Promise((res) => setTimeout(res, 250));
    }
    const run = async (task, which, key = "", warmKey = "") => {
      const { stdout } = await promisify(execFile)(process.execPath, [fileURLToPath(import.meta.url), "--child", task, which, endpoint, bucket, bundle, key, warmKey], { maxBuffer: 1 << 20 });
      return JSON.parse(stdout.trim().split("\n").at(-1));
    };
    // Each round starts with the next client, so none is always first or always after the same one.
    const rotated = (list, round) => list.map((_, i) => list[(i + round) % list.length]);
    const uploaders = ["modelstore", "modelstore-fetch", "aws-sdk"];
    const downloaders = ["modelstore", "modelstore-fetch", "modelstore-ranged", "aws-sdk"];
    const up = Object.fromEntries(uploaders.map((w) => [w, []]));
    const down = Object.fromEntries(downloaders.map((w) => [w, []]));
    const floor = [];
    for (let round = 0; round < RUNS; round++) {
      for (const which of rotated(uploaders, round)) up[which].push(await run("upload", which));
      floor.push(await run("upload", "floor"));
    }
    // One object for every download, written once and left to settle.
    const shared = `bench/shared-${Date.now()}`;
    const { s3Backend } = await import(bundle.replace(/s3\.mjs$/, "s3-node.mjs"));
    const seeder = s3Backend({ bucket, endpoint, credentials: creds, partSize: PART, concurrency: CONCURRENCY });
    await seeder.put(shared, noise(SIZE));
    const warm = `${shared}-warm-up`;
    await seeder.put(warm, new Uint8Array(1024));
    await new Promise((resolve) => setTimeout(resolve, 3000));
    for (let round = 0; round < RUNS; round++) {
      for (const which of rotated(downloaders, round)) down[which].push(await run("download", which, shared, warm));
    }
    await seeder.delete(shared);
    await seeder.delete(warm);

    const mbps = (ms) => (SIZE / 1e6 / (ms / 1000)).toFixed(0);
    const med = (results, which, field) => median(results[which].map((r) => r[field]));
    console.log(`\n${SIZE / MiB} MiB via ${SERVER === "rgw" ? "local Ceph RGW" : "local Swift s3api"}, part ${PART / MiB} MiB, concurrency ${CONCURRENCY}, median of ${RUNS} rounds (uploads first, then downloads of one object):`);
    console.log("| client | upload MB/s | download MB/s | upload peak RSS MiB | download peak RSS MiB |\n|---|---|---|---|---|");
    const labels = { modelstore: "modelstore (on Node: nodeFetch, node:http)", "modelstore-fetch": "modelstore, `fetch: globalThis.fetch` (undici)", "modelstore-ranged": `modelstore, downloadConcurrency ${CONCURRENCY}`, "aws-sdk": "aws-sdk" };
    for (const which of downloaders) {
      const upload = up[which] ? [mbps(med(up, which, "ms")), med(up, which, "rssMiB").toFixed(0)] : ["", ""];
      console.log(`| ${labels[which]} | ${upload[0]} | ${mbps(med(down, which, "ms"))} | ${upload[1]} | ${med(down, which, "rssMiB").toFixed(0)} |`);
    }
    console.log(`| floor: load modelstore/s3, one 1 KiB put + get | | | | ${median(floor.map((r) => r.rssMiB)).toFixed(0)} |`);
    const limit = (PART * (CONCURRENCY + 1)) / MiB + 60;
    // Time ratios, as the targets are put: below 1.0× means modelstore took less time than the SDK.
    const ratio = (results, which) => (med(results, which, "ms") / med(results, "aws-sdk", "ms")).toFixed(2);
    // The same ratio round by round (each round's runs are neighbours in time): how far the noise reaches.
    const spread = (which) => {
      const rs = down[which].map((r, i) => r.ms / down["aws-sdk"][i].ms).sort((x, y) => x - y);
      return `${rs[0].toFixed(2)}–${rs.at(-1).toFixed(2)}`;
    };
    console.log(
      `\nmodelstore's time / the SDK's (medians; target ≤ 1.0×): upload ${ratio(up, "modelstore")}×, ` +
        `download ${ratio(down, "modelstore")}× (rounds ${spread("modelstore")}), ${ratio(down, "modelstore-ranged")}× with ranged GETs; ` +
        `upload peak RSS ${med(up, "modelstore", "rssMiB").toFixed(0)} MiB (target ≤ ${limit} MiB = part × (concurrency + 1) + 60).\n` +
        `With fetch: globalThis.fetch: upload ${ratio(up, "modelstore-fetch")}×, download ${ratio(down, "modelstore-fetch")}× (rounds ${spread("modelstore-fetch")}), ` +
        `upload peak RSS ${med(up, "modelstore-fetch", "rssMiB").toFixed(0)} MiB.`,
    );
  } finally {
    execFileSync("bash", [serverScript, "stop", base]);
    rmSync(work, { recursive: true, force: true });
  }
}

await main();

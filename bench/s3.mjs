#!/usr/bin/env node
/**
 * S3 backend benchmark against a local OpenStack Swift (s3api) on 127.0.0.1:
 *   - upload then download of BENCH_MIB (default 256) MiB of incompressible bytes,
 *     modelstore's s3Backend vs @aws-sdk/client-s3 + @aws-sdk/lib-storage Upload,
 *     same part size (8 MiB) and concurrency (4); MB/s and peak RSS, each case in
 *     its own child process so RSS is its own; median of BENCH_RUNS (default 3);
 *     RSS is shown after the upload and at the end (upload + download), next to the
 *     floor: a process that loads the client and sends one tiny put and get;
 *     modelstore again with `fetch: nodeFetch` (node:http, from modelstore-js/fs),
 *     and with `downloadConcurrency` = concurrency (ranged GETs);
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
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
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

/** One measurement in this (child) process; prints JSON. */
async function child(which, endpoint, bucket, bundle) {
  const key = `bench/${which}-${Date.now()}`;
  let upload, download, rssUploadMiB;
  if (which === "floor") {
    const { s3Backend } = await import(bundle);
    const b = s3Backend({ bucket, endpoint, credentials: creds, partSize: PART, concurrency: CONCURRENCY });
    await b.put(key, new Uint8Array(1024));
    await drain(await b.get(key));
    await b.delete(key);
    console.log(JSON.stringify({ rssMiB: process.resourceUsage().maxRSS / 1024 }));
    return;
  }
  if (which.startsWith("modelstore")) {
    const { s3Backend } = await import(bundle);
    const ranged = which === "modelstore-ranged" ? { downloadConcurrency: CONCURRENCY } : {};
    // nodeFetch as users get it from modelstore-js/fs: its own bundle beside the S3 one.
    const transport = which === "modelstore-node-http" ? { fetch: (await import(bundle.replace(/s3\.mjs$/, "node-fetch.mjs"))).nodeFetch } : {};
    const b = s3Backend({ bucket, endpoint, credentials: creds, partSize: PART, concurrency: CONCURRENCY, ...ranged, ...transport });
    let t = performance.now();
    await b.put(key, noise(SIZE));
    upload = performance.now() - t;
    rssUploadMiB = process.resourceUsage().maxRSS / 1024;
    t = performance.now();
    const n = await drain(await b.get(key));
    download = performance.now() - t;
    if (n !== SIZE) throw new Error(`downloaded ${n} bytes`);
    await b.delete(key);
  } else {
    const { S3Client, GetObjectCommand, DeleteObjectCommand } = await import("@aws-sdk/client-s3");
    const { Upload } = await import("@aws-sdk/lib-storage");
    const client = new S3Client({
      endpoint, region: "us-east-1", forcePathStyle: true, credentials: creds,
      // Swift's s3api predates the SDK's default CRC32 trailers.
      requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED",
    });
    let t = performance.now();
    await new Upload({ client, params: { Bucket: bucket, Key: key, Body: noise(SIZE) }, partSize: PART, queueSize: CONCURRENCY }).done();
    upload = performance.now() - t;
    rssUploadMiB = process.resourceUsage().maxRSS / 1024;
    t = performance.now();
    const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const n = await drain(res.Body);
    download = performance.now() - t;
    if (n !== SIZE) throw new Error(`downloaded ${n} bytes`);
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }
  const rssMiB = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ upload, download, rssUploadMiB, rssMiB }));
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
  // The S3 entry as users get it: one ESM file, aws4fetch inlined.
  execFileSync(join(root, "node_modules/.bin/esbuild"), [join(root, "src/s3.ts"), "--bundle", "--format=esm", "--platform=neutral", `--outfile=${bundle}`, "--log-level=error"]);
  execFileSync(join(root, "node_modules/.bin/esbuild"), [join(root, "src/node/node-fetch.ts"), "--bundle", "--format=esm", "--platform=node", `--outfile=${join(work, "node-fetch.mjs")}`, "--log-level=error"]);

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
    const results = { modelstore: [], "modelstore-node-http": [], "modelstore-ranged": [], "aws-sdk": [], floor: [] };
    for (let run = 0; run < RUNS; run++) {
      for (const which of Object.keys(results)) {
        const { stdout } = await promisify(execFile)(process.execPath, [fileURLToPath(import.meta.url), "--child", which, endpoint, bucket, bundle], { maxBuffer: 1 << 20 });
        results[which].push(JSON.parse(stdout.trim().split("\n").at(-1)));
      }
    }
    const mbps = (ms) => (SIZE / 1e6 / (ms / 1000)).toFixed(0);
    console.log(`\n${SIZE / MiB} MiB via ${SERVER === "rgw" ? "local Ceph RGW" : "local Swift s3api"}, part ${PART / MiB} MiB, concurrency ${CONCURRENCY}, median of ${RUNS}:`);
    const med = (which, field) => median(results[which].map((r) => r[field]));
    console.log("| client | upload MB/s | download MB/s | peak RSS MiB after upload | peak RSS MiB |\n|---|---|---|---|---|");
    const labels = { modelstore: "modelstore", "modelstore-node-http": "modelstore, `fetch: nodeFetch` (node:http)", "modelstore-ranged": `modelstore, downloadConcurrency ${CONCURRENCY}`, "aws-sdk": "aws-sdk" };
    for (const which of ["modelstore", "modelstore-node-http", "modelstore-ranged", "aws-sdk"]) {
      console.log(`| ${labels[which]} | ${mbps(med(which, "upload"))} | ${mbps(med(which, "download"))} | ${med(which, "rssUploadMiB").toFixed(0)} | ${med(which, "rssMiB").toFixed(0)} |`);
    }
    console.log(`| floor: load modelstore/s3, one 1 KiB put + get | | | | ${med("floor", "rssMiB").toFixed(0)} |`);
    const limit = (PART * (CONCURRENCY + 1)) / MiB + 60;
    // Time ratios, as the targets are put: below 1.0× means modelstore took less time than the SDK.
    const timeRatio = (which, field) => (med(which, field) / med("aws-sdk", field)).toFixed(2);
    console.log(
      `\nmodelstore's time / the SDK's (medians; target ≤ 1.0×): upload ${timeRatio("modelstore", "upload")}×, ` +
        `download ${timeRatio("modelstore", "download")}×, ${timeRatio("modelstore-ranged", "download")}× with ranged GETs; ` +
        `peak RSS ${med("modelstore", "rssMiB").toFixed(0)} MiB (target ≤ ${limit} MiB = part × (concurrency + 1) + 60).\n` +
        `With fetch: nodeFetch: upload ${timeRatio("modelstore-node-http", "upload")}×, download ${timeRatio("modelstore-node-http", "download")}×, ` +
        `peak RSS ${med("modelstore-node-http", "rssMiB").toFixed(0)} MiB.`,
    );
  } finally {
    execFileSync("bash", [serverScript, "stop", base]);
    rmSync(work, { recursive: true, force: true });
  }
}

await main();

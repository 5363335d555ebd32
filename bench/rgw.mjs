#!/usr/bin/env node
/**
 * Upload time per model on Ceph RGW (a server that enforces conditional writes),
 * with the S3 backend probing them (native: the store trusts the server) against
 * `conditionalWrites: "emulate"` (a HEAD before each conditional put, and the
 * store's read-backs and settle waits). BENCH_MODELS (default 20) uploads of a
 * small model (BENCH_KIB, default 256 KiB of noise, plus a JSON file) into one
 * domain per mode, one after another, the two modes taking turns; prints the
 * median and 90th percentile per mode and their ratio.
 * Run: npm run bench:rgw (builds first; starts and stops Ceph via test/support/ceph.sh,
 * unless RGW_ENDPOINT names a running one with the same credentials).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { AwsClient } from "aws4fetch";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));
const MODELS = Number(process.env.BENCH_MODELS ?? 20);
const SIZE = Number(process.env.BENCH_KIB ?? 256) * 1024;
// As test/support/ceph.sh creates the S3 user.
const credentials = { accessKeyId: "modelstore-test", secretAccessKey: "modelstore-test-secret" };

const { ModelStore } = await import(join(root, "dist/index.js"));
const { s3Backend } = await import(join(root, "dist/s3.js"));

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

async function startCeph() {
  if (process.env.RGW_ENDPOINT) return { endpoint: process.env.RGW_ENDPOINT, stop: async () => {} };
  const script = join(root, "test/support/ceph.sh");
  const base = mkdtempSync(join(tmpdir(), "modelstore-bench-ceph-"));
  const port = await freePort();
  const started = Date.now();
  await run("bash", [script, "start", base, String(port)], { timeout: 300_000 });
  console.log(`Ceph RGW started in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      await run("bash", [script, "stop", base]).catch(() => {});
      rmSync(base, { recursive: true, force: true });
    },
  };
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

const ceph = await startCeph();
try {
  const aws = new AwsClient({ ...credentials, service: "s3", region: "us-east-1" });
  const bucket = `bench-rgw-${Date.now().toString(36)}`;
  const made = await aws.fetch(`${ceph.endpoint}/${bucket}`, { method: "PUT" });
  if (!made.ok) throw new Error(`Cannot create bucket ${bucket}: ${made.status} ${await made.text()}`);
  // RGW answers the first request to a new bucket after ~2 s (it sets up the bucket's index): not the store's time.
  await (await aws.fetch(`${ceph.endpoint}/${bucket}/warm-up`)).arrayBuffer();

  const modes = ["probe", "emulate"];
  const backends = Object.fromEntries(modes.map((mode) => [mode, s3Backend({ bucket, endpoint: ceph.endpoint, credentials, conditionalWrites: mode })]));
  const stores = Object.fromEntries(modes.map((mode) => [mode, new ModelStore({ backend: backends[mode] })]));
  const times = Object.fromEntries(modes.map((mode) => [mode, []]));
  const weights = randomBytes(SIZE);
  for (let i = 0; i < MODELS; i++) {
    for (const mode of modes) {
      const files = [
        { path: "model.json", body: new TextEncoder().encode(JSON.stringify({ layers: 3, run: i })) },
        { path: "weights.bin", body: weights, size: weights.byteLength },
      ];
      const started = performance.now();
      await stores[mode].upload(`bench-${mode}`, { files });
      times[mode].push(performance.now() - started);
    }
  }
  // The probe must have found conditions enforced, or this compares emulation with itself.
  if (!backends.probe.capabilities.conditionalWrites) throw new Error("The probe did not find conditional writes enforced on RGW.");
  const summary = {};
  for (const mode of modes) {
    // The first upload also runs the probe (native) or finds the domain empty: shown apart.
    const sorted = times[mode].slice(1).sort((a, b) => a - b);
    summary[mode] = { median: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), min: sorted[0], max: sorted.at(-1) };
  }
  console.log(`${MODELS} uploads per mode of a ${SIZE / 1024} KiB model into one domain, one at a time (ms; stats without the first):`);
  console.log("mode                      first  median     p90     min     max");
  for (const mode of modes) {
    const s = summary[mode];
    const label = mode === "probe" ? "native (probed)" : "emulate";
    console.log(`${label.padEnd(24)} ${[times[mode][0], s.median, s.p90, s.min, s.max].map((v) => v.toFixed(0).padStart(7)).join(" ")}`);
  }
  console.log(`emulate / native, median: ${(summary.emulate.median / summary.probe.median).toFixed(2)}×`);
  for (const store of Object.values(stores)) await store.close?.();
} finally {
  await ceph.stop();
}

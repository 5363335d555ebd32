/**
 * Ctrl-C and SIGTERM during an S3 upload, sent as real signals to the built
 * CLI, against the real S3 server: the upload is aborted on the server and
 * nothing stays under the domain.
 */
import { spawn, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { s3Backend } from "../../src/backends/s3/s3.ts";
import { xmlElements, xmlText } from "../../src/util/xml.ts";
import { startFaultProxy, type Fault, type FaultProxy } from "../support/fault-proxy.ts";
import { createBucket, testClient, useS3Server, type S3Server } from "../support/s3-server.ts";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "dist/cli/main.js");
let work: string;
let server: S3Server;
let bucket: string;

beforeAll(async () => {
  if (!existsSync(bin)) execFileSync("npm", ["run", "build", "--silent"], { cwd: repo, stdio: "inherit" });
  work = await mkdtemp(join(tmpdir(), "modelstore-cli-signal-"));
  // Incompressible and over two 8 MiB parts, so the upload is multipart.
  await writeFile(join(work, "weights.bin"), randomBytes(17 * 1024 * 1024));
  server = await useS3Server();
  bucket = await createBucket(server, "cli-signal");
}, 300_000);
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
  await server?.stop();
});

/** Every key under `prefix`, listed by the backend itself. */
async function keysUnder(prefix: string): Promise<string[]> {
  const backend = s3Backend({ bucket, endpoint: server.endpoint, region: server.region, credentials: server });
  const keys: string[] = [];
  for await (const info of backend.list(prefix)) keys.push(info.key);
  return keys;
}

/** Multipart uploads begun under `prefix` and neither completed nor aborted (ListMultipartUploads). */
async function unfinishedUploads(prefix: string): Promise<string[]> {
  const response = await testClient(server).fetch(`${server.endpoint}/${bucket}?uploads&prefix=${encodeURIComponent(prefix)}`);
  expect(response.status).toBe(200);
  return xmlElements(await response.text(), "Upload").map((upload) => xmlText(upload, "Key") ?? "");
}

/** Starts `modelstore upload <domain> weights.bin` against the proxy, without waiting for it. */
function startUpload(proxy: FaultProxy, domain: string) {
  const child = spawn(process.execPath, [bin, "upload", domain, "weights.bin"], {
    cwd: work,
    env: {
      ...process.env,
      MODEL_STORE_STORAGE: "aws-s3",
      MODEL_STORE_AWS_BUCKET: bucket,
      AWS_ACCESS_KEY_ID: server.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
      AWS_REGION: server.region,
      AWS_ENDPOINT_URL_S3: proxy.endpoint,
    },
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: string | null; stderr: string; at: number }>((done) =>
    child.on("exit", (code, signal) => done({ code, signal, stderr, at: Date.now() })),
  );
  return { child, exited };
}

async function until(condition: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A part upload of part 2: `PUT /bucket/key?partNumber=2&uploadId=...` as the proxy logs it. */
const PART_2 = /[?&]partNumber=2(&|$)/;
const isPart2 = (line: string) => line.startsWith("PUT ") && PART_2.test(line);

describe("modelstore upload, interrupted", () => {
  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const)("%s mid-upload aborts the multipart upload, removes the archive slot and exits %i", async (signal, exitCode) => {
    const domain = `interrupted-${signal.toLowerCase()}`;
    // Part 2 never gets an answer, so the signal surely lands mid-upload.
    const proxy = await startFaultProxy(server.endpoint, (req): Fault => (req.method === "PUT" && PART_2.test(req.url ?? "") ? "hang" : "forward"));
    try {
      const { child, exited } = startUpload(proxy, domain);
      await until(() => proxy.seen.some(isPart2), "the PUT of part 2");
      expect(await unfinishedUploads(`operatorai-model-store/${domain}/`)).toHaveLength(1);
      child.kill(signal);
      const result = await exited;
      expect(result.signal).toBeNull();
      expect(result.code).toBe(exitCode);
      expect(result.stderr).toMatch(signal === "SIGINT" ? /interrupted, cleaning up/ : /terminated, cleaning up/);
      expect(result.stderr).toMatch(/aborted/);
      // The multipart upload was aborted through the proxy, and nothing is left under the domain.
      expect(proxy.seen.some((line) => line.startsWith("DELETE ") && line.includes("uploadId="))).toBe(true);
      expect(await unfinishedUploads(`operatorai-model-store/${domain}/`)).toEqual([]);
      expect(await keysUnder(`operatorai-model-store/${domain}/`)).toEqual([]);
    } finally {
      await proxy.close();
    }
  }, 300_000);

  it("a second Ctrl-C exits at once, without waiting for the cleanup", async () => {
    const domain = "interrupted-twice";
    // Part 2 and the AbortMultipartUpload both hang: the cleanup would wait out its 10 s bound.
    const proxy = await startFaultProxy(server.endpoint, (req): Fault => {
      const url = req.url ?? "";
      if (req.method === "PUT" && PART_2.test(url)) return "hang";
      if (req.method === "DELETE" && url.includes("uploadId=")) return "hang";
      return "forward";
    });
    try {
      const { child, exited } = startUpload(proxy, domain);
      await until(() => proxy.seen.some(isPart2), "the PUT of part 2");
      child.kill("SIGINT");
      await until(() => proxy.seen.some((line) => line.startsWith("DELETE ") && line.includes("uploadId=")), "the AbortMultipartUpload");
      const second = Date.now();
      child.kill("SIGINT");
      const result = await exited;
      expect(result.code).toBe(130);
      expect(result.at - second).toBeLessThan(2_000);
    } finally {
      await proxy.close();
    }
  }, 300_000);
});

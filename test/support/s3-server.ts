/**
 * A real S3 server for tests: a one-node OpenStack Swift with s3api on a free
 * 127.0.0.1 port, started by `swift.sh`. Use it three ways:
 *   - vitest `globalSetup: ["test/support/s3-server.ts"]` (one Swift for the run,
 *     published to the test files through S3_* environment variables);
 *   - `await useS3Server()` in a test file: reuses that server when the
 *     variables are set, else starts its own (and `stop()` stops it);
 *   - `await startS3Server()` directly.
 * Each test file then calls `createBucket(server)` for a bucket of its own.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { AwsClient } from "aws4fetch";
import { s3Backend, type S3Backend, type S3BackendOptions } from "../../src/s3.ts";

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL("./swift.sh", import.meta.url));

/** Where the server is and how to sign for it. */
export interface S3Server {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** Stops the server if this process started it; a no-op for a shared one. */
  stop(): Promise<void>;
}

/** A TCP port nobody listens on right now (the kernel picks it, so engineers do not clash). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Starts a fresh Swift in a temporary directory; resolves once its healthcheck answers. */
export function startS3Server(): Promise<S3Server> {
  return startScriptedServer({ name: "Swift", script: SCRIPT, accessKeyId: "test:tester", secretAccessKey: "testing" });
}

/** A server that a `start BASE_DIR PORT` / `stop BASE_DIR` script runs (swift.sh, ceph.sh). */
export interface ScriptedServer {
  /** For messages and the temp dir's name. */
  name: string;
  script: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** Runs `script start` in a fresh temp dir on a free port; `stop()` runs `script stop` and removes the dir. */
export async function startScriptedServer(spec: ScriptedServer): Promise<S3Server> {
  const { script } = spec;
  const base = await mkdtemp(join(tmpdir(), `modelstore-${spec.name.toLowerCase()}-`));
  let lastError: unknown;
  // A port picked free can be taken before the server binds it: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      await run("bash", [script, "start", base, String(port)], { timeout: 300_000 });
      // If the test process ends without teardown (a crash, a timeout), the server's
      // processes are in their own sessions and would outlive it: stop them here.
      const onExit = () => {
        try {
          execFileSync("bash", [script, "stop", base], { stdio: "ignore" });
        } catch {
          // Exiting anyway.
        }
      };
      process.once("exit", onExit);
      return {
        endpoint: `http://127.0.0.1:${port}`,
        accessKeyId: spec.accessKeyId,
        secretAccessKey: spec.secretAccessKey,
        region: "us-east-1",
        stop: async () => {
          process.removeListener("exit", onExit);
          await run("bash", [script, "stop", base]).catch(() => {});
          await rm(base, { recursive: true, force: true });
        },
      };
    } catch (error) {
      lastError = error;
    }
  }
  await rm(base, { recursive: true, force: true });
  throw new Error(`Could not start ${spec.name} for the S3 tests (see ${script}): ${String((lastError as Error)?.message ?? lastError)}`);
}

/** The server named by S3_ENDPOINT & co. (a globalSetup's or CI's), or a fresh one. */
export async function useS3Server(): Promise<S3Server> {
  const env = process.env;
  if (env.S3_ENDPOINT) {
    return {
      endpoint: env.S3_ENDPOINT,
      accessKeyId: env.S3_ACCESS_KEY_ID ?? "test:tester",
      secretAccessKey: env.S3_SECRET_ACCESS_KEY ?? "testing",
      region: env.S3_REGION ?? "us-east-1",
      stop: async () => {},
    };
  }
  return startS3Server();
}

/** A signing client for test-side requests (bucket creation, ListMultipartUploads). */
export function testClient(server: S3Server): AwsClient {
  return new AwsClient({
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
    region: server.region,
    service: "s3",
    retries: 0,
  });
}

/** The fetch that {@link backendOn}'s backends send with, when set; s3-node-fetch.test.ts sets it to run the S3 suite again over nodeFetch. */
export const testTransport: { fetch?: typeof fetch } = {};

/** An S3 backend on `bucket` of `server`, signed with its keys. */
export function backendOn(server: S3Server, bucket: string, options: Partial<S3BackendOptions> = {}): S3Backend {
  return s3Backend({
    ...(testTransport.fetch ? { fetch: testTransport.fetch } : {}),
    bucket,
    endpoint: server.endpoint,
    region: server.region,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    ...options,
  });
}

/**
 * A backend for S3 backend tests: 5 MiB parts, so multipart paths run on small
 * bodies, and retries that back off from 5 ms, so failure tests stay fast.
 */
export function partTestBackend(server: S3Server, bucket: string, extra: Partial<S3BackendOptions> = {}, endpoint = server.endpoint): S3Backend {
  const backend = backendOn(server, bucket, { endpoint, partSize: 5 * 1024 * 1024, ...extra });
  (backend as unknown as { transport: { backoffMs: number } }).transport.backoffMs = 5;
  return backend;
}

/** The environment a child process reads `server` from (test fixtures, through {@link backendOn}'s S3_* twins). */
export function serverEnv(server: S3Server): NodeJS.ProcessEnv {
  return {
    ...process.env,
    S3_ENDPOINT: server.endpoint,
    S3_REGION: server.region,
    S3_ACCESS_KEY_ID: server.accessKeyId,
    S3_SECRET_ACCESS_KEY: server.secretAccessKey,
  };
}

/** Creates a bucket with a unique name (one per test file) and returns the name. */
export async function createBucket(server: S3Server, label = "t"): Promise<string> {
  const name = `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`.toLowerCase();
  // Right after start the proxy is healthy before the account and container
  // servers answer, so the first writes can get 503 for a few seconds.
  for (let attempt = 0; ; attempt++) {
    const response = await testClient(server).fetch(`${server.endpoint}/${name}`, { method: "PUT" });
    if (response.ok) return name;
    const body = await response.text();
    if (response.status < 500 || attempt >= 40) throw new Error(`Cannot create bucket ${name}: ${response.status} ${body}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

let globalServer: S3Server | undefined;

/** vitest globalSetup: one Swift for the whole run, unless S3_ENDPOINT already names one. */
export async function setup(): Promise<void> {
  if (process.env.S3_ENDPOINT) return;
  globalServer = await startS3Server();
  process.env.S3_ENDPOINT = globalServer.endpoint;
  process.env.S3_ACCESS_KEY_ID = globalServer.accessKeyId;
  process.env.S3_SECRET_ACCESS_KEY = globalServer.secretAccessKey;
  process.env.S3_REGION = globalServer.region;
}

/** vitest globalSetup teardown: stops the Swift that {@link setup} started. */
export async function teardown(): Promise<void> {
  await globalServer?.stop();
  globalServer = undefined;
}

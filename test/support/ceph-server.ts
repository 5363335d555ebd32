/**
 * A second real S3 server for tests: Ceph's RADOS Gateway (RGW) on a one-node
 * cluster in a temp dir, started by `ceph.sh`. Unlike Swift it enforces
 * conditional writes, so the backend's native path runs against it.
 *
 * Starting Ceph takes ~15 s, so it starts only when a test file asks for it:
 *   - vitest `globalSetup: ["test/support/ceph-server.ts"]` starts nothing, but
 *     listens on a loopback port (RGW_STARTER); the first `useCephServer()` of the
 *     run has it start one cluster, which every later file shares, and teardown stops it;
 *   - `RGW_ENDPOINT` (& `RGW_ACCESS_KEY_ID`, `RGW_SECRET_ACCESS_KEY`) names a running one;
 *   - otherwise `useCephServer()` starts a cluster of its own, which `stop()` stops.
 */
import { createServer, type Server } from "node:http";
import { fileURLToPath } from "node:url";
import { startScriptedServer, type S3Server } from "./s3-server.ts";

const SCRIPT = fileURLToPath(new URL("./ceph.sh", import.meta.url));
// As ceph.sh creates the S3 user.
const ACCESS_KEY_ID = "modelstore-test";
const SECRET_ACCESS_KEY = "modelstore-test-secret";

/** Starts a fresh Ceph cluster with RGW; resolves once S3 requests are answered. */
export function startCephServer(): Promise<S3Server> {
  return startScriptedServer({ name: "Ceph", script: SCRIPT, accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY });
}

function shared(endpoint: string): S3Server {
  const env = process.env;
  return {
    endpoint,
    accessKeyId: env.RGW_ACCESS_KEY_ID ?? ACCESS_KEY_ID,
    secretAccessKey: env.RGW_SECRET_ACCESS_KEY ?? SECRET_ACCESS_KEY,
    region: "us-east-1",
    stop: async () => {},
  };
}

/** The run's shared RGW (started on first use), the one RGW_ENDPOINT names, or a fresh one. */
export async function useCephServer(): Promise<S3Server> {
  const { RGW_ENDPOINT, RGW_STARTER } = process.env;
  if (RGW_ENDPOINT) return shared(RGW_ENDPOINT);
  if (!RGW_STARTER) return startCephServer();
  const response = await fetch(RGW_STARTER, { signal: AbortSignal.timeout(600_000) });
  const body = await response.text();
  if (!response.ok) throw new Error(body);
  return shared(body);
}

let starter: Server | undefined;
let starting: Promise<S3Server> | undefined;

/** vitest globalSetup: publishes RGW_STARTER, which starts one cluster for the run when first asked. */
export async function setup(): Promise<void> {
  if (process.env.RGW_ENDPOINT || process.env.RGW_STARTER) return;
  starter = createServer((_request, response) => {
    starting ??= startCephServer();
    starting.then(
      (server) => response.end(server.endpoint),
      (error: unknown) => {
        starting = undefined; // the next file tries again
        response.statusCode = 500;
        response.end(String((error as Error)?.message ?? error));
      },
    );
  });
  const server = starter;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("The RGW starter has no port");
  process.env.RGW_STARTER = `http://127.0.0.1:${address.port}`;
}

/** vitest globalSetup teardown: stops the cluster if a test file started one. */
export async function teardown(): Promise<void> {
  const server = await starting?.catch(() => undefined);
  starting = undefined;
  await server?.stop();
  await new Promise((resolve) => (starter ? starter.close(resolve) : resolve(undefined)));
  starter = undefined;
  delete process.env.RGW_STARTER;
}

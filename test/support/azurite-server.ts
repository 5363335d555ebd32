/**
 * A real Azure Blob server for tests: Azurite (npm, a devDependency) on a free
 * 127.0.0.1 port in a temp dir, with its well-known devstoreaccount1 key. Azurite
 * checks SharedKey signatures and enforces If-None-Match / If-Match.
 * The test run starts one (vitest globalSetup, below) and `await useAzurite()`
 * reuses it through AZURITE_BLOB_ENDPOINT; a file run alone without it starts
 * its own (`stop()` stops it).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { azureBackend, type AzureBackend, type AzureBackendOptions } from "../../src/azure.ts";
import { DEV_ACCOUNT, DEV_KEY } from "../../src/backends/azure/azure-auth.ts";
import { freePort } from "./s3-server.ts";

const AZURITE = fileURLToPath(new URL("../../node_modules/azurite/dist/src/blob/main.js", import.meta.url));

/** Where Azurite listens and how to sign for it. */
export interface AzuriteServer {
  /** `http://127.0.0.1:<port>/devstoreaccount1` */
  endpoint: string;
  account: string;
  accountKey: string;
  stop(): Promise<void>;
}

/** Starts Azurite's blob service; resolves once it answers. */
export async function startAzurite(): Promise<AzuriteServer> {
  const base = await mkdtemp(join(tmpdir(), "modelstore-azurite-"));
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(process.execPath, [AZURITE, "--blobHost", "127.0.0.1", "--blobPort", String(port), "--location", base, "--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (d) => (stderr += String(d)));
    const endpoint = `http://127.0.0.1:${port}/${DEV_ACCOUNT}`;
    const onExit = () => child.kill();
    process.once("exit", onExit);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        await fetch(`${endpoint}?comp=list`);
        return {
          endpoint,
          account: DEV_ACCOUNT,
          accountKey: DEV_KEY,
          stop: async () => {
            process.off("exit", onExit);
            child.kill();
            await new Promise((r) => (child.exitCode === null ? child.once("exit", r) : r(null)));
            await rm(base, { recursive: true, force: true });
          },
        };
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    child.kill();
    lastError = new Error(`Azurite did not start on port ${port}: ${stderr}`);
  }
  throw lastError;
}

/** Reuses AZURITE_BLOB_ENDPOINT when set, else starts Azurite for this test file. */
export async function useAzurite(): Promise<AzuriteServer> {
  const shared = process.env.AZURITE_BLOB_ENDPOINT;
  if (shared) return { endpoint: shared, account: DEV_ACCOUNT, accountKey: DEV_KEY, stop: async () => {} };
  return startAzurite();
}

let containers = 0;

/** Creates a fresh container and returns a backend on it. */
export async function createContainer(server: AzuriteServer, label = "t", extra: Partial<AzureBackendOptions> = {}): Promise<{ name: string; backend: AzureBackend }> {
  const name = `${label}-${Date.now().toString(36)}-${++containers}`.toLowerCase();
  const backend = azureBackend({ container: name, endpoint: server.endpoint, account: server.account, accountKey: server.accountKey, ...extra });
  // Create Container is a signed PUT ?restype=container: reuse the backend's signer.
  const response = await (backend as unknown as { request: (...a: unknown[]) => Promise<Response> }).request("create container", "PUT", undefined, { query: { restype: "container" } });
  if (response.status !== 201) throw new Error(`Could not create container ${name}: HTTP ${response.status} ${await response.text()}`);
  return { name, backend };
}

let globalServer: AzuriteServer | undefined;

/** vitest globalSetup: one Azurite for the whole run (test files reuse it through useAzurite), unless AZURITE_BLOB_ENDPOINT names one. */
export async function setup(): Promise<void> {
  if (process.env.AZURITE_BLOB_ENDPOINT) return;
  globalServer = await startAzurite();
  process.env.AZURITE_BLOB_ENDPOINT = globalServer.endpoint;
}

/** vitest globalSetup teardown: stops the Azurite that {@link setup} started. */
export async function teardown(): Promise<void> {
  await globalServer?.stop();
  globalServer = undefined;
}

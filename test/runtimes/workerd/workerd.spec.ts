/**
 * The workerd smoke suite: bundles check-worker.ts (platform neutral, from the
 * core sources), runs it in workerd through Miniflare, and turns each check's
 * result into a test here. The checks never see Node: they run in workerd.
 */
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleWorker } from "../../../examples/edge-worker/build.mjs";
import { createBucket, useS3Server, type S3Server } from "../../support/s3-server.ts";
import { workerChecks, type CheckResult } from "./check-worker.ts";
import { COMPATIBILITY_DATE } from "./compat.ts";

const ENTRY = new URL("./check-worker.ts", import.meta.url).pathname;

let server: S3Server;
let bindings: Record<string, string>;
let results = new Map<string, CheckResult>();
let startError: unknown;

beforeAll(async () => {
  server = await useS3Server();
  bindings = {
    S3_ENDPOINT: server.endpoint,
    S3_BUCKET: await createBucket(server, "workerd"),
    S3_REGION: server.region,
    S3_ACCESS_KEY_ID: server.accessKeyId,
    S3_SECRET_ACCESS_KEY: server.secretAccessKey,
    EXPECTED_RUNTIME: "workerd",
    AZURITE_BLOB_ENDPOINT: process.env.AZURITE_BLOB_ENDPOINT ?? "",
  };
  let mf: Miniflare | undefined;
  try {
    const { code, externalImports } = await bundleWorker(ENTRY);
    expect(externalImports).toEqual([]);
    mf = new Miniflare({ modules: [{ type: "ESModule", path: "check-worker.mjs", contents: code }], compatibilityDate: COMPATIBILITY_DATE, bindings, r2Buckets: ["MODELS"] });
    const response = await mf.dispatchFetch("http://checks/");
    const body = await response.text();
    if (!response.ok) throw new Error(`the check worker answered ${response.status}: ${body}`);
    results = new Map((JSON.parse(body) as CheckResult[]).map((r) => [r.name, r]));
  } catch (error) {
    startError = error; // every check below fails with it
  } finally {
    await mf?.dispose();
  }
}, 300_000);

afterAll(async () => {
  await server?.stop();
});

describe("workerd", () => {
  // The names come from the same list the worker runs, so a check the worker skipped fails here.
  for (const check of workerChecks({ S3_ENDPOINT: "x", S3_BUCKET: "x" })) {
    it(check.name, () => {
      if (startError) throw startError;
      const result = results.get(check.name);
      expect(result, `the worker reported no result for "${check.name}"`).toBeDefined();
      if (!result!.ok) throw new Error(result!.error);
    });
  }
});

/**
 * The workerd smoke suite's worker: runs the shared runtime checks inside
 * workerd and answers with their results as JSON, which workerd.spec.ts
 * (on Node) turns into one test each. Bundled by examples/edge-worker/build.mjs.
 */
import { s3Backend } from "../../../src/s3.ts";
import { coreChecks, s3Checks, s3Options, s3TargetFromEnv, type Check } from "../checks.ts";
import { r2Checks } from "../r2-checks.ts";
import { azureChecks, azuriteFromEnv } from "../azure-checks.ts";
import type { R2BucketBinding } from "../../../src/r2.ts";

/** What one check did inside workerd. */
export interface CheckResult {
  name: string;
  ok: boolean;
  error?: string;
}

/** Every check the worker runs; the spec builds its test list from the same function. */
export function workerChecks(env: Record<string, string | undefined>, models?: R2BucketBinding): Check[] {
  const expected = { name: "workerd", label: env.EXPECTED_RUNTIME ?? "workerd" };
  return [...coreChecks(expected), ...s3Checks(s3TargetFromEnv(env), (target) => s3Backend(s3Options(target)), expected), ...azureChecks(azuriteFromEnv(env), expected), ...r2Checks(models, expected)];
}

export default {
  async fetch(_request: Request, env: Record<string, string | undefined> & { MODELS?: R2BucketBinding }): Promise<Response> {
    const results: CheckResult[] = [];
    const { MODELS, ...strings } = env;
    for (const check of workerChecks(strings as Record<string, string | undefined>, MODELS)) {
      try {
        await check.run();
        results.push({ name: check.name, ok: true });
      } catch (error) {
        results.push({ name: check.name, ok: false, error: error instanceof Error ? `${error.message}\n${error.stack ?? ""}` : String(error) });
      }
    }
    return Response.json(results);
  },
};

/**
 * The Bun smoke suite: the shared runtime checks, the file-system backend and
 * the CLI under `bun`, and the S3 backend against the runner's server. Run by
 * test/runtimes/run.mjs: bun test ./test/runtimes/bun/
 */
import { test } from "bun:test";
import { s3Backend } from "../../../src/s3.ts";
import { coreChecks, s3Checks, s3Options, s3TargetFromEnv, type Check, type ExpectedRuntime } from "../checks.ts";
import { azureChecks, azuriteFromEnv } from "../azure-checks.ts";
import { fsChecks, REPO } from "../fs-checks.ts";

declare const Bun: { version: string };

// The runner passes what `bun --version` printed; the suite falls back to Bun's own report.
const expected: ExpectedRuntime = { name: "bun", label: process.env.EXPECTED_RUNTIME ?? `bun:${Bun.version}` };

const checks: Check[] = [
  ...coreChecks(expected),
  ...s3Checks(s3TargetFromEnv(process.env), (target) => s3Backend(s3Options(target)), expected),
  ...azureChecks(azuriteFromEnv(process.env), expected),
  ...fsChecks(expected, [process.execPath, `${REPO}src/cli/main.ts`]),
];
for (const check of checks) test(check.name, () => check.run(), 60_000);

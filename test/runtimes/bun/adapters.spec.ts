/** The framework adapters under Bun (see ../adapter-checks.ts). Run by test/runtimes/run.mjs. */
import { test } from "bun:test";
import { adapterChecks } from "../adapter-checks.ts";
import { s3TargetFromEnv } from "../checks.ts";

for (const check of adapterChecks(s3TargetFromEnv(process.env))) test(check.name, () => check.run(), 120_000);

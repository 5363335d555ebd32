/// <reference lib="deno.ns" />
/** The framework adapters under Deno (see ../adapter-checks.ts). Run by test/runtimes/run.mjs. */
import { adapterChecks } from "../adapter-checks.ts";
import { s3TargetFromEnv } from "../checks.ts";

for (const check of adapterChecks(s3TargetFromEnv(Deno.env.toObject()))) {
  Deno.test({ name: check.name, fn: () => check.run(), sanitizeResources: false, sanitizeOps: false });
}

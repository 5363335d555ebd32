/// <reference lib="deno.ns" />
/**
 * The Deno smoke suite: the shared runtime checks, the file-system backend and
 * the CLI under `deno run`, the S3 backend against the runner's server, and
 * `deno check` of every public entry point. Run by test/runtimes/run.mjs:
 *   deno test -A --cached-only test/runtimes/deno/
 */
import { s3Backend } from "../../../src/s3.ts";
import { assert, assertBytesEqual, assertEqual, coreChecks, s3Checks, s3Options, s3TargetFromEnv, type Check, type ExpectedRuntime } from "../checks.ts";
import { azureChecks, azuriteFromEnv } from "../azure-checks.ts";
import { fsChecks, inTempDir, REPO, run } from "../fs-checks.ts";

// The runner passes what `deno --version` printed; the suite falls back to Deno's own report.
const expected: ExpectedRuntime = { name: "deno", label: Deno.env.get("EXPECTED_RUNTIME") ?? `deno:${Deno.version.deno}` };
const deno = Deno.execPath();

const checks: Check[] = [
  ...coreChecks(expected),
  ...s3Checks(s3TargetFromEnv(Deno.env.toObject()), (target) => s3Backend(s3Options(target)), expected),
  ...azureChecks(azuriteFromEnv(Deno.env.toObject()), expected),
  ...fsChecks(expected, [deno, "run", "-A", "--cached-only", `${REPO}src/cli/main.ts`]),
];
for (const check of checks) Deno.test({ name: check.name, fn: () => check.run(), sanitizeResources: false, sanitizeOps: false });

Deno.test("deno check passes offline on every public entry point (deno.json exports and modelstore/s3) and the Deno example", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${REPO}deno.json`));
  // The exports, plus every import-map entry that names a local source (modelstore/s3 before it is exported).
  const local = Object.values(config.imports as Record<string, string>).filter((p) => p.startsWith("./src/"));
  const entries = [...new Set([...Object.values(config.exports as Record<string, string>), ...local])].map((p) => `${REPO}${p.replace(/^\.\//, "")}`);
  const result = await new Deno.Command(deno, {
    args: ["check", "--quiet", "--cached-only", ...entries, `${REPO}examples/deno/upload.ts`],
    cwd: REPO,
    env: { NO_COLOR: "1" },
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (result.code !== 0) throw new Error(`deno check failed (${entries.join(", ")}):\n${stderr}`);
});

Deno.test("examples/deno/upload.ts uploads examples/model and downloads it back with only read, write and USER env permissions", async () => {
  await inTempDir(async (dir) => {
    const result = await run(deno, ["run", "--allow-read", "--allow-write", "--allow-env=USER,USERNAME", "--cached-only", `${REPO}examples/deno/upload.ts`, `${dir}/store`]);
    if (result.code !== 0) throw new Error(`the example exited ${result.code}:\n${result.stderr}`);
    const id = /uploaded (\S+) from (\S+)/.exec(result.stdout);
    assert(id, `no "uploaded" line in:\n${result.stdout}`);
    assertEqual(id[2], expected.label, "runtime the example reports");
    assert(result.stdout.includes(`latest is ${id[1]}, a logistic-regression`), `no "latest" line in:\n${result.stdout}`);
    const downloaded = await Deno.readFile(`${dir}/store/downloaded/${id[1]}/weights.bin`);
    assertBytesEqual(downloaded, await Deno.readFile(`${REPO}examples/model/weights.bin`), "downloaded weights.bin");
  });
});

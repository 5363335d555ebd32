// Runs the runtime suites (Deno, Bun, workerd) against one local S3 server and
// writes what each counted to <out>/<runtime>.json as {numPassedTests,
// numFailedTests}, the shape .ci/count.mjs sums. A runtime that fails to start
// or exits non-zero without reporting a failed test counts one failure.
//   node test/runtimes/run.mjs [out-dir=.ci/out] [deno|bun|workerd ...]
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { AwsClient } from "aws4fetch";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(REPO, "node_modules/.bin");
const args = process.argv.slice(2);
const out = resolve(REPO, args.find((a) => !["deno", "bun", "workerd"].includes(a)) ?? ".ci/out");
const only = args.filter((a) => ["deno", "bun", "workerd"].includes(a));
const selected = (name) => only.length === 0 || only.includes(name);
// Raw runner output goes one level down: count.mjs sums every *.json directly in `out`.
const raw = join(out, "runtimes");
mkdirSync(raw, { recursive: true });

/** Runs a command with inherited output; resolves its exit code (or -1 when it could not start / timed out). */
function run(command, commandArgs, env = {}, timeoutMs = 600_000) {
  return new Promise((done) => {
    const child = spawn(command, commandArgs, { cwd: REPO, stdio: "inherit", env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...env } });
    const timer = setTimeout(() => {
      console.error(`${command} ran over ${timeoutMs / 1000}s: stopping it`);
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (error) => {
      console.error(`${command} could not start: ${error.message}`);
      clearTimeout(timer);
      done(-1);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      done(signal ? -1 : code ?? -1);
    });
  });
}

/** Counts <testcase>s in a JUnit file: one with <failure>, <error> or <skipped> in it did not pass. */
export function countJunit(xml) {
  let passed = 0;
  const failed = [];
  for (const match of xml.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const name = /\bname="([^"]*)"/.exec(match[1])?.[1] ?? "?";
    if (match[2] && /<(failure|error|skipped)\b/.test(match[2])) failed.push(name);
    else passed += 1;
  }
  return { passed, failed };
}

/** Writes a runtime's report; a non-zero exit with no failed test counts as one failure. */
function report(runtime, code, counted, note) {
  const failures = [...(counted?.failed ?? [])];
  if (!counted) failures.push(note ?? `${runtime} wrote no report (exit ${code})`);
  else if (code !== 0 && failures.length === 0) failures.push(`${runtime} exited ${code} although every test passed`);
  const result = { runtime, numPassedTests: counted?.passed ?? 0, numFailedTests: failures.length, failures };
  writeFileSync(join(out, `${runtime}.json`), JSON.stringify(result, null, 2) + "\n");
  console.log(`::: ${runtime}: ${result.numPassedTests} passed, ${result.numFailedTests} failed${failures.length ? `\n    ${failures.join("\n    ")}` : ""}`);
  return result;
}

function version(command, pattern) {
  try {
    return pattern.exec(execFileSync(command, ["--version"], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } }))?.[1];
  } catch {
    return undefined;
  }
}

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** Starts Swift with test/support/swift.sh (the S3 tests' server) unless S3_ENDPOINT names one. */
async function startS3() {
  if (process.env.S3_ENDPOINT) return { endpoint: process.env.S3_ENDPOINT, stop() {} };
  const base = mkdtempSync(join(tmpdir(), "modelstore-swift-"));
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      execFileSync("bash", [join(REPO, "test/support/swift.sh"), "start", base, String(port)], { stdio: ["ignore", "ignore", "inherit"], timeout: 300_000 });
      return {
        endpoint: `http://127.0.0.1:${port}`,
        stop() {
          try {
            execFileSync("bash", [join(REPO, "test/support/swift.sh"), "stop", base]);
          } finally {
            rmSync(base, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
          }
        },
      };
    } catch (error) {
      console.error(`Swift did not start on port ${port}: ${error.message}`);
    }
  }
  rmSync(base, { recursive: true, force: true });
  throw new Error("Could not start the S3 server (test/support/swift.sh)");
}

/**
 * Starts Azurite (npm) for the Azure checks unless AZURITE_BLOB_ENDPOINT names one;
 * the same server test/support/azurite-server.ts starts for the Node suites.
 */
async function startAzurite() {
  if (process.env.AZURITE_BLOB_ENDPOINT) return { endpoint: process.env.AZURITE_BLOB_ENDPOINT, stop() {} };
  const base = mkdtempSync(join(tmpdir(), "modelstore-azurite-"));
  const port = await freePort();
  const main = join(REPO, "node_modules/azurite/dist/src/blob/main.js");
  const child = spawn(process.execPath, [main, "--blobHost", "127.0.0.1", "--blobPort", String(port), "--location", base, "--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry"], { stdio: "ignore" });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill();
      // Azurite writes its last files as it exits: removing its folder before then failed with
      // ENOTEMPTY even with retries, so wait for the exit (at most 10 s).
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    }
    rmSync(base, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  };
  const endpoint = `http://127.0.0.1:${port}/devstoreaccount1`;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline && child.exitCode === null; ) {
    try {
      await fetch(`${endpoint}?comp=list`);
      return { endpoint, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await stop();
  throw new Error(`Azurite did not start on port ${port}`);
}

async function createBucket(env) {
  const client = new AwsClient({ accessKeyId: env.S3_ACCESS_KEY_ID, secretAccessKey: env.S3_SECRET_ACCESS_KEY, region: env.S3_REGION, service: "s3", retries: 0 });
  const name = `runtimes-${Date.now().toString(36)}`;
  // Right after start Swift answers 503 for a few seconds.
  for (let attempt = 0; ; attempt++) {
    const response = await client.fetch(`${env.S3_ENDPOINT}/${name}`, { method: "PUT" });
    if (response.ok) return name;
    if (response.status < 500 || attempt >= 40) throw new Error(`Cannot create bucket ${name}: ${response.status} ${await response.text()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

let s3;
const s3Env = {};
try {
  s3 = await startS3();
  Object.assign(s3Env, {
    S3_ENDPOINT: s3.endpoint,
    S3_ACCESS_KEY_ID: process.env.S3_ACCESS_KEY_ID ?? "test:tester",
    S3_SECRET_ACCESS_KEY: process.env.S3_SECRET_ACCESS_KEY ?? "testing",
    S3_REGION: process.env.S3_REGION ?? "us-east-1",
  });
  s3Env.S3_BUCKET = await createBucket(s3Env);
} catch (error) {
  // The suites still run; their S3 checks fail and say why.
  console.error(`No S3 server for the runtime suites: ${error.message}`);
}

let azurite;
try {
  azurite = await startAzurite();
  s3Env.AZURITE_BLOB_ENDPOINT = azurite.endpoint;
} catch (error) {
  // As for S3: the suites run, and their Azure checks fail and say why.
  console.error(`No Azurite for the runtime suites: ${error.message}`);
}

const results = [];
try {
  if (selected("deno")) {
    const xml = join(raw, "deno.junit.xml");
    rmSync(xml, { force: true });
    const v = version(join(BIN, "deno"), /deno (\S+)/);
    const code = await run(join(BIN, "deno"), ["test", "-A", "--cached-only", `--junit-path=${xml}`, "test/runtimes/deno/"], { ...s3Env, EXPECTED_RUNTIME: `deno:${v}` });
    results.push(report("deno", code, existsSync(xml) ? countJunit(readFileSync(xml, "utf8")) : undefined));
  }
  if (selected("bun")) {
    const xml = join(raw, "bun.junit.xml");
    rmSync(xml, { force: true });
    const v = version(join(BIN, "bun"), /^(\S+)/);
    const code = await run(join(BIN, "bun"), ["test", "--reporter=junit", `--reporter-outfile=${xml}`, "./test/runtimes/bun/"], { ...s3Env, EXPECTED_RUNTIME: `bun:${v}` });
    results.push(report("bun", code, existsSync(xml) ? countJunit(readFileSync(xml, "utf8")) : undefined));
  }
  if (selected("workerd")) {
    const json = join(raw, "workerd.vitest.json");
    rmSync(json, { force: true });
    const code = await run(process.execPath, [join(REPO, "node_modules/vitest/vitest.mjs"), "run", "--config", "test/runtimes/workerd/vitest.config.ts", "--reporter=default", "--reporter=json", `--outputFile.json=${json}`], s3Env);
    let counted;
    if (existsSync(json)) {
      const vitest = JSON.parse(readFileSync(json, "utf8"));
      const failed = (vitest.testResults ?? []).flatMap((file) => [
        ...(file.assertionResults ?? []).filter((t) => t.status !== "passed").map((t) => t.fullName ?? t.title),
        // A spec file that failed to load has no tests but must not pass.
        ...(file.status === "failed" && (file.assertionResults ?? []).length === 0 ? [`${file.name} failed to run`] : []),
      ]);
      counted = { passed: vitest.numPassedTests ?? 0, failed };
    }
    results.push(report("workerd", code, counted));
  }
} finally {
  // Both stop even if the first one's cleanup fails.
  try {
    s3?.stop();
  } finally {
    await azurite?.stop();
  }
}
process.exit(results.every((r) => r.numFailedTests === 0) ? 0 : 1);

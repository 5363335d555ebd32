/**
 * Checks for runtimes with a file system and processes (Deno, Bun): the
 * file-system backend, `downloadModel`, and the CLI run by this same runtime.
 * Uses `node:` modules, which Deno and Bun both provide.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ModelStore } from "../../src/index.ts";
import { downloadModel, fileSystemBackend, filesFromDirectory } from "../../src/fs.ts";
import { assert, assertBytesEqual, assertEqual, noise, type Check, type ExpectedRuntime } from "./checks.ts";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));

/** Runs `fn` in a fresh temp dir, removed afterwards. */
export async function inTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "modelstore-rt-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes a small model directory and returns its files' contents by relative path. */
async function writeModel(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>([
    ["config.json", new TextEncoder().encode('{"architecture":"logistic-regression"}')],
    ["weights.bin", noise(200_000, 11)],
    ["tokenizer/vocab.txt", new TextEncoder().encode("a\nb\n")],
  ]);
  for (const [path, bytes] of files) {
    await mkdir(join(dir, path, ".."), { recursive: true });
    await writeFile(join(dir, path), bytes);
  }
  return files;
}

async function listFiles(dir: string, base = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, base), { withFileTypes: true })) {
    const rel = base ? `${base}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

/** The result of one process run. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without a shell; never rejects on a non-zero exit. */
export function run(command: string, args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: options.cwd ?? REPO, env: { ...process.env, NO_COLOR: "1", ...options.env }, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/**
 * File-system backend and CLI checks. `cli` is how this runtime runs
 * src/cli/main.ts, e.g. `[Deno.execPath(), "run", "-A", ".../main.ts"]`.
 */
export function fsChecks(expected: ExpectedRuntime, cli: string[]): Check[] {
  const [command, ...prefix] = cli;
  const runCli = (args: string[], cwd: string) => run(command, [...prefix, ...args], { cwd });
  return [
    {
      name: "a directory uploaded to the file-system backend downloads back byte-identical",
      async run() {
        await inTempDir(async (dir) => {
          const files = await writeModel(join(dir, "model"));
          const store = new ModelStore({ backend: fileSystemBackend({ root: join(dir, "store") }) });
          const meta = await store.upload("fs-refunds", { files: filesFromDirectory(join(dir, "model")) });
          assertEqual(meta.code.runtime, expected.label, "metadata code.runtime");
          assertEqual((await store.getLatest("fs-refunds")).model.model_id, meta.model.model_id, "getLatest() id");
          await downloadModel(store, "fs-refunds", undefined, join(dir, "out"));
          assertEqual(await listFiles(join(dir, "out")), [...files.keys(), "runtime-info.json"].sort(), "downloaded files");
          const info = JSON.parse(await readFile(join(dir, "out", "runtime-info.json"), "utf8"));
          assertEqual(`${info.runtime.name}:${info.runtime.version}`, expected.label, "downloaded runtime-info.json runtime");
          for (const [path, bytes] of files) assertBytesEqual(new Uint8Array(await readFile(join(dir, "out", path))), bytes, path);
          await store.deleteModel("fs-refunds", meta.model.model_id);
          assertEqual(await store.listModels("fs-refunds"), [], "listModels() after deleteModel()");
        });
      },
    },
    {
      name: "the CLI prints its usage with --help and exits 0",
      async run() {
        const result = await runCli(["--help"], REPO);
        assertEqual(result.code, 0, `exit code (stderr: ${result.stderr})`);
        assert(result.stdout.includes("Usage:") && result.stdout.includes("modelstore upload"), `usage text: ${result.stdout}`);
      },
    },
    {
      name: "the CLI uploads a directory, reports this runtime in info, cats a file, and exits 3 for a missing domain",
      async run() {
        await inTempDir(async (dir) => {
          const files = await writeModel(join(dir, "model"));
          const root = join(dir, "store");
          const upload = await runCli(["upload", "cli-refunds", join(dir, "model"), "--root", root, "--json", "--meta", '{"accuracy":0.9}'], dir);
          assertEqual(upload.code, 0, `upload exit code (stderr: ${upload.stderr})`);
          const uploaded = JSON.parse(upload.stdout);
          const info = await runCli(["info", "cli-refunds", "--root", root, "--json"], dir);
          assertEqual(info.code, 0, `info exit code (stderr: ${info.stderr})`);
          const meta = JSON.parse(info.stdout);
          assertEqual(meta.model.model_id, uploaded.model.model_id, "info id");
          assertEqual(meta.code.runtime, expected.label, "info code.runtime");
          assertEqual(meta.extra, { accuracy: 0.9 }, "info extra");
          const cat = await runCli(["cat", "cli-refunds", "latest", "config.json", "--root", root], dir);
          assertEqual(cat.code, 0, `cat exit code (stderr: ${cat.stderr})`);
          assertEqual(cat.stdout, new TextDecoder().decode(files.get("config.json")), "cat output");
          const missing = await runCli(["info", "no-such-domain", "--root", root], dir);
          assertEqual(missing.code, 3, `exit code for a missing domain (stderr: ${missing.stderr})`);
        });
      },
    },
  ];
}

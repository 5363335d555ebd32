/**
 * The compare-and-swap lock of the file-system backend when its holder dies:
 * real child processes take the lock and are killed with SIGKILL.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { fileSystemBackend } from "../../../src/backends/fs/fs.ts";
import type { Backend } from "../../../src/backends/backend.ts";
import { bytes, text } from "../contract.ts";

describe("fileSystemBackend lock recovery", () => {
  let base: string;
  let script: string;
  let root: string;
  let backend: Backend;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "modelstore-fs-lock-"));
    const bundle = join(base, "fs-lock.mjs");
    await build({
      entryPoints: [fileURLToPath(new URL("../../../src/backends/fs/fs-lock.ts", import.meta.url))],
      bundle: true,
      platform: "node",
      format: "esm",
      outfile: bundle,
      logLevel: "silent",
    });
    // Takes the lock, says so, and holds it until killed.
    script = join(base, "hold-lock.mjs");
    await writeFile(
      script,
      `import { withFileLock } from ${JSON.stringify(bundle)};
await withFileLock(process.argv[2], () => {
  process.stdout.write("locked\\n");
  return new Promise(() => setInterval(() => {}, 1000));
});
`,
    );
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });
  beforeEach(async () => {
    root = await mkdtemp(join(base, "store-"));
    // The default staleLockMs (30 s): recovery must not wait for it.
    backend = fileSystemBackend({ root, fsync: false });
  });
  afterEach(() => {
    for (const child of children.splice(0)) child.kill("SIGKILL");
  });

  /** A child process holding the lock file at `path`; resolves once it holds it. */
  async function holder(path: string): Promise<ChildProcess> {
    const child = spawn(process.execPath, [script, path], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("locked") && resolve());
      child.once("exit", (code) => reject(new Error(`the lock holder exited early (${code})`)));
    });
    return child;
  }

  const killed = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });

  it("a writer waits while the lock's owner lives, and proceeds at once, not after 30 s, when it is killed", async () => {
    const first = await backend.put("d/latest.json", bytes("1"));
    const lock = join(root, "d/.latest.json.lock");
    const child = await holder(lock);
    expect(JSON.parse(await readFile(lock, "utf8"))).toMatchObject({ pid: child.pid, host: hostname() });

    let done = false;
    const swap = backend.put("d/latest.json", bytes("2"), { ifMatch: first.etag }).then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(done).toBe(false);

    await killed(child);
    const t0 = performance.now();
    await swap;
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(await text(await backend.get("d/latest.json"))).toBe("2");
    await expect(stat(lock)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("many writers waiting on a dead owner's lock all get their turn, one at a time", async () => {
    await backend.put("k", bytes("0"));
    const child = await holder(join(root, ".k.lock"));
    const increment = async () => {
      for (;;) {
        const head = await backend.head("k");
        const value = Number(await text(await backend.get("k")));
        const swapped = await backend.put("k", bytes(String(value + 1)), { ifMatch: head!.etag }).then(
          () => true,
          (error) => {
            if (error.code !== "CONFLICT") throw error;
            return false;
          },
        );
        if (swapped) return;
      }
    };
    const writers = Promise.all(Array.from({ length: 8 }, increment));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await killed(child);
    const t0 = performance.now();
    await writers;
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(await text(await backend.get("k"))).toBe("8");
  });

  it("keeps the age rule for a lock whose owner ran on another host", async () => {
    const first = await backend.put("k", bytes("1"));
    const lock = join(root, ".k.lock");
    // A pid that surely is not running here: a child that has exited.
    const gone = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => gone.once("exit", resolve));
    await writeFile(lock, JSON.stringify({ pid: gone.pid, host: `not-${hostname()}` }));

    let done = false;
    const swap = backend.put("k", bytes("2"), { ifMatch: first.etag }).then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(done).toBe(false);
    // Older than staleLockMs: broken.
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    await swap;
    expect(await text(await backend.get("k"))).toBe("2");
  });
});

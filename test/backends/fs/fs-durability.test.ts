/**
 * What the file-system backend asks of the disk, watched from outside: a child
 * process runs puts under strace, and the test reads the system calls it made.
 * A power loss keeps only what was fsynced, so the order of fsync, rename and
 * link is the durability contract.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileSystemBackend } from "../../../src/backends/fs/fs.ts";

/** strace, able to trace a child here (CI installs it; ptrace may be forbidden in some containers). */
const canTrace = spawnSync("strace", ["-f", "-qq", "-e", "trace=none", "true"], { stdio: "ignore" }).status === 0;

/** One completed system call: its name and the paths it named (fds shown as paths by `strace -y`). */
interface Call {
  name: string;
  paths: string[];
}

/** Parses `strace -f -y -o` output into completed, successful calls, joining calls split across threads. */
function parseTrace(trace: string): Call[] {
  const pending = new Map<string, string>();
  const calls: Call[] = [];
  for (const raw of trace.split("\n")) {
    const pid = /^(\d+)\s+/.exec(raw)?.[1] ?? "";
    let line = raw.replace(/^\d+\s+/, "");
    if (line.endsWith("<unfinished ...>")) {
      pending.set(pid, line.slice(0, -"<unfinished ...>".length));
      continue;
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(line);
    if (resumed) line = (pending.get(pid) ?? "") + resumed[1];
    const call = /^(\w+)\((.*)\)\s+=\s+(-?\d+)/.exec(line);
    if (!call || call[3] !== "0") continue;
    // Quoted paths ("...") and fd paths (12</path>).
    const paths = [...call[2].matchAll(/"((?:[^"\\]|\\.)*)"|\d+<([^>]*)>/g)].map((m) => m[1] ?? m[2]);
    calls.push({ name: call[1], paths });
  }
  return calls;
}

describe.skipIf(!canTrace)("fileSystemBackend durability (strace)", () => {
  let base: string;
  let script: string;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "modelstore-fs-durability-"));
    const bundle = join(base, "fs-backend.mjs");
    await build({
      entryPoints: [fileURLToPath(new URL("../../../src/backends/fs/fs.ts", import.meta.url))],
      bundle: true,
      platform: "node",
      format: "esm",
      outfile: bundle,
      logLevel: "silent",
    });
    script = join(base, "puts.mjs");
    // The three ways a put publishes: rename (plain), link (create-only), rename under the lock (compare-and-swap).
    await writeFile(
      script,
      `import { fileSystemBackend } from ${JSON.stringify(bundle)};
const [root, fsync] = process.argv.slice(2);
const backend = fileSystemBackend({ root, fsync: fsync === "on" });
const bytes = (text) => new TextEncoder().encode(text);
await backend.put("d/2026/11/24/10:00:00/artifacts.tar.gz", bytes("archive"));
const latest = await backend.put("d/latest.json", bytes('{"v":1}'), { ifNoneMatch: "*" });
await backend.put("d/latest.json", bytes('{"v":2}'), { ifMatch: latest.etag });
`,
    );
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  /** Runs the puts into a fresh root under strace; returns the root and the calls naming paths below `base`. */
  async function tracePuts(fsync: "on" | "off"): Promise<{ root: string; calls: Call[] }> {
    const root = join(base, `root-${fsync}`, "store");
    const out = join(base, `trace-${fsync}`);
    const syscalls = "fsync,fdatasync,rename,renameat,renameat2,link,linkat,mkdir,mkdirat";
    const run = spawnSync("strace", ["-f", "-qq", "-y", "-o", out, "-e", `trace=${syscalls}`, process.execPath, script, root, fsync], { encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    const calls = parseTrace(await readFile(out, "utf8")).filter((call) => call.paths.some((path) => path.startsWith(base)));
    return { root, calls };
  }

  it("fsyncs each file before renaming or linking it into place, then its folder and every new folder's parent", async () => {
    const { root, calls } = await tracePuts("on");
    const published = calls.flatMap((call, index) => (/^(rename|link)/.test(call.name) && !call.paths[1].endsWith(".lock") ? [{ index, temp: call.paths[0], target: call.paths[1] }] : []));
    expect(published.map((p) => p.target)).toEqual([
      join(root, "d/2026/11/24/10:00:00/artifacts.tar.gz"),
      join(root, "d/latest.json"),
      join(root, "d/latest.json"),
    ]);
    const fsyncs = (path: string, from: number, to = calls.length) =>
      calls.slice(from, to).some((call) => /^f(data)?sync$/.test(call.name) && call.paths[0] === path);
    for (const [n, { index, temp, target }] of published.entries()) {
      const previous = n === 0 ? 0 : published[n - 1].index;
      const next = published[n + 1]?.index ?? calls.length;
      expect(fsyncs(temp, previous, index), `fsync of ${temp} before it becomes ${target}`).toBe(true);
      expect(fsyncs(dirname(target), index, next), `fsync of ${dirname(target)} after ${target} appears`).toBe(true);
    }
    // The first put created root and d/2026/11/24/10:00:00: each new folder's entry is synced in its parent.
    const created = calls.filter((call) => /^mkdir/.test(call.name)).map((call) => call.paths[0]);
    expect(created).toContain(root);
    expect(created).toContain(join(root, "d/2026/11/24/10:00:00"));
    for (const dir of created) {
      const at = calls.findIndex((call) => /^mkdir/.test(call.name) && call.paths[0] === dir);
      expect(fsyncs(dirname(dir), at, published[1].index), `fsync of ${dirname(dir)} after mkdir ${dir}, before the first put returns`).toBe(true);
    }
  });

  it("asks nothing of the disk with fsync: false", async () => {
    const { calls } = await tracePuts("off");
    expect(calls.filter((call) => /sync/.test(call.name))).toEqual([]);
    expect(calls.filter((call) => /^(rename|link)/.test(call.name))).toHaveLength(3);
  });
});

describe("fileSystemBackend durability", () => {
  it("a put whose key a concurrent delete() removes at once still succeeds: the emptied folders have nothing left to sync", async () => {
    const root = await mkdtemp(join(tmpdir(), "modelstore-fs-durability-"));
    try {
      const backend = fileSystemBackend({ root });
      for (let i = 0; i < 50; i++) {
        const key = `d${i}/a/b/k`;
        let settled = false;
        const put = backend.put(key, new Uint8Array(10)).finally(() => (settled = true));
        // Deletes until the put returns: the first that finds the file also prunes its new folders.
        while (!settled) await backend.delete(key);
        await put;
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

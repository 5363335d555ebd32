// Shared by the benchmarks: the generated model data (bench/.data/, gitignored,
// made once and reused) and a way to time a command and read its peak RSS.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const MiB = 1 << 20;
export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(BENCH_DIR, "..");
export const DATA = join(BENCH_DIR, ".data");
const TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;

/** Like trained weights: small values with random mantissas (deflate saves ~8 %). */
export function float32Noise(bytes) {
  const f = new Float32Array(bytes / 4);
  for (let i = 0; i < f.length; i++) f[i] = (Math.random() + Math.random() + Math.random() - 1.5) * 0.05;
  return new Uint8Array(f.buffer);
}

/** Compressible JSON text, like tokenizer vocabularies. */
export function jsonText(bytes) {
  const parts = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = JSON.stringify({ id: i, token: `tok_${(i * 7919) % 50021}`, score: Math.round(Math.random() * 1e5) / 1e5, merges: [i % 977, (i * 31) % 1013] }) + ",\n";
    parts.push(line);
    size += line.length;
  }
  return Buffer.from(parts.join("").slice(0, bytes));
}

async function writeIfMissing(path, make) {
  if (existsSync(path)) return;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path + ".part", make());
  await rename(path + ".part", path);
}

/**
 * The benchmark cases: a 64 MiB float32 file (BASELINES.md's small case), the
 * 512 MiB model dir (400 MiB weights, 100 MiB text, 200 small JSON files), and
 * the same mix at 64 MiB, so that peak memory compares like with like.
 */
export function benchCases(quick) {
  return [
    { name: "noise-64", label: "64 MiB float32 file", dir: join(DATA, "noise-64") },
    ...(quick
      ? []
      : [
          { name: "model-64", label: "64 MiB model dir", dir: join(DATA, "model-64") },
          { name: "model-512", label: "512 MiB model dir", dir: join(DATA, "model-512") },
        ]),
  ];
}

/** Generates the data of `cases` where missing. */
export async function prepareModelData(cases) {
  for (const c of cases) {
    const scale = c.name === "model-512" ? 1 : c.name === "model-64" ? 1 / 8 : 0;
    if (scale > 0) {
      for (let i = 0; i < 4; i++) await writeIfMissing(join(c.dir, `weights/shard-${i}.bin`), () => float32Noise(100 * MiB * scale));
      for (let i = 0; i < 2; i++) await writeIfMissing(join(c.dir, `text/tokenizer-${i}.json`), () => jsonText(50 * MiB * scale));
      for (let i = 0; i < 200 * scale; i++) await writeIfMissing(join(c.dir, `configs/config-${String(i).padStart(3, "0")}.json`), () => jsonText(1000 + ((i * 7919) % 20000)));
    } else {
      await writeIfMissing(join(c.dir, "weights.bin"), () => float32Noise(64 * MiB));
    }
  }
}

/** Runs `argv` under /usr/bin/time; returns wall seconds, peak RSS MiB and the `bytes=` it printed. */
export function measure(argv, options = {}) {
  const rssFile = join(DATA, `rss-${process.pid}.txt`);
  const full = TIME ? [TIME, "-f", "%M", "-o", rssFile, ...argv] : argv;
  const t0 = performance.now();
  const run = spawnSync(full[0], full.slice(1), { encoding: "utf8", maxBuffer: 16 * MiB, ...options });
  const wall = (performance.now() - t0) / 1000;
  if (run.status !== 0) throw new Error(`${argv.join(" ")} failed: ${run.stderr}`);
  const bytes = Number(/bytes=(\d+)/.exec(run.stdout)?.[1] ?? /^\s*(\d+)\s*$/m.exec(run.stdout)?.[1] ?? NaN);
  let rss = Number(/maxrss=(\d+)/.exec(run.stdout)?.[1] ?? NaN);
  if (TIME) {
    rss = Math.round(Number(readFileSync(rssFile, "utf8").trim().split("\n").at(-1)) / 1024);
    rmSync(rssFile, { force: true });
  }
  return { wall, rss, bytes };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

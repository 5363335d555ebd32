#!/usr/bin/env node
// Archive benchmark: packs and unpacks a model directory with modelstore and
// with peers (GNU tar, pigz, node-tar, tar-stream + zlib), each method in its
// own child process so wall time and peak RSS are the whole process's.
// Prints one Markdown table with ratios against GNU tar taken in the same run
// (absolute times drift on shared machines; ratios are what to compare).
//
//   npm run bench:archive                     # 512 MiB model dir + 64 MiB noise file
//   node bench/archive.mjs --quick            # 64 MiB noise file only (or BENCH_SIZE=quick)
//   node bench/archive.mjs --runs 3           # median of 3 runs per method
//   node bench/archive.mjs --only ours        # methods whose name contains "ours"
//
// Data is generated once into bench/.data/ (gitignored) and reused.
import { spawn, spawnSync } from "node:child_process";
import { createReadStream, createWriteStream, existsSync, openAsBlob } from "node:fs";
import { mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import zlib from "node:zlib";

const MiB = 1 << 20;
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..");
const DATA = join(HERE, ".data");
const TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;

// ---------------------------------------------------------------- child mode
// `node bench/archive.mjs --child <method> <args...>`: runs one method and
// prints `bytes=<n>` (bytes produced) on stdout.
if (process.argv[2] === "--child") {
  const [, , , method, ...args] = process.argv;
  const bytes = await runChild(method, args);
  process.stdout.write(`bytes=${bytes} maxrss=${Math.round(process.resourceUsage().maxRSS / 1024)}\n`);
  process.exit(0);
}

async function loadOurs() {
  // The built package when it has the archive API, else a bundle of the sources.
  const dist = join(ROOT, "dist/index.js");
  if (existsSync(dist)) {
    const mod = await import(pathToFileURL(dist).href);
    if (mod.createArchive && mod.readArchive && mod.createGzipStream) return mod;
  }
  return import(pathToFileURL(join(DATA, "archive-bundle.mjs")).href);
}

async function countWeb(stream) {
  let n = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return n;
    n += value.length;
  }
}

function countNode(readable) {
  return new Promise((resolve, reject) => {
    let n = 0;
    readable.on("data", (c) => (n += c.length));
    readable.on("end", () => resolve(n));
    readable.on("error", reject);
  });
}

async function* walk(dir) {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) yield* walk(path);
    else if (e.isFile()) yield path;
  }
}

async function runChild(method, args) {
  const [input, out] = args;
  switch (method) {
    case "ours-pack": {
      const { createArchive } = await loadOurs();
      async function* files() {
        for await (const path of walk(input)) {
          const size = (await stat(path)).size;
          yield { path: relative(input, path), body: await openAsBlob(path), size };
        }
      }
      return countWeb(createArchive({ files: files() }));
    }
    case "ours-gzip-of-gnu-tar": {
      // GNU tar frames, our gzip compresses: isolates the gzip stage.
      const { createGzipStream } = await loadOurs();
      const tar = spawn("tar", ["cf", "-", "-C", dirname(input), relative(dirname(input), input)], { stdio: ["ignore", "pipe", "inherit"] });
      return countWeb(Readable.toWeb(tar.stdout).pipeThrough(createGzipStream()));
    }
    case "ours-unpack": {
      const { readArchive } = await loadOurs();
      let n = 0;
      for await (const entry of readArchive(Readable.toWeb(createReadStream(input)))) {
        if (entry.type === "file") n += await countWeb(entry.body);
        else await entry.skip();
      }
      return n;
    }
    case "ours-gunzip": {
      const { createGunzipStream } = await loadOurs();
      return countWeb(Readable.toWeb(createReadStream(input)).pipeThrough(createGunzipStream()));
    }
    case "decompression-stream": {
      return countWeb(Readable.toWeb(createReadStream(input)).pipeThrough(new DecompressionStream("gzip")));
    }
    case "node-tar-pack": {
      const tar = await import("tar");
      return countNode(tar.c({ gzip: { level: 6 }, cwd: dirname(input), portable: true }, [relative(dirname(input), input)]));
    }
    case "node-tar-unpack": {
      const tar = await import("tar");
      await mkdir(out, { recursive: true });
      await pipeline(createReadStream(input), tar.x({ cwd: out }));
      return 0;
    }
    case "tar-stream-pack": {
      const tarStream = (await import("tar-stream")).default;
      const pack = tarStream.pack();
      const counted = countNode(pack.pipe(zlib.createGzip({ level: 6 })));
      for await (const path of walk(input)) {
        const st = await stat(path);
        const entry = pack.entry({ name: relative(dirname(input), path), size: st.size, mode: 0o644, mtime: st.mtime });
        await pipeline(createReadStream(path), entry);
      }
      pack.finalize();
      return counted;
    }
    case "tar-stream-unpack": {
      const tarStream = (await import("tar-stream")).default;
      const extract = tarStream.extract();
      let n = 0;
      extract.on("entry", (_header, body, next) => {
        body.on("data", (c) => (n += c.length));
        body.on("end", next);
        body.resume();
      });
      await pipeline(createReadStream(input), zlib.createGunzip(), extract);
      return n;
    }
    default:
      throw new Error(`unknown child method ${method}`);
  }
}

// ---------------------------------------------------------------- data
function float32Noise(bytes) {
  // Like trained weights: small values with random mantissas (deflate saves ~8 %).
  const f = new Float32Array(bytes / 4);
  for (let i = 0; i < f.length; i++) f[i] = (Math.random() + Math.random() + Math.random() - 1.5) * 0.05;
  return new Uint8Array(f.buffer);
}

function jsonText(bytes) {
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
  await (await import("node:fs/promises")).rename(path + ".part", path);
}

async function prepareData(cases) {
  for (const c of cases) {
    if (c.name === "model-512") {
      for (let i = 0; i < 4; i++) await writeIfMissing(join(c.dir, `weights/shard-${i}.bin`), () => float32Noise(100 * MiB));
      for (let i = 0; i < 2; i++) await writeIfMissing(join(c.dir, `text/tokenizer-${i}.json`), () => jsonText(50 * MiB));
      for (let i = 0; i < 200; i++) await writeIfMissing(join(c.dir, `configs/config-${String(i).padStart(3, "0")}.json`), () => jsonText(1000 + ((i * 7919) % 20000)));
    } else {
      await writeIfMissing(join(c.dir, "weights.bin"), () => float32Noise(64 * MiB));
    }
  }
  // Our code as one ESM file, for when dist/ has no archive API yet.
  const esbuild = await import("esbuild");
  await esbuild.build({
    stdin: {
      contents: 'export * from "./src/archive/index.ts"; export { createGzipStream, createGunzipStream } from "./src/archive/gzip.ts";',
      resolveDir: ROOT,
      loader: "ts",
    },
    bundle: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    outfile: join(DATA, "archive-bundle.mjs"),
    logLevel: "error",
  });
}

async function dirSize(dir) {
  let n = 0;
  for await (const p of walk(dir)) n += (await stat(p)).size;
  return n;
}

// ---------------------------------------------------------------- parent
function which(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

/** Runs `argv` under /usr/bin/time; returns wall seconds, peak RSS MiB and the `bytes=` it printed. */
function measure(argv) {
  const rssFile = join(DATA, "rss.txt");
  const full = TIME ? [TIME, "-f", "%M", "-o", rssFile, ...argv] : argv;
  const t0 = performance.now();
  const run = spawnSync(full[0], full.slice(1), { encoding: "utf8", maxBuffer: 16 * MiB });
  const wall = (performance.now() - t0) / 1000;
  if (run.status !== 0) throw new Error(`${argv.join(" ")} failed: ${run.stderr}`);
  const bytes = Number(/bytes=(\d+)/.exec(run.stdout)?.[1] ?? /^\s*(\d+)\s*$/m.exec(run.stdout)?.[1] ?? NaN);
  let rss = Number(/maxrss=(\d+)/.exec(run.stdout)?.[1] ?? NaN);
  if (TIME) rss = Math.round(Number(spawnSync("tail", ["-1", rssFile], { encoding: "utf8" }).stdout) / 1024);
  return { wall, rss, bytes };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const argv = process.argv.slice(2);
const quick = argv.includes("--quick") || process.env.BENCH_SIZE === "quick";
const runs = argv.includes("--runs") ? Math.max(1, Number(argv[argv.indexOf("--runs") + 1]) || 1) : 1;
const only = argv.includes("--only") ? argv[argv.indexOf("--only") + 1] : undefined;
const cases = [
  { name: "noise-64", label: "64 MiB float32 file", dir: join(DATA, "noise-64") },
  ...(quick ? [] : [{ name: "model-512", label: "512 MiB model dir", dir: join(DATA, "model-512") }]),
];
await prepareData(cases);
const self = fileURLToPath(import.meta.url);
const node = (method, ...args) => [process.execPath, self, "--child", method, ...args];
const sh = (script) => ["sh", "-c", script];
const hasPigz = which("pigz");
const notes = [];
if (!hasPigz) notes.push("pigz is not installed here: its rows are skipped (BASELINES.md: `tar -I pigz` ≈ 0.36× GNU `tar czf`).");

const rows = [];
for (const c of cases) {
  const input = await dirSize(c.dir);
  const parent = dirname(c.dir);
  const base = c.name;
  const gnuArchive = join(DATA, `${c.name}.gnu.tar.gz`);
  const ourArchive = join(DATA, `${c.name}.ours.tar.gz`);
  // Archives to unpack (untimed): GNU's and ours, both of the same directory.
  if (!existsSync(gnuArchive)) spawnSync("sh", ["-c", `tar czf ${gnuArchive} -C ${parent} ${base}`]);
  {
    const { createArchive } = await loadOurs();
    const files = [];
    for await (const p of walk(c.dir)) files.push({ path: relative(c.dir, p), body: await openAsBlob(p), size: (await stat(p)).size });
    await pipeline(Readable.fromWeb(createArchive({ files })), createWriteStream(ourArchive));
  }
  const extractDir = join(DATA, "extract");
  const pack = [
    ["GNU `tar czf` (gzip -6)", sh(`tar czf - -C ${parent} ${base} | wc -c`), "gnu"],
    ["GNU `tar cf` \\| `gzip -1`", sh(`tar cf - -C ${parent} ${base} | gzip -1 | wc -c`)],
    ...(hasPigz ? [["`tar -I pigz` (-6)", sh(`tar -I pigz -cf - -C ${parent} ${base} | wc -c`)]] : []),
    ["node-tar, gzip level 6", node("node-tar-pack", c.dir)],
    ["tar-stream + zlib level 6", node("tar-stream-pack", c.dir)],
    ["**modelstore `createArchive`** (auto: native, adaptive)", node("ours-pack", c.dir)],
    ["modelstore gzip alone (GNU `tar cf` \\| `createGzipStream`)", node("ours-gzip-of-gnu-tar", c.dir)],
  ];
  const unpack = [
    ["GNU `tar xzf` (GNU archive) to disk", sh(`rm -rf ${extractDir} && mkdir -p ${extractDir} && tar xzf ${gnuArchive} -C ${extractDir}`), "gnu"],
    ["GNU `tar xzf` (our archive) to disk", sh(`rm -rf ${extractDir} && mkdir -p ${extractDir} && tar xzf ${ourArchive} -C ${extractDir}`)],
    ["`gzip -dc` (our archive) \\| wc", sh(`gzip -dc ${ourArchive} | wc -c`)],
    ["node-tar extract (GNU archive) to disk", node("node-tar-unpack", gnuArchive, extractDir)],
    ["tar-stream + zlib (GNU archive), discard", node("tar-stream-unpack", gnuArchive)],
    ["**modelstore `readArchive`** (our archive), discard", node("ours-unpack", ourArchive)],
    ["modelstore `readArchive` (GNU archive), discard", node("ours-unpack", gnuArchive)],
    ["modelstore `createGunzipStream` (our archive)", node("ours-gunzip", ourArchive)],
    ["`DecompressionStream` (our archive), unpaced", node("decompression-stream", ourArchive)],
  ];
  for (const [kind, list] of [["pack", pack], ["unpack", unpack]]) {
    let gnu;
    for (const [label, cmd, ref] of list) {
      if (only && !label.toLowerCase().includes(only) && !ref) continue;
      const results = [];
      for (let r = 0; r < runs; r++) {
        await rm(extractDir, { recursive: true, force: true });
        results.push(measure(cmd));
      }
      const res = { wall: median(results.map((x) => x.wall)), rss: median(results.map((x) => x.rss)), bytes: results[0].bytes };
      if (ref) gnu = res;
      const row = { case: c.label, kind, label, ...res, input, gnu: gnu?.wall };
      rows.push(row);
      process.stderr.write(`${c.name} ${kind} ${label}: ${res.wall.toFixed(2)} s, ${res.rss} MiB\n`);
    }
  }
  await rm(extractDir, { recursive: true, force: true });
}

const lines = [
  `Node ${process.versions.node}, ${(await import("node:os")).cpus().length} cores, ${runs === 1 ? "1 run" : `median of ${runs} runs`} per method, input from the page cache.`,
  "",
  "| case | step | method | wall s | MB/s | peak RSS MiB | output MiB | vs GNU tar |",
  "|---|---|---|---:|---:|---:|---:|---:|",
];
for (const r of rows) {
  const out = r.kind === "pack" && Number.isFinite(r.bytes) ? `${(r.bytes / MiB).toFixed(1)} (${(r.bytes / r.input).toFixed(3)})` : "";
  lines.push(
    `| ${r.case} | ${r.kind} | ${r.label} | ${r.wall.toFixed(2)} | ${(r.input / 1e6 / r.wall).toFixed(0)} | ${r.rss} | ${out} | ${(r.wall / r.gnu).toFixed(2)}× |`,
  );
}
lines.push("", "MB/s is uncompressed input bytes per wall second. \"vs GNU tar\": wall time over GNU `tar czf` (pack) or `tar xzf` of its own archive (unpack), same run.");
for (const n of notes) lines.push(`Note: ${n}`);
console.log(lines.join("\n"));

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
//   node bench/archive.mjs --real             # real models (TF.js, ONNX) and N(0, 0.02) float32,
//                                             # against gzip -6, pigz -6/-1/-H, igzip -1, libdeflate -6
//   node bench/archive.mjs --scale            # N(0, 0.02) float32 at 64 MiB, 512 MiB and 2 GiB: does
//                                             # peak RSS stay flat? (ours and GNU tar only)
//
// Data is generated once into bench/.data/ (gitignored) and reused.
import { spawn, spawnSync } from "node:child_process";
import { createReadStream, createWriteStream, existsSync, openAsBlob } from "node:fs";
import { mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import zlib from "node:zlib";

import { benchCases, BENCH_DIR as HERE, DATA, measure, median, MiB, prepareModelData, realCases, ROOT, scaleCases } from "./common.mjs";

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

/** Counts a byte stream read into one buffer of our own (BYOB), as the store's writers read archives. */
async function countWebOwnBuffer(stream) {
  const reader = stream.getReader({ mode: "byob" });
  let buffer = new ArrayBuffer(1 << 20);
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read(new Uint8Array(buffer));
    if (value) buffer = value.buffer;
    if (done) return n;
    n += value.byteLength;
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
      // The directory through modelstore/fs's filesFromDirectory (file bodies are byte streams).
      const { createArchive } = await loadOurs();
      const { filesFromDirectory } = await import(pathToFileURL(join(ROOT, "dist/fs.js")).href);
      return countWebOwnBuffer(createArchive({ files: filesFromDirectory(input) }));
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
    case "ours-extract": {
      // To disk, as `tar xzf` does: modelstore-js/fs's extractArchive (checks every path, temp file + rename per file).
      const { extractArchive } = await import(pathToFileURL(join(ROOT, "dist/fs.js")).href);
      return (await extractArchive(input, out)).bytes; // the archive file's path, as tar xzf is given it
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
async function prepareData(cases) {
  await prepareModelData(cases);
  // Our code as one ESM file, for when dist/ has no archive API yet.
  const esbuild = await import("esbuild");
  await esbuild.build({
    stdin: {
      contents: 'export * from "./src/archive/index.ts"; export { createGzipStream, createGunzipStream } from "./src/archive/gzip/gzip.ts";',
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

const argv = process.argv.slice(2);
const quick = argv.includes("--quick") || process.env.BENCH_SIZE === "quick";
const runs = argv.includes("--runs") ? Math.max(1, Number(argv[argv.indexOf("--runs") + 1]) || 1) : 1;
const only = argv.includes("--only") ? argv[argv.indexOf("--only") + 1] : undefined;
const real = argv.includes("--real") || process.env.BENCH_SIZE === "real";
const scale = argv.includes("--scale");
const cases = scale ? scaleCases() : real ? realCases() : benchCases(quick);
await prepareData(cases);
const self = fileURLToPath(import.meta.url);
const node = (method, ...args) => [process.execPath, self, "--child", method, ...args];
const sh = (script) => ["sh", "-c", script];
const hasPigz = which("pigz");
const hasIgzip = which("igzip");
const hasLibdeflate = which("libdeflate-gzip");
const notes = [];
if (!hasPigz) notes.push("pigz is not installed here: its rows are skipped (BASELINES.md: `tar -I pigz` ≈ 0.36× GNU `tar czf`).");
if (real && !hasIgzip) notes.push("igzip (Debian `isal`) is not installed here: its row is skipped.");
if (real && !hasLibdeflate) notes.push("libdeflate-gzip (Debian `libdeflate-tools`) is not installed here: its row is skipped.");

const rows = [];
for (const c of cases) {
  const input = await dirSize(c.dir);
  const parent = dirname(c.dir);
  const base = basename(c.dir);
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
  const tarThrough = (filter) => sh(`tar cf - -C ${parent} ${base} | ${filter} | wc -c`);
  const peers = real
    ? [
        ...(hasPigz
          ? [
              ["`tar cf` \\| `pigz -6`", tarThrough("pigz -6")],
              ["`tar cf` \\| `pigz -1`", tarThrough("pigz -1")],
              ["`tar cf` \\| `pigz -6 -H` (Huffman only)", tarThrough("pigz -6 -H")],
            ]
          : []),
        ...(hasIgzip ? [["`tar cf` \\| `igzip -1 -T2`", tarThrough("igzip -1 -T2 -c")]] : []),
        ...(hasLibdeflate ? [["`tar cf` \\| `libdeflate-gzip -6`", tarThrough("libdeflate-gzip -6 -c")]] : []),
      ]
    : [];
  const pack = [
    ["GNU `tar czf` (gzip -6)", sh(`tar czf - -C ${parent} ${base} | wc -c`), "gnu"],
    ...peers,
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
    ["**modelstore `extractArchive`** (our archive) to disk", sh(`rm -rf ${extractDir} && ${node("ours-extract", ourArchive, extractDir).join(" ")}`)],
    ["modelstore `readArchive` (GNU archive), discard", node("ours-unpack", gnuArchive)],
    ["modelstore `createGunzipStream` (our archive)", node("ours-gunzip", ourArchive)],
    ["`DecompressionStream` (our archive), unpaced", node("decompression-stream", ourArchive)],
  ];
  for (const [kind, list] of [["pack", pack], ["unpack", unpack]]) {
    let gnu;
    for (const [label, cmd, ref] of list) {
      if (only && !label.toLowerCase().includes(only) && !ref) continue;
      // --scale: only what the RSS question needs, GNU tar kept as the time reference.
      if (scale && !ref && !label.startsWith("**modelstore")) continue;
      const results = [];
      for (let r = 0; r < runs; r++) {
        await rm(extractDir, { recursive: true, force: true });
        results.push(measure(cmd));
      }
      const res = { wall: median(results.map((x) => x.wall)), cpu: median(results.map((x) => x.cpu)), rss: median(results.map((x) => x.rss)), bytes: results[0].bytes };
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
  "| case | step | method | wall s | CPU s | MB/s | peak RSS MiB | output MiB (ratio) | size vs gzip -6 | vs GNU tar |",
  "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
];
const gzipBytes = new Map(rows.filter((r) => r.kind === "pack" && r.label.startsWith("GNU `tar czf`")).map((r) => [r.case, r.bytes]));
for (const r of rows) {
  const packed = r.kind === "pack" && Number.isFinite(r.bytes);
  const out = packed ? `${(r.bytes / MiB).toFixed(1)} (${(r.bytes / r.input).toFixed(3)})` : "";
  const vsGzip = packed && gzipBytes.get(r.case) ? `${(r.bytes / gzipBytes.get(r.case)).toFixed(3)}×` : "";
  lines.push(
    `| ${r.case} | ${r.kind} | ${r.label} | ${r.wall.toFixed(2)} | ${Number.isFinite(r.cpu) ? r.cpu.toFixed(2) : ""} | ${(r.input / 1e6 / r.wall).toFixed(0)} | ${r.rss} | ${out} | ${vsGzip} | ${(r.wall / r.gnu).toFixed(2)}× |`,
  );
}
lines.push("", "MB/s is uncompressed input bytes per wall second; CPU s is user + system of every process in the pipeline. \"size vs gzip -6\": output bytes over GNU `tar czf`'s. \"vs GNU tar\": wall time over GNU `tar czf` (pack) or `tar xzf` of its own archive (unpack), same run.");
for (const n of notes) lines.push(`Note: ${n}`);
console.log(lines.join("\n"));

#!/usr/bin/env node
// Store benchmark: upload and download of the generated model through the
// file-system backend, next to packing the same directory with createArchive
// and GNU `tar czf` / `tar xzf`, in one run. Each method runs in its own child
// process so wall time and peak RSS are the whole process's. Uploads run with the
// backend's fsync on (the default) and off, and small document puts are timed both
// ways, so the cost of durability is measured rather than guessed.
//
//   npm run bench:store              # 512 MiB model dir and the 64 MiB file
//   node bench/store.mjs --quick     # 64 MiB only
//   node bench/store.mjs --runs 3    # median of 3
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { benchCases, DATA, measure, median, MiB, prepareModelData, ROOT } from "./common.mjs";

// ---------------------------------------------------------------- child mode
if (process.argv[2] === "--child") {
  const [, , , method, ...args] = process.argv;
  const core = await import(pathToFileURL(join(ROOT, "dist/index.js")).href);
  const fs = await import(pathToFileURL(join(ROOT, "dist/fs.js")).href);
  let bytes = 0;
  if (method === "pack") {
    // createArchive of the directory, counted and dropped: what upload adds work to. Read
    // into one buffer of our own (a BYOB reader), as the store's writers do.
    const reader = core.createArchive({ files: fs.filesFromDirectory(args[0]) }).getReader({ mode: "byob" });
    let buffer = new ArrayBuffer(1 << 20);
    for (;;) {
      const r = await reader.read(new Uint8Array(buffer));
      if (r.value) buffer = r.value.buffer;
      if (r.done) break;
      bytes += r.value.byteLength;
    }
  } else if (method === "upload") {
    const store = new core.ModelStore({ backend: fs.fileSystemBackend({ root: args[1], fsync: args[2] !== "no-fsync" }) });
    const meta = await store.upload("bench", { files: fs.filesFromDirectory(args[0]), modelId: "bench" });
    bytes = meta.archive.size;
  } else if (method === "download") {
    const store = new core.ModelStore({ backend: fs.fileSystemBackend({ root: args[0] }) });
    const result = await fs.downloadModel(store, "bench", "bench", args[1]);
    bytes = result.metadata.archive.size;
  } else throw new Error(`unknown method ${method}`);
  process.stdout.write(`bytes=${bytes} maxrss=${Math.round(process.resourceUsage().maxRSS / 1024)}\n`);
  process.exit(0);
}

// ---------------------------------------------------------------- parent
const argv = process.argv.slice(2);
const quick = argv.includes("--quick") || process.env.BENCH_SIZE === "quick";
const runs = Number(argv[argv.indexOf("--runs") + 1]) || 1;
const cases = benchCases(quick);
await prepareModelData(cases);

const self = join(ROOT, "bench/store.mjs");
const rows = [];
const fsyncCosts = [];
for (const c of cases) {
  const work = await mkdtemp(join(tmpdir(), "modelstore-bench-store-"));
  const gnuArchive = join(work, "gnu.tar.gz");
  const results = {};
  const record = (name, fn) => {
    const samples = [];
    for (let i = 0; i < runs; i++) samples.push(fn(i));
    results[name] = { wall: median(samples.map((s) => s.wall)), rss: Math.max(...samples.map((s) => s.rss)), bytes: samples[0].bytes };
  };
  record("GNU tar czf (level 6)", () => measure(["sh", "-c", `tar czf - -C "${c.dir}" . | wc -c`]));
  record("ours: pack (createArchive)", () => measure([process.execPath, self, "--child", "pack", c.dir]));
  record("ours: upload (fs backend)", (i) => measure([process.execPath, self, "--child", "upload", c.dir, join(work, `store-${i}`)]));
  record("ours: upload (fs backend, fsync off)", (i) => measure([process.execPath, self, "--child", "upload", c.dir, join(work, `store-nosync-${i}`), "no-fsync"]));
  // What this machine charges for writing a new file of the archive's size, the part of
  // an upload that packing does not do (on a VM that hands freed pages back to its
  // host, new page-cache pages cost several times what recycled ones do).
  const archiveMiB = Math.ceil(results["ours: pack (createArchive)"].bytes / MiB);
  record("dd: a new file of the archive's size", (i) => measure(["sh", "-c", `dd if=/dev/zero of="${work}/dd-${i}" bs=1M count=${archiveMiB} 2>/dev/null && echo bytes=0`]));
  // The same, flushed to the disk before dd exits: what this disk charges for an fsync of that size.
  record("dd: the same, fsynced (conv=fsync)", (i) => measure(["sh", "-c", `dd if=/dev/zero of="${work}/dd-sync-${i}" bs=1M count=${archiveMiB} conv=fsync 2>/dev/null && echo bytes=0`]));
  measure(["sh", "-c", `tar czf "${gnuArchive}" -C "${c.dir}" .`]);
  record("GNU tar xzf", (i) => measure(["sh", "-c", `mkdir -p "${work}/gnu-x-${i}" && tar xzf "${gnuArchive}" -C "${work}/gnu-x-${i}" && echo bytes=0`]));
  record("ours: download + extract", (i) => measure([process.execPath, self, "--child", "download", join(work, "store-0"), join(work, `out-${i}`)]));
  const pack = results["ours: pack (createArchive)"].wall;
  const xzf = results["GNU tar xzf"].wall;
  for (const [name, r] of Object.entries(results)) {
    const vs = name.includes("upload") ? `${(r.wall / pack).toFixed(2)}× pack` : name.includes("download") ? `${(r.wall / xzf).toFixed(2)}× tar xzf` : "";
    if (name === "ours: upload (fs backend)") {
      const off = results["ours: upload (fs backend, fsync off)"].wall;
      fsyncCosts.push(`| ${c.label} | upload | ${r.wall.toFixed(2)} s | ${off.toFixed(2)} s | ${(r.wall - off).toFixed(2)} s (${(((r.wall - off) / off) * 100).toFixed(0)} %) |`);
    }
    rows.push(`| ${c.label} | ${name} | ${r.wall.toFixed(2)} | ${Number.isFinite(r.bytes) && r.bytes ? (r.bytes / MiB).toFixed(1) : ""} | ${r.rss} | ${vs} |`);
  }
  await rm(work, { recursive: true, force: true });
}
console.log(`\nStore benchmark (${runs} run${runs > 1 ? "s" : ""}, median wall; ${new Date().toISOString().slice(0, 10)}, ${process.version})\n`);
console.log("| data | method | wall s | archive MiB | peak RSS MiB | ratio |");
console.log("|---|---|---|---|---|---|");
for (const row of rows) console.log(row);
console.log("\nTargets: upload ≤ 1.15× pack; download + extract ≤ 0.8× tar xzf; peak RSS ≤ 100 MiB.");

// What fsync costs a document: create-only puts of a 1 KiB JSON document, as versions/<id>.json
// is written, into one folder and into a new folder each (as a new second's archive slot is).
const fs = await import(pathToFileURL(join(ROOT, "dist/fs.js")).href);
const documentPuts = async (fsync, newFolders) => {
  const root = await mkdtemp(join(tmpdir(), "modelstore-bench-docs-"));
  const backend = fs.fileSystemBackend({ root, fsync });
  const body = new TextEncoder().encode(JSON.stringify({ pad: "x".repeat(1000) }));
  const samples = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await backend.put(newFolders ? `d/${i}/versions/${i}.json` : `d/versions/${i}.json`, body, { ifNoneMatch: "*" });
    samples.push(performance.now() - t0);
  }
  await rm(root, { recursive: true, force: true });
  return median(samples);
};
for (const newFolders of [false, true]) {
  const on = median([await documentPuts(true, newFolders), await documentPuts(true, newFolders), await documentPuts(true, newFolders)]);
  const off = median([await documentPuts(false, newFolders), await documentPuts(false, newFolders), await documentPuts(false, newFolders)]);
  const what = newFolders ? "1 KiB document, two new folders each" : "1 KiB document, one folder";
  fsyncCosts.push(`| ${what} | put, median of 3×200 | ${on.toFixed(2)} ms | ${off.toFixed(2)} ms | ${(on - off).toFixed(2)} ms |`);
}
console.log("\nThe cost of fsync (file before rename/link, folders after)\n");
console.log("| data | what | fsync on | fsync off | cost |");
console.log("|---|---|---|---|---|");
for (const row of fsyncCosts) console.log(row);

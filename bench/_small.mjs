import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
const MiB = 1 << 20;
const { ModelStore } = await import("../dist/index.js");
const { fileSystemBackend } = await import("../dist/fs.js");
function weights(size) { let sent = 0; return new ReadableStream({ pull(c) { if (sent >= size) return c.close(); const n = Math.min(4 * MiB, size - sent); const f = new Float32Array(n / 4); for (let i = 0; i < f.length; i++) f[i] = (Math.random() - 0.5) * 0.1; sent += n; c.enqueue(new Uint8Array(f.buffer)); } }); }
const work = mkdtempSync(join(tmpdir(), "small-"));
const backend = fileSystemBackend({ root: join(work, "fs") });
const store = new ModelStore({ backend });
const config = new TextEncoder().encode(JSON.stringify({ threshold: 0.5, labels: ["refund", "keep"] }));
const meta = await store.upload("bench", { files: [{ path: "aa-config.json", body: config }, { path: "model.bin", body: weights(256 * MiB), size: 256 * MiB }, { path: "zz-config.json", body: config }] });
const key = backend.keyOf(meta.storage);
const ranges = [];
const recorder = Object.create(backend, { get: { value: (k, o) => (k === key && ranges.push(o.range), backend.get(k, o)) } });
await new Response(await new ModelStore({ backend: recorder }).openFile(meta, "zz-config.json")).arrayBuffer();
const last = ranges.at(-1);
const cachedStore = new ModelStore({ backend });
const ways = {
  floor1: async () => new Response(await backend.get(key, { range: last })).arrayBuffer(),
  cached: async () => new Response(await cachedStore.openFile(meta, "zz-config.json")).arrayBuffer(),
  floor2: async () => { for (const r of ranges) await new Response(await backend.get(key, { range: r })).arrayBuffer(); },
  uncached: async () => new Response(await new ModelStore({ backend }).openFile(meta, "zz-config.json")).arrayBuffer(),
};
const N = Number(process.env.N ?? 2000);
const times = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
for (let i = -200; i < N; i++) for (const [k, fn] of Object.entries(ways)) { const t = performance.now(); await fn(); if (i >= 0) times[k].push(performance.now() - t); }
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (const [k, xs] of Object.entries(times)) console.log(k.padEnd(9), (med(xs) * 1000).toFixed(0), "µs");
console.log("cached/floor1", (med(times.cached) / med(times.floor1)).toFixed(2), "uncached/floor2", (med(times.uncached) / med(times.floor2)).toFixed(2));
rmSync(work, { recursive: true, force: true });

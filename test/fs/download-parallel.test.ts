/** Whole downloads of indexed archives: member groups fetched and inflated in parallel, still verified. */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ModelStore, memoryBackend, type Backend } from "../../src/index.ts";
import { downloadModel } from "../../src/fs.ts";
import { noise, sha256, streamOf, text } from "../support/bytes.ts";

describe("downloadModel of an indexed archive, in parallel", () => {
  let base: string;
  let memory: Backend;
  let store: ModelStore;
  let gets: { offset?: number; length?: number }[];
  let inFlight = 0;
  let maxInFlight = 0;
  const weights = noise(40 * 1024 * 1024 + 17);
  const vocab = text("token\n".repeat(200_000));

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), "modelstore-parallel-"));
    memory = memoryBackend();
    gets = [];
    const backend: Backend = Object.create(memory, {
      get: {
        value: async (key: string, opts?: Parameters<Backend["get"]>[1]) => {
          if (!key.endsWith(".tar.gz")) return memory.get(key, opts);
          gets.push({ ...opts?.range });
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await new Promise((resolve) => setTimeout(resolve, 5)); // a network's latency, so requests overlap
          inFlight--;
          return memory.get(key, opts);
        },
      },
    });
    store = new ModelStore({ backend });
    await store.upload("llm", {
      files: [
        { path: "config.json", body: text('{"a": 1}') },
        { path: "weights.bin", body: streamOf(weights), size: weights.length },
        { path: "tokenizer/vocab.txt", body: vocab },
      ],
    });
    gets.length = 0;
    maxInFlight = 0;
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  it("fetches member groups on several connections and extracts byte-identical files", async () => {
    const dir = join(base, "model");
    const result = await downloadModel(store, "llm", undefined, dir, { concurrency: 3 });
    expect((await readdir(dir)).sort()).toEqual(["config.json", "runtime-info.json", "tokenizer", "weights.bin"]);
    expect(sha256(await readFile(join(dir, "weights.bin")))).toBe(sha256(weights));
    expect(sha256(await readFile(join(dir, "tokenizer/vocab.txt")))).toBe(sha256(vocab));
    expect(result.files).toBe(4);
    expect(gets.every((g) => g.offset !== undefined)).toBe(true);
    // 16 MiB groups of members (the 40 MiB of weights take three), then the index's.
    expect(gets.length).toBeGreaterThanOrEqual(4);
    expect(maxInFlight).toBe(3);
  });

  it("does so by default, three at a time", async () => {
    await downloadModel(store, "llm", undefined, join(base, "default"));
    expect(gets.length).toBeGreaterThanOrEqual(4);
    expect(maxInFlight).toBe(3);
  });

  it("with concurrency 1 reads the archive as one stream", async () => {
    await downloadModel(store, "llm", undefined, join(base, "one"), { concurrency: 1 });
    expect(gets).toEqual([{}]);
  });

  it("an archive that differs from its metadata fails the download and leaves nothing", async () => {
    const latest = await store.getLatest("llm");
    const key = latest.storage.prefix!;
    const bytes = new Uint8Array(await new Response(await memory.get(key)).arrayBuffer());
    // Swap the first member's mtime field: every member still inflates, only the archive's sha256 tells.
    bytes[4] ^= 0x01;
    await memory.put(key, bytes);
    const dir = join(base, "tampered");
    await expect(downloadModel(store, "llm", undefined, dir, { concurrency: 3 })).rejects.toMatchObject({ code: "INTEGRITY" });
    await expect(readdir(dir)).rejects.toMatchObject({ code: "ENOENT" });
  });
});

/** downloadModel with include/exclude: only the matching files, fetched through the archive's index where it has one. */
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ModelStore, memoryBackend, type Backend } from "../../src/index.ts";
import { downloadModel } from "../../src/fs.ts";
import { pathMatcher } from "../../src/util/glob.ts";
import { noise, sha256, streamOf, text } from "../support/bytes.ts";

async function walk(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory()) out.push(...(await walk(join(dir, entry.name), `${path}/`)));
    else out.push(path);
  }
  return out.sort();
}

describe("glob patterns", () => {
  it("match within a segment with *, across segments with **, and a bare name in any folder", () => {
    const match = pathMatcher(["*.json", "tokenizer/**", "shard-?.bin"], ["**/secret.json"]);
    expect(["config.json", "a/b/vocab.json", "tokenizer/x/y.txt", "shard-1.bin"].every(match)).toBe(true);
    expect(["weights.bin", "shard-10.bin", "deep/secret.json", "tokenizerx/a"].some(match)).toBe(false);
    expect(pathMatcher(["sub/*.bin"], undefined)("sub/deeper/a.bin")).toBe(false);
    expect(pathMatcher(undefined, ["*.bin"])("config.json")).toBe(true);
    expect(() => pathMatcher([""], undefined)).toThrow(/pattern/);
  });
});

describe("downloadModel with include and exclude", () => {
  let base: string;
  let backend: Backend;
  let store: ModelStore;
  const weights = noise(6 * 1024 * 1024);
  let gets: { offset?: number; length?: number }[]; // reads of the archive

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), "modelstore-partial-"));
    const memory = memoryBackend();
    gets = [];
    backend = Object.create(memory, {
      get: { value: (key: string, opts?: Parameters<Backend["get"]>[1]) => (key.endsWith(".tar.gz") && gets.push({ ...opts?.range }), memory.get(key, opts)) },
    });
    store = new ModelStore({ backend });
    await store.upload("llm", {
      files: [
        { path: "config.json", body: text('{"a": 1}') },
        { path: "model.safetensors", body: streamOf(weights), size: weights.length, mode: 0o600 },
        { path: "tokenizer/vocab.json", body: text('{"hi": 0}') },
        { path: "tokenizer/merges.txt", body: text("h i\n") },
      ],
    });
    gets.length = 0;
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  it("fetches only the matching files' members, one ranged read each after the index", async () => {
    const dir = join(base, "small");
    const result = await downloadModel(store, "llm", undefined, dir, { include: ["*.json", "tokenizer/**"], exclude: ["merges.txt"] });
    expect(await walk(dir)).toEqual(["config.json", "runtime-info.json", "tokenizer/vocab.json"]);
    expect(await readFile(join(dir, "tokenizer/vocab.json"), "utf8")).toBe('{"hi": 0}');
    expect(result.files).toBe(3);
    expect(gets).toHaveLength(4); // the index, then one range per file
    const read = gets.reduce((sum, g) => sum + (g.length ?? Infinity), 0);
    expect(read).toBeLessThan(64 * 1024); // none of the 6 MiB of weights
  });

  it("keeps each file's mode and verifies what it fetched", async () => {
    const dir = join(base, "weights");
    await downloadModel(store, "llm", undefined, dir, { include: ["*.safetensors"] });
    expect(await walk(dir)).toEqual(["model.safetensors"]);
    expect(sha256(await readFile(join(dir, "model.safetensors")))).toBe(sha256(weights));
    expect((await stat(join(dir, "model.safetensors"))).mode & 0o777).toBe(0o600);
  });

  it("extracts only the matching files of an archive without an index, reading it whole", async () => {
    const latest = await store.getLatest("llm");
    const { index: _, ...archive } = latest.archive!;
    const older = { ...latest, archive };
    // The document without its index, as older uploads and the Python library write it.
    await store.metadata.deleteModel("llm", latest.model.model_id);
    await store.metadata.addModel(older);
    const dir = join(base, "scan");
    await downloadModel(store, "llm", undefined, dir, { include: ["tokenizer/*"] });
    expect(await walk(dir)).toEqual(["tokenizer/merges.txt", "tokenizer/vocab.json"]);
    expect(gets.some((g) => g.offset === undefined)).toBe(true);
  });
});

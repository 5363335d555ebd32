import { randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createArchive } from "../../src/archive/create-archive.ts";
import type { ArchiveInputEntry } from "../../src/archive/types.ts";
import { extractArchive, filesFromDirectory } from "../../src/fs.ts";

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

async function bodyBytes(entry: ArchiveInputEntry): Promise<Buffer> {
  return Buffer.from(await new Response(entry.body as ReadableStream<Uint8Array>).arrayBuffer());
}

const openFiles = async () => (await readdir("/proc/self/fd")).length;

describe("filesFromDirectory", () => {
  let base: string;
  let dir: string;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), "modelstore-files-"));
    dir = join(base, "model");
    await mkdir(dir);
  });
  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  async function write(path: string, content: string | Uint8Array): Promise<void> {
    await mkdir(join(dir, path, ".."), { recursive: true });
    await writeFile(join(dir, path), content);
  }

  it("yields every file with its relative path, in code-point order whatever the folder structure", async () => {
    for (const path of ["b.txt", "a/b", "a-b", "a/a/deep.bin", "A.md", "ab/c", "z\u{1F600}", "z\uFF01"]) await write(path, path);
    const paths = (await collect(filesFromDirectory(dir))).map((e) => e.path);
    expect(paths).toEqual(["A.md", "a-b", "a/a/deep.bin", "a/b", "ab/c", "b.txt", "z\uFF01", "z\u{1F600}"]);
  });

  it("reports size, mode and mtime from stat and streams the file's exact bytes", async () => {
    const weights = randomBytes(700 * 1024);
    await write("weights.bin", weights);
    await write("run.sh", "#!/bin/sh\n");
    await chmod(join(dir, "run.sh"), 0o750);
    const when = new Date("2023-01-02T03:04:05Z");
    await utimes(join(dir, "weights.bin"), when, when);
    const [run, entry] = await collect(filesFromDirectory(dir));
    expect(entry).toMatchObject({ path: "weights.bin", size: weights.length, mode: (await stat(join(dir, "weights.bin"))).mode & 0o777 });
    expect(entry.mtime?.getTime()).toBe(when.getTime());
    expect(Buffer.compare(await bodyBytes(entry), weights)).toBe(0);
    expect(run).toMatchObject({ path: "run.sh", size: 10, mode: 0o750 });
    expect((await bodyBytes(run)).toString()).toBe("#!/bin/sh\n");
  });

  it("opens a file only when its body is read, so hundreds of entries hold no descriptors", async () => {
    for (let i = 0; i < 300; i++) await write(`shards/${String(i).padStart(3, "0")}.bin`, `shard ${i}`);
    const before = await openFiles();
    const entries = await collect(filesFromDirectory(dir));
    expect(entries).toHaveLength(300);
    expect(await openFiles()).toBeLessThanOrEqual(before + 5);
    for (const [i, entry] of entries.entries()) expect((await bodyBytes(entry)).toString()).toBe(`shard ${i}`);
    expect(await openFiles()).toBeLessThanOrEqual(before + 5);
  });

  it("follows a symlink to a file inside, skips one to a folder inside", async () => {
    await write("real/weights.bin", "weights");
    await symlink("real/weights.bin", join(dir, "alias.bin"));
    await symlink("real", join(dir, "alias-dir"));
    const entries = await collect(filesFromDirectory(dir));
    expect(entries.map((e) => e.path)).toEqual(["alias.bin", "real/weights.bin"]);
    expect((await bodyBytes(entries[0])).toString()).toBe("weights");
    expect(entries[0].size).toBe(7);
  });

  it("refuses a symlink pointing outside the directory, and a dangling one, with INVALID_ARGUMENT", async () => {
    await writeFile(join(base, "secret"), "outside");
    await symlink(join(base, "secret"), join(dir, "escape"));
    const error = await collect(filesFromDirectory(dir)).catch((e) => e);
    expect(error).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(error.message).toContain("escape");
    await rm(join(dir, "escape"));
    await symlink("missing-target", join(dir, "dangling"));
    await expect(collect(filesFromDirectory(dir))).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("with dereference, packs a Hugging Face cache snapshot whose files link into ../../blobs", async () => {
    // The layout huggingface_hub writes: snapshots/<rev>/<path> -> ../../blobs/<sha256>.
    const cache = join(base, "models--org--tiny");
    await mkdir(join(cache, "blobs"), { recursive: true });
    await mkdir(join(cache, "snapshots/abc123/tokenizer"), { recursive: true });
    await writeFile(join(cache, "blobs/1111"), '{"hidden": 8}');
    await writeFile(join(cache, "blobs/2222"), "vocab");
    await symlink("../../blobs/1111", join(cache, "snapshots/abc123/config.json"));
    await symlink("../../../blobs/2222", join(cache, "snapshots/abc123/tokenizer/vocab.txt"));
    const snapshot = join(cache, "snapshots/abc123");
    const refused = await collect(filesFromDirectory(snapshot)).catch((e) => e);
    expect(refused).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(refused.message).toContain("`dereference: true`");

    const entries = await collect(filesFromDirectory(snapshot, { dereference: true }));
    expect(entries.map((e) => [e.path, e.size])).toEqual([
      ["config.json", 13],
      ["tokenizer/vocab.txt", 5],
    ]);
    expect((await bodyBytes(entries[0])).toString()).toBe('{"hidden": 8}');
    // What extractArchive rebuilds holds regular files, not links.
    const out = join(base, "out");
    await extractArchive(createArchive({ files: filesFromDirectory(snapshot, { dereference: true }) }), out);
    expect(await readFile(join(out, "tokenizer/vocab.txt"), "utf8")).toBe("vocab");
    expect((await lstat(join(out, "config.json"))).isFile()).toBe(true);
  });

  it("with dereference, walks a linked folder under the link's name, and refuses a link back up (a cycle)", async () => {
    await mkdir(join(base, "shared"));
    await writeFile(join(base, "shared/vocab.txt"), "v");
    await symlink(join(base, "shared"), join(dir, "tokenizer"));
    await write("config.json", "{}");
    const entries = await collect(filesFromDirectory(dir, { dereference: true }));
    expect(entries.map((e) => e.path)).toEqual(["config.json", "tokenizer/vocab.txt"]);

    await symlink("..", join(base, "shared/up"));
    const cycle = await collect(filesFromDirectory(dir, { dereference: true })).catch((e) => e);
    expect(cycle).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(cycle.message).toMatch(/tokenizer\/up.*never end/);
    // A dangling link is refused with dereference too.
    await rm(join(base, "shared/up"));
    await symlink("missing", join(dir, "dangling"));
    await expect(collect(filesFromDirectory(dir, { dereference: true }))).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("refuses a path that is missing or not a directory with INVALID_ARGUMENT", async () => {
    await expect(collect(filesFromDirectory(join(base, "nope")))).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await write("file", "x");
    await expect(collect(filesFromDirectory(join(dir, "file")))).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("stops with ABORTED when the signal fires between entries", async () => {
    for (const path of ["a", "b", "c"]) await write(path, path);
    const controller = new AbortController();
    const seen: string[] = [];
    const walking = (async () => {
      for await (const entry of filesFromDirectory(dir, { signal: controller.signal })) {
        seen.push(entry.path);
        controller.abort();
      }
    })();
    await expect(walking).rejects.toMatchObject({ code: "ABORTED" });
    expect(seen).toEqual(["a"]);
  });

  it("fails the archive with INTEGRITY when a file grows or shrinks between its stat and its read, instead of packing part of it", async () => {
    for (const change of ["grow", "shrink"] as const) {
      await write("a.bin", "first-half;");
      await write("b.bin", "x");
      async function* changing(): AsyncGenerator<ArchiveInputEntry> {
        for await (const entry of filesFromDirectory(dir)) {
          // A writer still at work on the file when it is packed.
          if (entry.path === "a.bin") await writeFile(join(dir, "a.bin"), change === "grow" ? "first-half;second-half" : "first");
          yield entry;
        }
      }
      const reading = new Response(createArchive({ files: changing() })).arrayBuffer();
      await expect(reading, change).rejects.toMatchObject({ code: "INTEGRITY", message: expect.stringContaining('"a.bin" declared 11 bytes') });
    }
  });

  it("feeds createArchive so that extractArchive rebuilds the same tree", async () => {
    const files: Record<string, Uint8Array> = {
      "config.json": new TextEncoder().encode("{}"),
      "weights/part-1.bin": randomBytes(300 * 1024),
      "weights/part-2.bin": randomBytes(10),
      "tokenizer/vocab.txt": new TextEncoder().encode("a\nb\n"),
    };
    for (const [path, bytes] of Object.entries(files)) await write(path, bytes);
    const out = join(base, "out");
    await extractArchive(createArchive({ files: filesFromDirectory(dir) }), out);
    for (const [path, bytes] of Object.entries(files)) {
      expect(Buffer.compare(await readFile(join(out, path)), Buffer.from(bytes)), path).toBe(0);
    }
  });
});

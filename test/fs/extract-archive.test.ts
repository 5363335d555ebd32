import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { extractArchive, filesFromDirectory } from "../../src/fs.ts";
import { createArchive } from "../../src/index.ts";
import { rawTar, streamOf, type RawEntry } from "./raw-tar.ts";

function gnuTar(args: string[], cwd?: string): Buffer {
  return execFileSync("/usr/bin/tar", args, { cwd, maxBuffer: 256 * 1024 * 1024, env: { ...process.env, LC_ALL: "C.UTF-8" } });
}

/** Every path below `dir`, relative, sorted. */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe("extractArchive", () => {
  let base: string;
  let target: string;
  let sibling: string;
  let outside: string;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), "modelstore-extract-"));
    target = join(base, "target");
    sibling = join(base, "sibling");
    outside = join(base, "outside");
    await mkdir(sibling);
    await mkdir(outside);
    await writeFile(join(outside, "victim"), "untouched");
  });
  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  const extract = (bytes: Uint8Array) => extractArchive(streamOf(bytes), target);

  /** Extraction fails with INVALID_ARCHIVE naming `mentions` and giving `reason`, and nothing outside `target` changed. */
  async function expectRefused(entries: RawEntry[], mentions: string, reason: string): Promise<void> {
    const error = await extract(rawTar(entries)).catch((e) => e);
    expect(error).toMatchObject({ code: "INVALID_ARCHIVE" });
    expect(error.message).toContain(mentions);
    expect(error.message).toContain(reason);
    expect(await readdir(sibling)).toEqual([]);
    expect(await readFile(join(outside, "victim"), "utf8")).toBe("untouched");
    expect(await tree(outside)).toEqual(["victim"]);
    expect((await readdir(base)).sort()).toEqual(["outside", "sibling", "target"]);
  }

  it("refuses a path with .. segments", async () => {
    await expectRefused([{ name: "../sibling/evil", body: "x" }], "../sibling/evil", '".." segment');
    await expectRefused([{ name: "a/../../sibling/evil", body: "x" }], "a/../../sibling/evil", '".." segment');
  });

  it("refuses an absolute path", async () => {
    await expectRefused([{ name: join(sibling, "evil"), body: "x" }], join(sibling, "evil"), "absolute path");
  });

  it("refuses backslash paths that mean .. on Windows", async () => {
    await expectRefused([{ name: "..\\sibling\\evil", body: "x" }], "sibling", "backslash");
  });

  it("refuses a symlink pointing outside, absolute or relative", async () => {
    await expectRefused([{ name: "link", type: "2", linkname: "../sibling" }, { name: "link/evil", body: "x" }], "link", "leaves the target");
    await expectRefused([{ name: "abs", type: "2", linkname: sibling }], sibling, "only relative targets");
    await expectRefused([{ name: "deep/link", type: "2", linkname: "../../outside/victim" }], "deep/link", "leaves the target");
  });

  it("refuses a symlink that escapes through another symlink and ..", async () => {
    // "s" -> "." is harmless; "s/../x" looks inside on paper but s/.. is the target's parent.
    await expectRefused(
      [{ name: "s", type: "2", linkname: "." }, { name: "t", type: "2", linkname: "s/../sibling" }, { name: "t/evil", body: "x" }],
      "s/../sibling",
      "leaves the target",
    );
  });

  it("refuses an entry written through a symlink extracted before it, even one pointing inside", async () => {
    await expectRefused(
      [{ name: "sub", type: "5" }, { name: "inner", type: "2", linkname: "sub" }, { name: "inner/x", body: "x" }],
      "inner/x",
      'written through the symlink "inner"',
    );
  });

  it("refuses an entry written through a symlink already in the target directory", async () => {
    await mkdir(target);
    await symlink(sibling, join(target, "pre"));
    await expectRefused([{ name: "pre/evil", body: "x" }], "pre/evil", 'written through the symlink "pre"');
  });

  it("refuses a symlink whose target passes through an existing symlink to outside", async () => {
    await mkdir(target);
    await symlink(outside, join(target, "pre"));
    await expectRefused([{ name: "via", type: "2", linkname: "pre/victim" }], "pre/victim", "resolves outside");
  });

  it("refuses hard links to files outside or to anything but an extracted file, naming the link", async () => {
    await expectRefused([{ name: "h", type: "1", linkname: "../outside/victim" }], 'extract "h"', 'its hard-link target "../outside/victim" contains a ".." segment');
    await expectRefused([{ name: "h", type: "1", linkname: join(outside, "victim") }], 'extract "h"', "is an absolute path");
    await expectRefused(
      [{ name: "f", body: "x" }, { name: "s", type: "2", linkname: "f" }, { name: "h", type: "1", linkname: "s" }],
      'extract "h"',
      'hard link to "s", which is not a file',
    );
  });

  it("extracts names as long as a path segment allows (255 bytes), and names GNU tar reads as relative (c:notes.txt)", async () => {
    const long = `${"f".repeat(251)}.bin`;
    // Made by GNU tar, which writes the long name as a GNU long-name entry.
    const source = join(base, "sibling");
    await mkdir(join(source, "x"));
    await writeFile(join(source, "x", long), "long");
    await writeFile(join(source, "c:notes.txt"), "colon");
    const archive = execFileSync("tar", ["czf", "-", "-C", source, "x", "c:notes.txt"]);
    await rm(source, { recursive: true });
    await mkdir(source);
    await extractArchive(streamOf(new Uint8Array(archive)), target);
    expect(await readFile(join(target, "x", long), "utf8")).toBe("long");
    expect(await readFile(join(target, "c:notes.txt"), "utf8")).toBe("colon");
    expect(await tree(target)).toEqual(["c:notes.txt", "x", `x/${long}`]);
  });

  it("replaces a symlink with a file of the same name instead of writing through it", async () => {
    await mkdir(target);
    await symlink(join(outside, "victim"), join(target, "link"));
    await extract(rawTar([{ name: "link", body: "new content" }]));
    expect((await lstat(join(target, "link"))).isFile()).toBe(true);
    expect(await readFile(join(target, "link"), "utf8")).toBe("new content");
    expect(await readFile(join(outside, "victim"), "utf8")).toBe("untouched");
  });

  it("keeps the archive's order while small files are written at once: a later entry of a name wins", async () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ name: `f-${i}.txt`, body: `file ${i}` }));
    await extract(rawTar([{ name: "same.txt", body: "first" }, ...many, { name: "same.txt", body: "second" }, { name: "d/same.txt", body: "a" }, { name: "d/same.txt", body: "b" }]));
    expect(await readFile(join(target, "same.txt"), "utf8")).toBe("second");
    expect(await readFile(join(target, "d/same.txt"), "utf8")).toBe("b");
    for (let i = 0; i < 40; i++) expect(await readFile(join(target, `f-${i}.txt`), "utf8")).toBe(`file ${i}`);
    expect((await tree(target)).filter((name) => name.includes(".extract."))).toEqual([]);
  });

  it("refuses an entry under a name a small file just before it took, as it does when that file is on disk", async () => {
    await expectRefused([{ name: "d", body: "a file" }, { name: "d/inner.txt", body: "x" }], 'extract "d/inner.txt"', '"d" is a file, not a folder');
    expect(await readFile(join(target, "d"), "utf8")).toBe("a file");
  });

  it("refuses a file whose name a folder in the target has, and leaves no temp file", async () => {
    await mkdir(join(target, "taken", "below"), { recursive: true });
    await expectRefused([{ name: "taken", body: "x" }], 'extract "taken"', "a folder of that name already exists");
    const big = randomBytes(3 << 20); // streamed, not held whole
    await expectRefused([{ name: "taken", body: big }], 'extract "taken"', "a folder of that name already exists");
    expect(await tree(target)).toEqual(["taken", "taken/below"]);
  });

  it("refuses a symlink or hard link whose name a folder in the target has, and leaves no temp link", async () => {
    await mkdir(join(target, "taken"), { recursive: true });
    await expectRefused([{ name: "taken", type: "2", linkname: "elsewhere" }], 'extract "taken"', "a folder of that name already exists");
    await expectRefused([{ name: "f", body: "x" }, { name: "taken", type: "1", linkname: "f" }], 'extract "taken"', "a folder of that name already exists");
    expect(await tree(target)).toEqual(["f", "taken"]);
  });

  it("fails on a small file that cannot be written, after finishing the writes before it, leaving no temp file", async () => {
    const text = (s: string) => new TextEncoder().encode(s);
    const before = Array.from({ length: 20 }, (_, i) => ({ path: `ok-${i}.txt`, body: text(`file ${i}`) }));
    const tooLong = { path: "n".repeat(300), body: text("no file system takes a name this long") };
    const after = Array.from({ length: 20 }, (_, i) => ({ path: `late-${i}.txt`, body: text("x") }));
    const error = await extractArchive(createArchive({ files: [...before, tooLong, ...after] }), target).catch((e) => e);
    expect(error).toMatchObject({ code: "BACKEND" });
    expect(error.message).toContain("ENAMETOOLONG");
    for (let i = 0; i < 20; i++) expect(await readFile(join(target, `ok-${i}.txt`), "utf8")).toBe(`file ${i}`);
    expect((await tree(target)).filter((name) => name.includes(".extract.") || name.startsWith("n"))).toEqual([]);
  });

  it("rejects a truncated archive with INVALID_ARCHIVE", async () => {
    const whole = rawTar([{ name: "big.bin", body: randomBytes(5000) }]);
    await expect(extract(whole.subarray(0, 2000))).rejects.toMatchObject({ code: "INVALID_ARCHIVE" });
    await expect(extract(whole.subarray(0, 300))).rejects.toMatchObject({ code: "INVALID_ARCHIVE" });
  });

  it("rejects a truncated gzip archive with INVALID_ARCHIVE", async () => {
    const src = join(base, "src");
    await mkdir(src);
    await writeFile(join(src, "noise.bin"), randomBytes(200_000));
    const gz = new Uint8Array(gnuTar(["-czf", "-", "-C", src, "."]));
    await expect(extract(gz.subarray(0, gz.length / 2))).rejects.toMatchObject({ code: "INVALID_ARCHIVE" });
  });

  it("rejects a header with a corrupted checksum with INVALID_ARCHIVE", async () => {
    await expect(extract(rawTar([{ name: "ok", body: "fine" }, { name: "bad", body: "x", checksumError: 1 }]))).rejects.toMatchObject({
      code: "INVALID_ARCHIVE",
    });
    await expect(extract(rawTar([{ name: "bad", body: "x", checksumError: 7 }]))).rejects.toMatchObject({ code: "INVALID_ARCHIVE" });
  });

  it("refuses ../ paths in an archive made by GNU tar --absolute-names and writes nothing outside", async () => {
    const src = join(base, "src");
    await mkdir(src);
    await writeFile(join(src, "payload.txt"), "evil");
    const tgz = new Uint8Array(gnuTar(["-czf", "-", "-C", src, "--absolute-names", "--transform", "s|^|../sibling/|", "payload.txt"]));
    const error = await extract(tgz).catch((e) => e);
    expect(error).toMatchObject({ code: "INVALID_ARCHIVE" });
    expect(error.message).toContain("../sibling/payload.txt");
    expect(await readdir(sibling)).toEqual([]);
  });

  it("aborts with ABORTED when the signal fires", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(extractArchive(streamOf(rawTar([{ name: "f", body: "x" }])), target, { signal: controller.signal })).rejects.toMatchObject({
      code: "ABORTED",
    });
  });

  it("aborted while small files are being written, it waits for them and leaves no temp file", async () => {
    const many = Array.from({ length: 200 }, (_, i) => ({ name: `f-${i}.txt`, body: `file ${i}`.repeat(50) }));
    const bytes = rawTar(many);
    const controller = new AbortController();
    let sent = 0;
    const trickle = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= bytes.length) return c.close();
        if (sent >= bytes.length / 2) controller.abort();
        c.enqueue(bytes.subarray(sent, (sent += 4096)));
      },
    });
    await expect(extractArchive(trickle, target, { signal: controller.signal })).rejects.toMatchObject({ code: "ABORTED" });
    const left = await tree(target);
    expect(left.length).toBeGreaterThan(0);
    expect(left.length).toBeLessThan(200);
    expect(left.filter((name) => name.includes(".extract."))).toEqual([]);
    for (const name of left) expect(await readFile(join(target, name), "utf8")).toBe(`file ${name.slice(2, -4)}`.repeat(50));
  });

  it("keeps file permissions sane: no group/other write, no set-id bits", async () => {
    await extract(rawTar([{ name: "f", body: "x", mode: 0o4777 }, { name: "ro", body: "x", mode: 0o000 }]));
    expect((await lstat(join(target, "f"))).mode & 0o7777).toBe(0o755);
    expect((await lstat(join(target, "ro"))).mode & 0o7777).toBe(0o400);
  });

  for (const format of ["gnu", "pax"]) {
    it(`extracts a ${format} archive made by GNU tar byte for byte, with modes, mtimes and inner symlinks`, async () => {
      const src = join(base, "src");
      const longDir = "a-rather-long-directory-name-to-push-the-path-past-one-hundred-bytes/and-deeper-still";
      const files: Record<string, Uint8Array> = {
        "config.json": new TextEncoder().encode('{"layers":2}'),
        "empty.txt": new Uint8Array(),
        "weights/layer-1.bin": randomBytes(1024 * 1024 + 17),
        "weights/ünïcödé 日本.bin": randomBytes(999),
        [`${longDir}/tokenizer.json`]: randomBytes(3000),
        "bin/run.sh": new TextEncoder().encode("#!/bin/sh\necho hi\n"),
      };
      for (const [path, bytes] of Object.entries(files)) {
        await mkdir(join(src, path, ".."), { recursive: true });
        await writeFile(join(src, path), bytes);
      }
      await chmod(join(src, "bin/run.sh"), 0o755);
      await symlink("../weights/layer-1.bin", join(src, "bin/weights-link"));
      const when = new Date("2024-03-04T05:06:07Z");
      for (const path of Object.keys(files)) await utimes(join(src, path), when, when);
      const tgz = new Uint8Array(gnuTar(["-czf", "-", `--format=${format}`, "-C", src, "."]));

      const result = await extract(tgz);

      expect(result).toEqual({ files: 6, bytes: Object.values(files).reduce((n, b) => n + b.length, 0) });
      for (const [path, bytes] of Object.entries(files)) {
        expect(Buffer.compare(await readFile(join(target, path)), Buffer.from(bytes)), path).toBe(0);
        expect((await lstat(join(target, path))).mtime.getTime(), path).toBe(when.getTime());
      }
      expect((await lstat(join(target, "bin/run.sh"))).mode & 0o777).toBe(0o755);
      expect((await lstat(join(target, "config.json"))).mode & 0o777).toBe((await lstat(join(src, "config.json"))).mode & 0o777);
      expect(await readlink(join(target, "bin/weights-link"))).toBe("../weights/layer-1.bin");
      expect(await tree(target)).toEqual(await tree(src));
    });
  }

  it("extracts the archive file at a path, read in large chunks: our multi-member archive of a 13 MiB model, as GNU tar extracts it", async () => {
    const src = join(base, "src");
    await mkdir(join(src, "weights"), { recursive: true });
    const files: Record<string, Uint8Array> = {
      "config.json": new TextEncoder().encode('{"layers":2}'),
      "weights/a.bin": randomBytes(9 * 1024 * 1024 + 5), // several gzip members, inflated two at a time
      "weights/b.bin": new Uint8Array(4 * 1024 * 1024).fill(3),
    };
    for (const [path, bytes] of Object.entries(files)) await writeFile(join(src, path), bytes);
    const archivePath = join(base, "model.tar.gz");
    const archive = createArchive({ files: await filesFromDirectory(src) });
    await writeFile(archivePath, new Uint8Array(await new Response(archive).arrayBuffer()));

    const result = await extractArchive(archivePath, target);

    const byGnu = join(base, "by-gnu");
    await mkdir(byGnu);
    gnuTar(["-xzf", archivePath, "-C", byGnu]);
    expect(result.files).toBe(4); // and runtime-info.json
    expect(await tree(target)).toEqual(await tree(byGnu));
    for (const path of await tree(byGnu)) {
      if ((await lstat(join(byGnu, path))).isFile()) expect(Buffer.compare(await readFile(join(target, path)), await readFile(join(byGnu, path))), path).toBe(0);
    }
  });

  it("names a missing archive file in its error", async () => {
    const error = await extractArchive(join(base, "no-such.tar.gz"), target).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "NOT_FOUND" });
    expect((error as Error).message).toContain("no-such.tar.gz");
  });
});

import { mkdir, readFile, symlink, utimes, writeFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { createArchive } from "../../src/archive/create-archive.ts";
import { fileStream, gnuTar, pseudoRandom, readAll, sha256, streamOf, tempDir, text } from "./helpers.ts";

const LONG_DIR = `${"long-directory-segment-".repeat(3)}x`; // 70 bytes
const LONG_NAME = `${"n".repeat(110)}.bin`; // a single segment over 100 bytes: needs PAX or GNU L
const BIG = 8 * 1024 * 1024 + 4097; // over 8 MiB, not a multiple of 512

describe("GNU tar reads our archives", () => {
  test("tar -tzvf lists exactly our entries with their sizes, and tar -xzf gives byte-identical files", async () => {
    const dir = await tempDir();
    const big = pseudoRandom(BIG, 21);
    const files = {
      "model.onnx": pseudoRandom(10_000, 22),
      [`${LONG_DIR}/${LONG_NAME}`]: text("long path"),
      "模型/权重-ü.bin": text("non-ASCII"),
      "big/weights.bin": big,
      "empty.txt": new Uint8Array(0),
    };
    const archive = createArchive(
      {
        files: Object.entries(files).map(([path, body], i) =>
          i === 3 ? { path, body: streamOf(body, 1 << 20), size: body.length } : { path, body: i === 0 ? new Blob([body as Uint8Array<ArrayBuffer>]) : body },
        ),
        extras: [{ path: "notes.txt", body: text("extra notes"), mode: 0o600 }],
      },
      { level: 1 },
    );
    const tgz = join(dir, "artifacts.tar.gz");
    await writeFile(tgz, archive as unknown as AsyncIterable<Uint8Array>);

    const listing = gnuTar(["-tzvf", tgz])
      .trim()
      .split("\n")
      .map((line) => {
        // "-rw-r--r-- 0/0  10000 2024-01-01 00:00 model.onnx"
        const [perms, , size, , , ...name] = line.split(/\s+/);
        return `${perms} ${size} ${name.join(" ")}`;
      });
    expect(listing).toEqual([
      `-rw-r--r-- ${(await readAll(createArchive({ files: [] })))[0]!.size} runtime-info.json`,
      "-rw-r--r-- 10000 model.onnx",
      `drwxr-xr-x 0 ${LONG_DIR}/`,
      `-rw-r--r-- 9 ${LONG_DIR}/${LONG_NAME}`,
      "drwxr-xr-x 0 模型/",
      "-rw-r--r-- 9 模型/权重-ü.bin",
      "drwxr-xr-x 0 big/",
      `-rw-r--r-- ${BIG} big/weights.bin`,
      "-rw-r--r-- 0 empty.txt",
      "drwxr-xr-x 0 extras/",
      "-rw------- 11 extras/notes.txt",
    ]);

    const out = join(dir, "out");
    await mkdir(out);
    gnuTar(["-xzf", tgz, "-C", out]);
    for (const [path, body] of Object.entries(files)) {
      expect(sha256(new Uint8Array(await readFile(join(out, path)))), path).toBe(sha256(body));
    }
    expect(await readFile(join(out, "extras/notes.txt"), "utf8")).toBe("extra notes");
    expect(JSON.parse(await readFile(join(out, "runtime-info.json"), "utf8")).modelstore).toBeTypeOf("string");
  });
});

describe("we read GNU tar's archives", () => {
  async function sourceTree() {
    const dir = await tempDir();
    const src = join(dir, "src");
    const files: Record<string, Uint8Array> = {
      "config.json": text('{"layers": 2}'),
      [`${LONG_DIR}/${LONG_DIR}/${LONG_NAME}`]: text("deep and long"),
      "模型/权重-ü.bin": pseudoRandom(5000, 31),
      "weights/big.bin": pseudoRandom(600_000, 32),
      "weights/empty.bin": new Uint8Array(0),
    };
    for (const [path, body] of Object.entries(files)) {
      await mkdir(join(src, path, ".."), { recursive: true });
      await writeFile(join(src, path), body);
    }
    await chmod(join(src, "config.json"), 0o600);
    const mtime = new Date("2023-03-04T05:06:07Z");
    await utimes(join(src, "config.json"), mtime, mtime);
    await symlink("config.json", join(src, "link-to-config"));
    return { dir, src, files, mtime };
  }

  const names = (dir: string) => ["-C", dir, "--sort=name", "."];

  for (const format of ["pax", "gnu", "ustar", "oldgnu", "v7"] as const) {
    test(`reads --format=${format} .tar.gz with long names, a symlink, modes and mtimes`, async () => {
      const { dir, src, files, mtime } = await sourceTree();
      const tgz = join(dir, `${format}.tar.gz`);
      // ustar cannot hold a 114-byte name segment and v7 no path over 99 bytes: GNU tar refuses them.
      const skipped = (path: string) =>
        (format === "ustar" && path.endsWith(LONG_NAME)) || (format === "v7" && path.startsWith(LONG_DIR));
      const exclude = format === "ustar" ? [`--exclude=${LONG_NAME}`] : format === "v7" ? [`--exclude=${LONG_DIR}`] : [];
      gnuTar([`--format=${format}`, ...exclude, "-czf", tgz, ...names(src)]);
      const entries = await readAll(fileStream(tgz));
      const byPath = new Map(entries.map((e) => [e.path.replace(/^\.\//, ""), e]));
      for (const [path, body] of Object.entries(files)) {
        if (skipped(path)) continue;
        const entry = byPath.get(path);
        expect(entry?.type, path).toBe("file");
        expect(entry!.size, path).toBe(body.length);
        expect(sha256(entry!.bytes), path).toBe(sha256(body));
      }
      expect(byPath.get("config.json")).toMatchObject({ mode: 0o600, mtime });
      expect(byPath.get("link-to-config")).toMatchObject({ type: "symlink", linkTarget: "config.json", size: 0 });
      expect(byPath.get("weights")).toMatchObject({ type: "directory", size: 0 });
      expect(byPath.get(".")?.type).toBe("directory");
    });
  }

  test("reads a plain uncompressed .tar, sniffed and with compression: none", async () => {
    const { dir, src, files } = await sourceTree();
    const tar = join(dir, "plain.tar");
    gnuTar(["--format=pax", "-cf", tar, ...names(src)]);
    for (const compression of ["auto", "none"] as const) {
      const entries = await readAll(fileStream(tar), { compression });
      const file = entries.find((e) => e.path === "./weights/big.bin")!;
      expect(sha256(file.bytes)).toBe(sha256(files["weights/big.bin"]!));
    }
  });

  test("reads GNU tar's hard links", async () => {
    const dir = await tempDir();
    const src = join(dir, "src");
    await mkdir(src);
    await writeFile(join(src, "a.txt"), "shared");
    const { link } = await import("node:fs/promises");
    await link(join(src, "a.txt"), join(src, "b.txt"));
    const tar = join(dir, "links.tar");
    gnuTar(["--format=gnu", "-cf", tar, "-C", src, "a.txt", "b.txt"]);
    const entries = await readAll(fileStream(tar));
    expect(entries.map((e) => [e.path, e.type, e.linkTarget])).toEqual([
      ["a.txt", "file", undefined],
      ["b.txt", "hardlink", "a.txt"],
    ]);
  });
});

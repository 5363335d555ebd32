import { execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { createArchive } from "../../../src/archive/create-archive.ts";
import { decodeIndexMembers, encodeIndexMembers, indexMembersOf, SMALL_MEMBER_BYTES, type ArchiveIndex, type ArchiveIndexLocation } from "../../../src/archive/index/archive-index.ts";
import { readEntry, readIndex, type IndexReadEngine, type RangeReader } from "../../../src/archive/index/read-entry.ts";
import { zlibEngine } from "../../../src/archive/index/engine-zlib.ts";
import { webEngine } from "../../../src/archive/index/engine-web.ts";
import { CUT_AFTER_BYTES } from "../../../src/archive/index/index-recorder.ts";
import { collect, gnuTar, pseudoRandom, readAll, sha256, streamOf, tempDir, text } from "../helpers.ts";

const WEIGHTS = 9 * 1024 * 1024 + 123;

interface Built {
  bytes: Uint8Array;
  location: ArchiveIndexLocation;
  files: Record<string, Uint8Array>;
}

async function build(options: { deterministic?: boolean } = {}): Promise<Built> {
  const files: Record<string, Uint8Array> = {
    "a-weights.bin": pseudoRandom(WEIGHTS, 3),
    // Past CUT_AFTER_BYTES, so that the small files after it get a member of their own (inflated whole, inflate-small.ts).
    "b/vocab.txt": text("hello\nworld\n".repeat(25_000)),
    "empty.txt": new Uint8Array(0),
    "zz-config.json": text('{ "threshold": 0.5 }'),
  };
  let location: ArchiveIndexLocation | undefined;
  const archive = createArchive(
    { files: Object.entries(files).map(([path, body]) => (path === "a-weights.bin" ? { path, body: streamOf(body, 1 << 20), size: body.length } : { path, body })) },
    { ...options, onIndex: (found) => (location = found) },
  );
  const bytes = await collect(archive);
  return { bytes, location: location!, files };
}

function rangeReader(bytes: Uint8Array, log: { offset: number; length: number }[] = []): RangeReader {
  return async (offset, length) => {
    log.push({ offset, length });
    return streamOf(bytes.subarray(offset, offset + length));
  };
}

const WHAT = "The test archive";

/** Both engines read through the same index and must refuse the same hostile ones; set per block below. */
const ENGINES: [string, IndexReadEngine][] = [["zlib", zlibEngine], ["DecompressionStream", webEngine]];
let engine: IndexReadEngine = zlibEngine;

async function indexOf(built: Built): Promise<ArchiveIndex> {
  return readIndex(engine, rangeReader(built.bytes), built.location, built.bytes.length, WHAT);
}

/** The archive with its index replaced by `change(index)`, re-encoded with a matching hash (as version 2, or as the JSON `encode` makes). */
async function withIndex(built: Built, change: (index: ArchiveIndex) => void, encode?: (index: ArchiveIndex) => unknown): Promise<Built> {
  const index = structuredClone(await indexOf(built));
  change(index);
  const encoded = encode ? indexMembersOf(JSON.stringify(encode(index))) : encodeIndexMembers(index);
  const bytes = new Uint8Array(built.location.offset + encoded.length);
  bytes.set(built.bytes.subarray(0, built.location.offset));
  bytes.set(encoded, built.location.offset);
  return { bytes, files: built.files, location: { offset: built.location.offset, length: encoded.length, sha256: sha256(encoded) } };
}

/** The JSON in index members' extra fields (one member is enough for the test archives). */
function indexJsonOf(members: Uint8Array): { version: number; members: unknown[] } {
  const length = members[14] | (members[15] << 8);
  expect(members.length).toBe(16 + length + 10);
  return JSON.parse(new TextDecoder().decode(members.subarray(16, 16 + length)));
}

/** An index as version 1 wrote it: members as { offset, size, usize } objects. */
const version1 = (index: ArchiveIndex) => ({ version: 1, members: index.members, entries: index.entries });

async function readVia(built: Built, path: string): Promise<Uint8Array> {
  const index = await indexOf(built);
  const entry = index.entries.find((e) => e.path === path)!;
  return collect(await readEntry(engine, rangeReader(built.bytes), index, entry, WHAT));
}

describe("the table of contents", () => {
  test("is written at the end of every archive and lists every entry with its size, mode, sha256 and member", async () => {
    const built = await build();
    expect(built.location.offset + built.location.length).toBe(built.bytes.length);
    expect(sha256(built.bytes.subarray(built.location.offset))).toBe(built.location.sha256);
    const index = await indexOf(built);
    const files = index.entries.filter((e) => e.type === "file");
    expect(files.map((e) => e.path)).toEqual(["runtime-info.json", "a-weights.bin", "b/vocab.txt", "empty.txt", "zz-config.json"]);
    for (const [path, body] of Object.entries(built.files)) {
      const entry = files.find((e) => e.path === path)!;
      expect(entry).toMatchObject({ size: body.length, sha256: sha256(body), mode: 0o644 });
    }
    expect(index.entries.find((e) => e.path === "b")).toMatchObject({ type: "directory", mode: 0o755, size: 0 });
    expect(index.members[0].offset).toBe(0);
  });

  test("is version 2: members as [size, usize] pairs, their offsets implied, smaller than version 1's objects", async () => {
    const built = await build();
    const json = indexJsonOf(built.bytes.subarray(built.location.offset));
    expect(json.version).toBe(2);
    const index = await indexOf(built);
    expect(json.members).toEqual(index.members.flatMap((m) => [m.size, m.usize]));
    expect(index.members.map((m) => m.offset)).toEqual(index.members.map((_, i) => index.members.slice(0, i).reduce((sum, m) => sum + m.size, 0)));
    expect(built.location.length).toBeLessThan(indexMembersOf(JSON.stringify(version1(index))).length);
  });

  test("stores members that decompress to 8 KiB or less (a reader copies them), and compresses larger ones", async () => {
    const built = await build();
    const index = await indexOf(built);
    /** BTYPE of a member's first deflate block: 0 stored, 1 fixed, 2 dynamic Huffman codes. */
    const blockType = (m: { offset: number }) => {
      const member = built.bytes.subarray(m.offset);
      const header = member[3] & 4 ? 12 + (member[10] | (member[11] << 8)) : 10;
      return (member[header] >> 1) & 3;
    };
    const small = index.members.filter((m) => m.usize <= SMALL_MEMBER_BYTES);
    expect(small.length).toBeGreaterThan(0);
    for (const m of small) expect(blockType(m)).toBe(0);
    const vocab = index.members[index.entries.find((e) => e.path === "b/vocab.txt")!.member];
    expect(vocab.usize).toBeGreaterThan(SMALL_MEMBER_BYTES);
    expect(blockType(vocab)).not.toBe(0);
    expect(vocab.size).toBeLessThan(vocab.usize / 2);
  });

  test("a tiny model's archive, all one small member, is deflated all the same, and reads back", async () => {
    let location: ArchiveIndexLocation | undefined;
    const config = text(JSON.stringify({ labels: Array.from({ length: 40 }, (_, i) => `label-${i % 5}`) }));
    const bytes = await collect(createArchive({ files: [{ path: "config.json", body: config }] }, { onIndex: (found) => (location = found) }));
    const index = await readIndex(zlibEngine, rangeReader(bytes), location!, bytes.length, WHAT);
    expect(index.members).toHaveLength(1);
    expect(index.members[0].usize).toBeLessThanOrEqual(SMALL_MEMBER_BYTES);
    expect(index.members[0].size).toBeLessThan(index.members[0].usize / 4);
    const entry = index.entries.find((e) => e.path === "config.json")!;
    expect(sha256(await collect(await readEntry(zlibEngine, rangeReader(bytes), index, entry, WHAT)))).toBe(sha256(config));
  });

  test("cuts members at file boundaries: a small file after a large one gets a small member", async () => {
    const built = await build();
    const index = await indexOf(built);
    const config = index.entries.find((e) => e.path === "zz-config.json")!;
    const member = index.members[config.member];
    expect(member.usize).toBeLessThanOrEqual(CUT_AFTER_BYTES + 4096);
    const weights = index.entries.find((e) => e.path === "a-weights.bin")!;
    expect(weights.offset).toBe(512); // the weights start a member of their own, right after their header
  });

  test("GNU tar and Python's tarfile read the archive unchanged: the same entries, byte-identical files, no extra file", async () => {
    const built = await build();
    const dir = await tempDir();
    const tgz = join(dir, "artifacts.tar.gz");
    await writeFile(tgz, built.bytes);
    const names = gnuTar(["-tzf", tgz]).trim().split("\n");
    expect(names).toEqual(["runtime-info.json", "a-weights.bin", "b/", "b/vocab.txt", "empty.txt", "zz-config.json"]);
    gnuTar(["-xzf", tgz, "-C", dir]);
    for (const [path, body] of Object.entries(built.files)) expect(sha256(await readFile(join(dir, path)))).toBe(sha256(body));
    execFileSync("gzip", ["-t", tgz]);
    const script = [
      "import sys, tarfile, hashlib, json",
      "with tarfile.open(sys.argv[1], 'r:gz') as t:",
      "    print(json.dumps({m.name: hashlib.sha256(t.extractfile(m).read()).hexdigest() for m in t.getmembers() if m.isfile()}))",
    ].join("\n");
    const python = JSON.parse(execFileSync("python3", ["-c", script, tgz], { encoding: "utf8" }));
    expect(Object.keys(python)).toEqual(["runtime-info.json", "a-weights.bin", "b/vocab.txt", "empty.txt", "zz-config.json"]);
    for (const [path, body] of Object.entries(built.files)) expect(python[path]).toBe(sha256(body));
    expect((await readAll(streamOf(built.bytes))).map((e) => e.path)).toEqual(names.map((n) => n.replace(/\/$/, "")));
  });

  test("deterministic archives carry the same index every time", async () => {
    const [one, two] = [await build({ deterministic: true }), await build({ deterministic: true })];
    expect(one.location).toEqual(two.location);
  });
});

describe.each(ENGINES)("reads through the %s engine", (_name, chosen) => {
  beforeAll(() => {
    engine = chosen;
  });

  test("reads any file with one ranged read of the members that hold it", async () => {
    const built = await build();
    const index = await indexOf(built);
    for (const [path, body] of Object.entries(built.files)) {
      const log: { offset: number; length: number }[] = [];
      const entry = index.entries.find((e) => e.path === path)!;
      const bytes = await collect(await readEntry(engine, rangeReader(built.bytes, log), index, entry, WHAT));
      expect(sha256(bytes)).toBe(sha256(body));
      expect(log.length).toBe(body.length === 0 ? 0 : 1);
      if (path === "zz-config.json") expect(log[0].length).toBeLessThan(64 * 1024);
    }
  });

  test("a small file comes as a byte stream: a reader with its own buffer (BYOB) reads it", async () => {
    const built = await build();
    const index = await indexOf(built);
    const entry = index.entries.find((e) => e.path === "zz-config.json")!;
    const reader = (await readEntry(engine, rangeReader(built.bytes), index, entry, WHAT)).getReader({ mode: "byob" });
    const { value } = await reader.read(new Uint8Array(entry.size + 10));
    expect(sha256(value!)).toBe(sha256(built.files["zz-config.json"]));
    expect((await reader.read(new Uint8Array(1))).done).toBe(true);
  });

  test("a version 1 index (members as objects with offsets, written before version 2) still reads every file", async () => {
    const built = await withIndex(await build(), () => undefined, version1);
    const index = await indexOf(built);
    for (const [path, body] of Object.entries(built.files)) {
      const entry = index.entries.find((e) => e.path === path)!;
      expect(sha256(await collect(await readEntry(engine, rangeReader(built.bytes), index, entry, WHAT)))).toBe(sha256(body));
    }
  });

  describe("part of a file", () => {
    test("any byte range, across member boundaries, reads only the members holding it", async () => {
      const built = await build();
      const index = await indexOf(built);
      const entry = index.entries.find((e) => e.path === "a-weights.bin")!;
      const body = built.files["a-weights.bin"];
      for (const [offset, length] of [[0, 10], [4 * 1024 * 1024 - 700, 1400], [WEIGHTS - 5, 5], [WEIGHTS - 5, 100], [123, undefined]] as const) {
        const log: { offset: number; length: number }[] = [];
        const bytes = await collect(await readEntry(engine, rangeReader(built.bytes, log), index, entry, WHAT, { offset, length }));
        expect(sha256(bytes)).toBe(sha256(body.subarray(offset, length === undefined ? undefined : offset + length)));
        expect(log).toHaveLength(1);
        if (length !== undefined && length <= 1400) expect(log[0].length).toBeLessThanOrEqual(2 * 4 * 1024 * 1024 + 1024);
      }
      await expect(readEntry(engine, rangeReader(built.bytes), index, entry, WHAT, { offset: WEIGHTS + 1 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    });

    test("a corrupted member fails a partial read through its CRC-32", async () => {
      const built = await build({ deterministic: true });
      const index = await indexOf(built);
      const entry = index.entries.find((e) => e.path === "a-weights.bin")!;
      const bytes = built.bytes.slice();
      const member = index.members[entry.member];
      bytes[member.offset + member.size - 100] ^= 0xff; // a stored block's data, near the member's end
      await expect(collect(await readEntry(engine, rangeReader(bytes), index, entry, WHAT, { offset: 0, length: 10 }))).rejects.toMatchObject({ code: "INVALID_ARCHIVE" });
    });
  });

  describe("hostile indexes are refused and never return wrong bytes", () => {
    test("an index whose bytes do not match the sha256 in the metadata", async () => {
      const built = await build();
      const location = { ...built.location, sha256: "0".repeat(64) };
      await expect(readIndex(engine, rangeReader(built.bytes), location, built.bytes.length, WHAT)).rejects.toMatchObject({ code: "INTEGRITY" });
    });

    test("an index placed past the end of the archive", async () => {
      const built = await build();
      const location = { ...built.location, offset: built.location.offset + 1 };
      await expect(readIndex(engine, rangeReader(built.bytes), location, built.bytes.length, WHAT)).rejects.toMatchObject({ code: "INVALID_ARCHIVE" });
    });

    test("a member range out of bounds", async () => {
      const built = await withIndex(await build(), (index) => (index.members.at(-1)!.size += 100));
      await expect(indexOf(built)).rejects.toMatchObject({ code: "INVALID_ARCHIVE" });
    });

    test("members that overlap or leave a gap (version 1, which wrote their offsets)", async () => {
      for (const shift of [-10, 10]) {
        const built = await withIndex(await build(), (index) => (index.members[1].offset += shift), version1);
        await expect(indexOf(built)).rejects.toMatchObject({ code: "INVALID_ARCHIVE", message: expect.stringContaining("members overlap or leave gaps") });
      }
    });

    test("version 2 members that are not [size, usize] pairs of whole numbers", async () => {
      const pairs = (index: ArchiveIndex) => index.members.flatMap((m) => [m.size, m.usize]);
      for (const members of [(index: ArchiveIndex) => pairs(index).slice(0, -1), (index: ArchiveIndex) => pairs(index).map((n, i) => (i === 2 ? String(n) : n)), (index: ArchiveIndex) => pairs(index).map((n, i) => (i === 0 ? 17 : n))]) {
        const built = await withIndex(await build(), () => undefined, (index) => ({ version: 2, members: members(index), entries: index.entries }));
        await expect(indexOf(built)).rejects.toMatchObject({ code: "INVALID_ARCHIVE" });
      }
    });

    test("entries that overlap", async () => {
      const built = await withIndex(await build(), (index) => {
        const config = index.entries.find((e) => e.path === "zz-config.json")!;
        const vocab = index.entries.find((e) => e.path === "b/vocab.txt")!;
        Object.assign(config, { member: vocab.member, offset: vocab.offset });
      });
      await expect(indexOf(built)).rejects.toMatchObject({ code: "INVALID_ARCHIVE" });
    });

    test("an entry running past the end of the data", async () => {
      const built = await withIndex(await build(), (index) => (index.entries.find((e) => e.path === "zz-config.json")!.size = 1 << 30));
      await expect(indexOf(built)).rejects.toMatchObject({ code: "INVALID_ARCHIVE" });
    });

    test("a size that lies (larger): the read errors instead of returning the next entry's bytes", async () => {
      const built = await withIndex(await build(), (index) => (index.entries.find((e) => e.path === "b/vocab.txt")!.size += 100));
      await expect(readVia(built, "b/vocab.txt")).rejects.toMatchObject({ code: "INTEGRITY" });
    });

    test("a size that lies (smaller): the read errors instead of returning a truncated file", async () => {
      const built = await withIndex(await build(), (index) => (index.entries.find((e) => e.path === "a-weights.bin")!.size -= 1));
      await expect(readVia(built, "a-weights.bin")).rejects.toMatchObject({ code: "INTEGRITY" });
    });

    test("a member's decompressed size that lies: a small file (read whole) errors; a large one (streamed) is still checked by its sha256", async () => {
      for (const [path, change] of [["zz-config.json", -1], ["zz-config.json", 1], ["b/vocab.txt", 1], ["a-weights.bin", 1], ["a-weights.bin", -1]] as const) {
        const built = await withIndex(await build(), (index) => (index.members[index.entries.find((e) => e.path === path)!.member].usize += change));
        const outcome = await readVia(built, path).then(sha256, (error: { code?: string }) => error.code);
        if (path === "a-weights.bin") expect([sha256(built.files[path]), "INTEGRITY", "INVALID_ARCHIVE"]).toContain(outcome);
        else expect(outcome, `${path} ${change}`).toBe("INTEGRITY");
      }
    });

    test("a corrupted small member (read whole) fails, through its CRC-32 or the file's sha256", async () => {
      const built = await build();
      const index = await indexOf(built);
      const member = index.members[index.entries.find((e) => e.path === "zz-config.json")!.member];
      expect(member.usize).toBeLessThan(8 << 10);
      for (const at of [member.offset + 30, member.offset + member.size - 6]) {
        const bytes = built.bytes.slice();
        bytes[at] ^= 0x10; // in the deflated data, then in the trailer's CRC-32
        const outcome = await readEntry(engine, rangeReader(bytes), index, index.entries.find((e) => e.path === "zz-config.json")!, WHAT)
          .then(collect)
          .then(
            () => "read",
            (error: { code?: string }) => error.code,
          );
        expect(["INVALID_ARCHIVE", "INTEGRITY"]).toContain(outcome);
      }
    });

    test("a sha256 that lies", async () => {
      const built = await withIndex(await build(), (index) => (index.entries.find((e) => e.path === "zz-config.json")!.sha256 = "a".repeat(64)));
      await expect(readVia(built, "zz-config.json")).rejects.toMatchObject({ code: "INTEGRITY" });
    });

    test("an offset pointing at another file's bytes of the same length", async () => {
      const built = await withIndex(await build(), (index) => {
        const config = index.entries.find((e) => e.path === "zz-config.json")!;
        config.offset -= 512; // its own header: same length, other bytes
      });
      await expect(readVia(built, "zz-config.json")).rejects.toMatchObject({ code: "INTEGRITY" });
    });

    test("garbage in place of the index", async () => {
      const built = await build();
      const bytes = built.bytes.slice();
      bytes.fill(7, built.location.offset);
      const location = { ...built.location, sha256: sha256(bytes.subarray(built.location.offset)) };
      await expect(readIndex(engine, rangeReader(bytes), location, bytes.length, WHAT)).rejects.toMatchObject({ code: "INVALID_ARCHIVE" });
      expect(() => decodeIndexMembers(bytes.subarray(built.location.offset), location, bytes.length, WHAT)).toThrow(/index/);
    });
  });
});

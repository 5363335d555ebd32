/** Hostile and unsupported tar input: each case is refused with InvalidArchiveError instead of looping, allocating or losing entries. */
import { truncate, writeFile, open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { concatBytes } from "../../../src/util/bytes.ts";
import { createArchive } from "../../../src/archive/create-archive.ts";
import { encodePaxRecords } from "../../../src/archive/tar/pax.ts";
import { readArchive } from "../../../src/archive/read-archive.ts";
import { BLOCK_SIZE, encodeUstarHeader, type TarHeader } from "../../../src/archive/tar/tar-header.ts";
import { InvalidArchiveError } from "../../../src/util/errors.ts";
import { streamOfParts } from "../../support/bytes.ts";
import { blobStream, collect, gnuTar, header, padded, readAll, tempDir, text } from "../helpers.ts";

const END = new Uint8Array(2 * BLOCK_SIZE);
const tar = (...parts: Uint8Array[]) => concatBytes(parts);
const read = (...parts: Uint8Array[]) => readAll(blobStream(tar(...parts)), { compression: "none" });
const paxEntry = (typeflag: "x" | "g", records: Record<string, string>) => {
  const data = encodePaxRecords(records);
  return tar(header({ name: "pax", typeflag, size: data.length }), padded(data));
};

/** A header whose 12-byte `field` at `offset` holds `value` in GNU base-256 (two's complement), checksum fixed up. */
function withBase256(block: Uint8Array, offset: number, length: number, value: number): Uint8Array {
  let v = BigInt(value);
  for (let i = length - 1; i >= 0; i--) {
    block[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  block[offset] |= 0x80;
  block.fill(0x20, 148, 156);
  const sum = block.reduce((n, b) => n + b, 0);
  block.set(text(`${sum.toString(8).padStart(6, "0")}\0 `), 148);
  return block;
}

describe("negative base-256 numbers", () => {
  test("a negative size is refused before the entry is reported (it made the body emit forever)", async () => {
    const block = withBase256(header({ name: "model.bin" }), 124, 12, -5);
    const entries = readArchive(blobStream(gzipSync(tar(block, padded(text("hello")), END))));
    await expect(entries.next()).rejects.toThrow(InvalidArchiveError);
    await expect(read(block, END)).rejects.toThrow(/negative size \(-5\)/);
  });

  test("a negative size on a PAX header is refused with InvalidArchiveError, not a RangeError", async () => {
    const block = withBase256(header({ name: "p", typeflag: "x" }), 124, 12, -5);
    await expect(read(block, new Uint8Array(BLOCK_SIZE), END)).rejects.toThrow(InvalidArchiveError);
  });

  test("negative mode, uid and gid are refused; a negative mtime (before 1970, as GNU tar writes it) is read", async () => {
    for (const [offset, what] of [[100, "mode"], [108, "uid"], [116, "gid"]] as const) {
      await expect(read(withBase256(header({}), offset, 8, -1), END)).rejects.toThrow(new RegExp(`negative ${what}`));
    }
    const [entry] = await read(withBase256(header({ name: "old" }), 136, 12, -86_400), END);
    expect(entry!.mtime.toISOString()).toBe("1969-12-31T00:00:00.000Z");
  });
});

describe("GNU sparse files", () => {
  async function sparseArchive(format: "gnu" | "posix", regions: number): Promise<Uint8Array> {
    const dir = await tempDir();
    const weights = join(dir, "w.bin");
    await truncate(await writeFile(weights, "").then(() => weights), 20 * 1024 * 1024);
    const file = await open(weights, "r+");
    for (let i = 1; i <= regions; i++) await file.write(text("X"), 0, 1, i * 1_500_000);
    await file.close();
    await writeFile(join(dir, "z.json"), "hi");
    gnuTar(["-S", `--format=${format}`, "-cf", "a.tar", "w.bin", "z.json"], dir);
    return new Uint8Array(await readFile(join(dir, "a.tar")));
  }

  for (const [format, regions] of [["gnu", 1], ["gnu", 10], ["posix", 10]] as const) {
    test(`a --format=${format} -S archive with ${regions} data regions is refused, not read as empty or as the sparse map`, async () => {
      const error = await readAll(blobStream(await sparseArchive(format, regions))).catch((e) => e);
      expect(error).toBeInstanceOf(InvalidArchiveError);
      expect(error.message).toMatch(/"w\.bin" is a GNU sparse file.*without -S\/--sparse/);
    });
  }

  test("PAX GNU.sparse.* records (sparse formats 0.0, 0.1, 1.0) are refused, also as global records", async () => {
    for (const key of ["GNU.sparse.offset", "GNU.sparse.map", "GNU.sparse.major"]) {
      await expect(read(paxEntry("x", { [key]: "1" }), header({ name: "s" }), END)).rejects.toThrow(/GNU sparse file/);
    }
    await expect(read(paxEntry("g", { "GNU.sparse.size": "9" }), header({ name: "s" }), END)).rejects.toThrow(/GNU sparse file/);
  });
});

describe("end of archive", () => {
  const a = tar(header({ name: "a", size: 1 }), padded(text("a")));
  const b = tar(header({ name: "b", size: 1 }), padded(text("b")));
  const zero = new Uint8Array(BLOCK_SIZE);

  test("a lone zero block followed by another entry is refused instead of silently ending the archive", async () => {
    await expect(read(a, zero, b, END)).rejects.toThrow(/lone zero block at byte 1024 followed by the entry "b"/);
  });

  test("one zero block at the end of the input, or followed by non-header padding, ends the archive as GNU tar reads it", async () => {
    expect((await read(a, zero)).map((e) => e.path)).toEqual(["a"]);
    expect((await read(a, zero, new Uint8Array(BLOCK_SIZE).fill(0x78))).map((e) => e.path)).toEqual(["a"]);
    expect((await read(a, END, b)).map((e) => e.path)).toEqual(["a"]);
  });
});

describe("PAX metadata limits", () => {
  const value = "v".repeat(600 * 1024);

  test("global records piling up past 1 MiB in total are refused (each one alone is under the limit)", async () => {
    const error = await read(paxEntry("g", { k1: value }), paxEntry("g", { k2: value }), header({}), END).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidArchiveError);
    expect(error.message).toMatch(/over the 1048576-byte limit/);
  });

  test("several local records before one entry are counted together", async () => {
    await expect(read(paxEntry("x", { k1: value }), paxEntry("x", { k2: value }), header({}), END)).rejects.toThrow(/over the 1048576-byte limit/);
  });

  test("a global record repeated with the same key, and local records spread over entries, stay within the limit", async () => {
    const value = "v".repeat(400 * 1024);
    const entries = await read(
      paxEntry("g", { comment: value }), paxEntry("g", { comment: value }), paxEntry("g", { comment: value }),
      paxEntry("x", { k1: value }), header({ name: "one" }),
      paxEntry("x", { k2: value }), header({ name: "two" }),
      END,
    );
    expect(entries.map((e) => e.path)).toEqual(["one", "two"]);
  });
});

describe("PAX mtime range", () => {
  test("an mtime no Date can hold is refused instead of giving an Invalid Date", async () => {
    const error = await read(paxEntry("x", { mtime: "9007199254740991" }), header({ name: "f" }), END).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidArchiveError);
    expect(error.message).toMatch(/"f".*mtime of 9007199254740991/);
    const [ok] = await read(paxEntry("x", { mtime: "-8640000000000.5" }), header({ name: "f" }), END).catch(() => [undefined]);
    expect(ok).toBeUndefined(); // just past the edge
    const [edge] = await read(paxEntry("x", { mtime: "8640000000000" }), header({ name: "f" }), END);
    expect(edge!.mtime.getTime()).toBe(8.64e15);
  });
});

describe("gzip sniffing", () => {
  test("a gzip stream whose first chunks are empty or one byte long is still recognised as gzip", async () => {
    const gz = await collect(createArchive({ files: [{ path: "a", body: new Uint8Array(3) }] }, { deterministic: true }));
    for (const parts of [
      [new Uint8Array(0), gz],
      [new Uint8Array(0), gz.subarray(0, 1), new Uint8Array(0), gz.subarray(1)],
      [gz.subarray(0, 1), gz.subarray(1)],
    ]) {
      const entries = await readAll(streamOfParts(parts));
      expect(entries.map((e) => e.path)).toEqual(["runtime-info.json", "a"]);
    }
  });
});

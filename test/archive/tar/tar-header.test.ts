import { concatBytes } from "../../../src/util/bytes.ts";
import { describe, expect, test } from "vitest";
import {
  BLOCK_SIZE,
  decodeTarHeader,
  encodeEntryHeader,
  encodeUstarHeader,
  splitUstarPath,
  USTAR_MAX_OCTAL_11,
  type TarHeader,
} from "../../../src/archive/tar/tar-header.ts";
import { encodePaxRecords, parsePaxRecords } from "../../../src/archive/tar/pax.ts";
import { InvalidArchiveError } from "../../../src/util/errors.ts";
import { baseHeader, blobStream, header, padded, readAll, text } from "../helpers.ts";

const concat = (...parts: Uint8Array[]) => concatBytes(parts);
const END = new Uint8Array(2 * BLOCK_SIZE);

function rechecksum(block: Uint8Array): Uint8Array {
  block.fill(0x20, 148, 156);
  const sum = block.reduce((n, b) => n + b, 0);
  block.set(text(`${sum.toString(8).padStart(6, "0")}\0 `), 148);
  return block;
}

describe("PAX records", () => {
  test("each record's length counts its own digits, including when they carry to one more digit", () => {
    for (let n = 80; n < 1010; n++) {
      const value = "v".repeat(n);
      const encoded = new TextDecoder().decode(encodePaxRecords({ path: value }));
      const length = Number(encoded.slice(0, encoded.indexOf(" ")));
      expect(new TextEncoder().encode(encoded).length, `value of ${n} bytes`).toBe(length);
    }
  });

  test("round-trip UTF-8 values, values holding = and newlines, and several records", () => {
    const records = { path: "模型/权重-ü.bin", comment: "a=b\nc", mtime: "-1.5" };
    expect(parsePaxRecords(encodePaxRecords(records))).toEqual(records);
  });

  test("a record whose length runs past the data is InvalidArchiveError", () => {
    expect(() => parsePaxRecords(text("99 path=x\n"))).toThrow(InvalidArchiveError);
    expect(() => parsePaxRecords(text("10 pathxx\n"))).toThrow(InvalidArchiveError);
  });
});

describe("ustar headers", () => {
  test("paths split into prefix and name at a slash when over 100 bytes, or not at all", () => {
    expect(splitUstarPath("short")).toEqual({ name: "short", prefix: "" });
    const p = `${"a".repeat(155)}/${"b".repeat(100)}`;
    expect(splitUstarPath(p)).toEqual({ name: "b".repeat(100), prefix: "a".repeat(155) });
    expect(splitUstarPath(`${"a".repeat(156)}/${"b".repeat(10)}`)).toBeNull();
    expect(splitUstarPath("c".repeat(101))).toBeNull();
  });

  test("decode(encode(h)) restores every field and the checksum verifies", () => {
    const h = { ...baseHeader, name: "dir/file.bin", mode: 0o755, uid: 1000, gid: 100, size: USTAR_MAX_OCTAL_11, mtime: 1_700_000_000, uname: "me", gname: "us" };
    expect(decodeTarHeader(header(h))).toEqual({ ...h, format: "ustar" });
  });

  test("a flipped byte fails the checksum with InvalidArchiveError; an all-zero block is the end marker", () => {
    const block = header({ name: "x" });
    block[300] ^= 1;
    expect(() => decodeTarHeader(block, 1024)).toThrow(/byte 1024 has a bad checksum/);
    expect(decodeTarHeader(new Uint8Array(BLOCK_SIZE))).toBeNull();
  });

  test("reads GNU base-256 sizes (used for files of 8 GiB and more)", () => {
    const block = header({ size: 0 });
    block.fill(0, 124, 136);
    block[124] = 0x80;
    const size = 2 ** 33 + 5; // 8 GiB + 5
    for (let i = 0, v = size; i < 11; i++, v = Math.floor(v / 256)) block[135 - i] = v % 256;
    expect(decodeTarHeader(rechecksum(block))!.size).toBe(size);
  });

  test("entries that do not fit ustar get a PAX x header: size >= 8 GiB, long and non-ASCII paths, pre-1970 mtimes", () => {
    const cases = [
      { input: { path: "big.bin", size: 2 ** 33 }, record: { size: String(2 ** 33) } },
      { input: { path: `${"d".repeat(300)}.bin`, size: 1 }, record: { path: `${"d".repeat(300)}.bin` } },
      { input: { path: "ü.bin", size: 1 }, record: { path: "ü.bin" } },
      { input: { path: "old", size: 1, mtime: new Date(-86_400_000) }, record: { mtime: "-86400" } },
    ];
    for (const { input, record } of cases) {
      const bytes = encodeEntryHeader({ type: "file", mode: 0o644, mtime: new Date(0), ...input });
      const pax = decodeTarHeader(bytes.subarray(0, BLOCK_SIZE))!;
      expect(pax.typeflag).toBe("x");
      expect(parsePaxRecords(bytes.subarray(BLOCK_SIZE, BLOCK_SIZE + pax.size))).toEqual(record);
      const ustar = decodeTarHeader(bytes.subarray(bytes.length - BLOCK_SIZE))!;
      expect(ustar.typeflag).toBe("0");
      expect(new TextEncoder().encode(ustar.name).length).toBeLessThanOrEqual(100);
    }
    expect(encodeEntryHeader({ path: "plain.bin", type: "file", size: 1, mode: 0o644, mtime: new Date() }).length).toBe(BLOCK_SIZE);
  });
});

describe("reading hand-made archives", () => {
  const read = (...parts: Uint8Array[]) => readAll(blobStream(concat(...parts, END)));

  test("PAX g records apply to every later entry, x records override them for one entry", async () => {
    const global = encodePaxRecords({ mtime: "1000000000" });
    const local = encodePaxRecords({ mtime: "1500000000.25", path: "renamed.txt" });
    const entries = await read(
      header({ name: "g", typeflag: "g", size: global.length }), padded(global),
      header({ name: "a.txt", size: 1, mtime: 5 }), padded(text("a")),
      header({ name: "x", typeflag: "x", size: local.length }), padded(local),
      header({ name: "b.txt", size: 1, mtime: 5 }), padded(text("b")),
      header({ name: "c.txt", size: 1, mtime: 5 }), padded(text("c")),
    );
    expect(entries.map((e) => [e.path, e.mtime.getTime()])).toEqual([
      ["a.txt", 1_000_000_000_000],
      ["renamed.txt", 1_500_000_000_250],
      ["c.txt", 1_000_000_000_000],
    ]);
  });

  test("GNU L and K records give long names and link targets to the next entry only", async () => {
    const name = `${"n".repeat(150)}.bin`;
    const target = `${"t".repeat(120)}`;
    const gnu = (fields: Partial<TarHeader>) => {
      const block = header(fields);
      block.set(text("ustar  \0"), 257);
      return rechecksum(block);
    };
    const entries = await read(
      gnu({ name: "././@LongLink", typeflag: "L", size: name.length + 1 }), padded(text(`${name}\0`)),
      gnu({ name: name.slice(0, 100), size: 2 }), padded(text("ok")),
      gnu({ name: "././@LongLink", typeflag: "K", size: target.length }), padded(text(target)),
      gnu({ name: "link", typeflag: "2", linkname: target.slice(0, 100) }),
      gnu({ name: "after", size: 0 }),
    );
    expect(entries.map((e) => [e.path, e.type, e.linkTarget])).toEqual([
      [name, "file", undefined],
      ["link", "symlink", target],
      ["after", "file", undefined],
    ]);
  });

  test("unknown typeflags and devices are skipped with their data; v7 headers and trailing-slash directories are read", async () => {
    const v7 = (fields: Partial<TarHeader>) => {
      const block = header(fields);
      block.fill(0, 257, 500); // no magic, version, owner names or prefix
      return rechecksum(block);
    };
    const entries = await read(
      header({ name: "weird", typeflag: "Z", size: 700 }), padded(new Uint8Array(700).fill(9)),
      header({ name: "fifo", typeflag: "6", size: 0 }),
      v7({ name: "olddir/", typeflag: "\0" }),
      v7({ name: "olddir/file", typeflag: "\0", size: 3, mtime: 42 }), padded(text("old")),
    );
    expect(entries.map((e) => [e.path, e.type, new TextDecoder().decode(e.bytes), e.mtime.getTime()])).toEqual([
      ["olddir", "directory", "", 0],
      ["olddir/file", "file", "old", 42_000],
    ]);
  });

  test("a metadata record over 1 MiB is refused with InvalidArchiveError instead of buffered", async () => {
    await expect(read(header({ name: "x", typeflag: "x", size: 2 * 1024 * 1024 }))).rejects.toThrow(/over the 1048576-byte limit/);
  });
});

import { describe, expect, test } from "vitest";
import { createArchive } from "../../../src/archive/create-archive.ts";
import { readArchive } from "../../../src/archive/read-archive.ts";
import { createTarStream } from "../../../src/archive/tar/tar-pack.ts";
import type { ArchiveInputEntry } from "../../../src/archive/types.ts";
import { AbortedError, IntegrityError, InvalidArchiveError, InvalidArgumentError } from "../../../src/util/errors.ts";
import { blobStream, collect, failingStream, generatedStream, pseudoRandom, readAll, streamOf, text } from "../helpers.ts";
import { readUntilError } from "../../support/bytes.ts";

const files = (...entries: ArchiveInputEntry[]) => createArchive({ files: entries });

/** A plain tar: "a.bin" (2000 bytes, header at 0, data 512..2512, padded to 2560), then "b.txt" (header at 2560). */
async function plainTar(): Promise<Uint8Array> {
  return collect(
    createTarStream([
      { path: "a.bin", size: 2000, body: streamOf(pseudoRandom(2000)) },
      { path: "b.txt", size: 1, body: streamOf(text("b")) },
    ]),
  );
}

const read = (bytes: Uint8Array, options = {}) => readAll(blobStream(bytes), options);

describe("createArchive rejects bad input with typed errors", () => {
  test("a stream body shorter than its declared size errors with IntegrityError naming the path and both sizes", async () => {
    const error = await collect(files({ path: "w.bin", body: streamOf(new Uint8Array(10)), size: 20 })).catch((e) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.message).toMatch(/"w\.bin".*20.*10/);
  });

  test("a stream body longer than its declared size errors with IntegrityError", async () => {
    const error = await collect(files({ path: "w.bin", body: streamOf(new Uint8Array(30), 7), size: 20 })).catch((e) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.message).toMatch(/"w\.bin" declared 20 bytes.*at least 21/);
  });

  test("a Uint8Array body that contradicts its declared size errors with IntegrityError", async () => {
    await expect(collect(files({ path: "x", body: new Uint8Array(5), size: 4 }))).rejects.toBeInstanceOf(IntegrityError);
  });

  test("a stream body without size errors with InvalidArgumentError", async () => {
    const error = await collect(files({ path: "w.bin", body: streamOf(new Uint8Array(10)) })).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toMatch(/"w\.bin".*no size/);
  });

  for (const path of ["", "/etc/passwd", "a/../b", "..", "./a", "a//b", "a/", "a\\b", "a\0b"]) {
    test(`the path ${JSON.stringify(path)} is rejected with InvalidArgumentError naming it`, async () => {
      const error = await collect(files({ path, body: text("x") })).catch((e) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.message).toContain(JSON.stringify(path));
    });
  }

  test("duplicate paths, a file used as a directory, and the reserved runtime-info.json are rejected", async () => {
    const dup = await collect(files({ path: "a", body: text("1") }, { path: "a", body: text("2") })).catch((e) => e);
    expect(dup).toBeInstanceOf(InvalidArgumentError);
    expect(dup.message).toMatch(/"a" appears twice/);
    await expect(collect(files({ path: "a", body: text("1") }, { path: "a/b", body: text("2") }))).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(collect(files({ path: "runtime-info.json", body: text("{}") }))).rejects.toBeInstanceOf(InvalidArgumentError);
    const clash = createArchive({ files: [{ path: "extras/n.txt", body: text("1") }], extras: [{ path: "n.txt", body: text("2") }] });
    await expect(collect(clash)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  test("a body of the wrong type and missing files are rejected with InvalidArgumentError", async () => {
    await expect(collect(files({ path: "a", body: "text" as unknown as Uint8Array }))).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(() => createArchive({} as never)).toThrow(InvalidArgumentError);
  });

  test("a failing body stream errors the archive with the body's own error", async () => {
    await expect(collect(files({ path: "a", body: failingStream(new Uint8Array(10)), size: 100 }))).rejects.toThrow("disk read failed halfway");
  });

  test("an aborted signal stops the archive with AbortedError and cancels the body being read", async () => {
    const controller = new AbortController();
    const source = generatedStream(50 * 1024 * 1024);
    const reader = createArchive({ files: [{ path: "big", body: source.stream, size: 50 * 1024 * 1024 }] }, { signal: controller.signal, level: 1 }).getReader();
    await reader.read();
    controller.abort();
    const error = await readUntilError(reader);
    expect(error).toBeInstanceOf(AbortedError);
    // The gzip layer holds a few 1 MiB blocks in flight; the point is that the rest (800 chunks) is never read.
    expect(source.pulls()).toBeLessThan(400);
  });
});

describe("readArchive rejects broken archives with InvalidArchiveError", () => {
  test("a tar cut in the middle of a body is reported as truncated", async () => {
    const tar = await plainTar();
    await expect(read(tar.subarray(0, 1000))).rejects.toThrow(/truncated.*"a\.bin"/);
    await expect(read(tar.subarray(0, 1000))).rejects.toBeInstanceOf(InvalidArchiveError);
  });

  test("a tar cut in the padding after a body is reported as truncated, even when the body was skipped", async () => {
    const tar = await plainTar();
    const entries = readArchive(blobStream(tar.subarray(0, 2530)));
    const error = await (async () => {
      for await (const entry of entries) await entry.skip();
    })().catch((e) => e);
    expect(error).toBeInstanceOf(InvalidArchiveError);
  });

  test("a tar cut in the middle of a header is reported as truncated", async () => {
    const tar = await plainTar();
    await expect(read(tar.subarray(0, 2600))).rejects.toThrow(/truncated.*inside a header/);
  });

  test("a tar without its end-of-archive blocks is reported as truncated", async () => {
    const tar = await plainTar();
    await expect(read(tar.subarray(0, 2560))).rejects.toThrow(/truncated.*end-of-archive/);
  });

  test("a corrupted header fails its checksum", async () => {
    for (const at of [0, 2560 + 10]) {
      const tar = await plainTar();
      tar[at] ^= 0x01;
      const error = await read(tar).catch((e) => e);
      expect(error).toBeInstanceOf(InvalidArchiveError);
      expect(error.message).toMatch(new RegExp(`at byte ${at - (at % 512)} has a bad checksum`));
    }
  });

  test("a truncated .tar.gz fails (gzip layer) with InvalidArchiveError", async () => {
    const tgz = await collect(files({ path: "w.bin", body: pseudoRandom(200_000) }));
    await expect(read(tgz.subarray(0, tgz.length >> 1))).rejects.toBeInstanceOf(InvalidArchiveError);
  });

  test("bytes that are not an archive, and empty input, are rejected", async () => {
    await expect(read(pseudoRandom(4096, 77))).rejects.toBeInstanceOf(InvalidArchiveError);
    await expect(read(new Uint8Array(0))).rejects.toThrow(/empty/);
  });

  test("compression: gzip on a plain tar fails with InvalidArchiveError", async () => {
    await expect(read(await plainTar(), { compression: "gzip" })).rejects.toBeInstanceOf(InvalidArchiveError);
  });

  test("an aborted signal stops reading with AbortedError", async () => {
    const tgz = await collect(files({ path: "a", body: text("a") }, { path: "b", body: text("b") }));
    const controller = new AbortController();
    const error = await (async () => {
      for await (const entry of readArchive(blobStream(tgz), { signal: controller.signal })) {
        await entry.skip();
        controller.abort();
      }
    })().catch((e) => e);
    expect(error).toBeInstanceOf(AbortedError);
  });
});

import { describe, expect, test } from "vitest";
import { createTarStream } from "../../../src/archive/tar/tar-pack.ts";
import { encodeEntryHeader } from "../../../src/archive/tar/tar-header.ts";
import { unpackTar } from "../../../src/archive/tar/tar-unpack.ts";
import { collect, generatedStream, gnuTar, pseudoRandom, readAll, streamOf, tempDir, text } from "../helpers.ts";
import { join } from "node:path";
import { readFile, writeFile } from "node:fs/promises";

describe("createTarStream", () => {
  test("reads a body no further ahead than the consumer: one chunk per read", async () => {
    const source = generatedStream(10 * 1024 * 1024, 64 * 1024);
    const reader = createTarStream([{ path: "big.bin", size: 10 * 1024 * 1024, body: source.stream }]).getReader();
    await reader.read(); // header
    expect(source.pulls()).toBe(0);
    for (let i = 1; i <= 5; i++) {
      const { value } = await reader.read();
      expect(value!.length).toBe(64 * 1024);
      await new Promise((resolve) => setTimeout(resolve, 5)); // give a greedy writer time to read ahead
      expect(source.pulls()).toBe(i);
    }
    await reader.cancel();
  });

  test("cancelling the tar stream cancels the body being copied", async () => {
    let cancelled: unknown;
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) => controller.enqueue(new Uint8Array(1024)),
      cancel: (reason) => void (cancelled = reason ?? "cancelled"),
    });
    const reader = createTarStream([{ path: "endless", size: 1 << 30, body }]).getReader();
    await reader.read();
    await reader.read();
    await reader.cancel("stop");
    expect(cancelled).toBe("stop");
  });

  test("writes each parent directory once, before its first child, and explicit directories once", async () => {
    const tar = createTarStream([
      { path: "a/b/one.txt", size: 1, body: streamOf(text("1")) },
      { path: "a/b/two.txt", size: 1, body: streamOf(text("2")) },
      { path: "a", type: "directory" },
      { path: "c", type: "directory", mode: 0o700 },
      { path: "c/three.txt", size: 1, body: streamOf(text("3")) },
    ]);
    const entries = await readAll(tar, { compression: "none" });
    expect(entries.map((e) => `${e.type}:${e.path}:${e.mode.toString(8)}`)).toEqual([
      "directory:a:755",
      "directory:a/b:755",
      "file:a/b/one.txt:644",
      "file:a/b/two.txt:644",
      "directory:c:700",
      "file:c/three.txt:644",
    ]);
  });

  test("ends with two zero blocks and pads every body to 512 bytes, so GNU tar extracts it", async () => {
    const body = pseudoRandom(1000);
    const tar = await collect(createTarStream([{ path: "f.bin", size: 1000, body: streamOf(body, 333) }], { parentDirectories: false }));
    expect(tar.length).toBe(512 + 1024 + 1024);
    expect(tar.subarray(tar.length - 1024).every((b) => b === 0)).toBe(true);
    const dir = await tempDir();
    await writeFile(join(dir, "f.tar"), tar);
    gnuTar(["-xf", "f.tar"], dir);
    expect(new Uint8Array(await readFile(join(dir, "f.bin")))).toEqual(body);
  });
});

describe("unpackTar", () => {
  test("draining a skipped 16 MiB entry reads it chunk by chunk, holding no copy of it, and yields the next entry", async () => {
    const size = 16 * 1024 * 1024;
    const chunk = 64 * 1024;
    // The body arrives as views of one reused buffer, so the source allocates nothing
    // while it is drained: any growth of ArrayBuffer memory is what unpackTar copied.
    const shared = new Uint8Array(chunk).fill(7);
    const head = encodeEntryHeader({ path: "big.bin", type: "file", size, mode: 0o644, mtime: new Date(0) });
    const tail = await collect(createTarStream([{ path: "next.txt", size: 4, body: streamOf(text("next")) }], { parentDirectories: false }));
    const parts = [head, ...Array.from({ length: size / chunk }, () => shared), tail];
    let pulled = 0;
    const source = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          const part = parts.shift();
          if (!part) return controller.close();
          pulled += part.length;
          controller.enqueue(part);
        },
      },
      { highWaterMark: 0 },
    );
    const seen: string[] = [];
    let before = 0;
    for await (const entry of unpackTar(source)) {
      seen.push(`${entry.path}:${entry.size}`);
      if (entry.path === "big.bin") {
        expect(pulled).toBe(head.length); // the header only: the body is read when drained
        before = process.memoryUsage().arrayBuffers;
      } else {
        // Everything up to this entry was read, and no more than the chunk holding it.
        expect(pulled).toBe(head.length + size + tail.length);
        expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(4 * 1024 * 1024);
        expect(await collect(entry.body)).toEqual(text("next"));
      }
    }
    expect(seen).toEqual([`big.bin:${size}`, "next.txt:4"]);
  });

  test("breaking out of the loop cancels the input", async () => {
    let cancelled = false;
    const tar = await collect(createTarStream([{ path: "a", size: 1, body: streamOf(text("a")) }, { path: "b", size: 1, body: streamOf(text("b")) }]));
    let sent = false;
    const input = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) return; // never ends by itself
        sent = true;
        controller.enqueue(tar.subarray(0, 1024));
      },
      cancel: () => void (cancelled = true),
    });
    for await (const entry of unpackTar(input)) {
      expect(entry.path).toBe("a");
      break;
    }
    expect(cancelled).toBe(true);
  });
});

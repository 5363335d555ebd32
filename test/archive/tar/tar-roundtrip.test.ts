import { describe, expect, test } from "vitest";
import { createArchive } from "../../../src/archive/create-archive.ts";
import { readArchive } from "../../../src/archive/read-archive.ts";
import type { ArchiveInputEntry } from "../../../src/archive/types.ts";
import { blobStream, collect, pseudoRandom, readAll, sha256, streamOf, text } from "../helpers.ts";

const LONG_PATH = `${"deep-directory-name/".repeat(8)}${"w".repeat(120)}.bin`; // > 255 bytes, name part > 100
const MTIME = new Date("2024-05-06T07:08:09Z");

async function roundTrip(files: ArchiveInputEntry[], extras: ArchiveInputEntry[] = [], options = {}) {
  const archive = await collect(createArchive({ files, extras }, options));
  return { archive, entries: await readAll(blobStream(archive)) };
}

describe("createArchive → readArchive", () => {
  test("puts runtime-info.json first, then model files, then extras under extras/", async () => {
    const { entries } = await roundTrip(
      [{ path: "model.onnx", body: text("weights") }],
      [{ path: "notes/readme.md", body: text("# notes") }],
    );
    expect(entries.map((e) => `${e.type}:${e.path}`)).toEqual([
      "file:runtime-info.json",
      "file:model.onnx",
      "directory:extras",
      "directory:extras/notes",
      "file:extras/notes/readme.md",
    ]);
    const info = JSON.parse(new TextDecoder().decode(entries[0]!.bytes));
    expect(info.runtime.name).toBe("node");
    // This library's exact version; its own dependencies' declared ranges are no fact about the model.
    expect(info.dependencies).toEqual({ "modelstore-js": info.modelstore });
  });

  test("records caller dependencies in runtime-info.json", async () => {
    const archive = createArchive({ files: [] }, { dependencies: { onnxruntime: "1.20.0" } });
    const [info] = await readAll(archive);
    expect(JSON.parse(new TextDecoder().decode(info!.bytes)).dependencies.onnxruntime).toBe("1.20.0");
  });

  test("keeps bytes of Uint8Array, Blob and ReadableStream bodies, including empty files", async () => {
    const a = pseudoRandom(70_000, 3);
    const b = pseudoRandom(1_000, 4);
    const c = pseudoRandom(513, 5);
    const { entries } = await roundTrip([
      { path: "a.bin", body: a },
      { path: "b.bin", body: new Blob([b as Uint8Array<ArrayBuffer>]) },
      { path: "c.bin", body: streamOf(c, 100), size: c.length },
      { path: "empty.bin", body: new Uint8Array(0) },
      { path: "empty-stream.bin", body: streamOf(new Uint8Array(0)), size: 0 },
    ]);
    const files = Object.fromEntries(entries.map((e) => [e.path, e]));
    expect(files["a.bin"]!.bytes).toEqual(a);
    expect(files["b.bin"]!.bytes).toEqual(b);
    expect(files["c.bin"]!.bytes).toEqual(c);
    expect(files["empty.bin"]).toMatchObject({ size: 0, bytes: new Uint8Array(0) });
    expect(files["empty-stream.bin"]).toMatchObject({ size: 0, bytes: new Uint8Array(0) });
  });

  test("round-trips a file over 8 MiB", async () => {
    const big = pseudoRandom(9 * 1024 * 1024 + 123, 9);
    const { entries } = await roundTrip([{ path: "weights.bin", body: streamOf(big, 256 * 1024), size: big.length }], [], { level: 1 });
    const entry = entries.find((e) => e.path === "weights.bin")!;
    expect(entry.size).toBe(big.length);
    expect(sha256(entry.bytes)).toBe(sha256(big));
  });

  test("round-trips paths over 100 bytes and non-ASCII paths", async () => {
    const { entries } = await roundTrip(
      [
        { path: LONG_PATH, body: text("long") },
        { path: "模型/权重-ü.bin", body: text("unicode") },
        { path: `${"a".repeat(150)}/${"b".repeat(99)}`, body: text("prefix split") },
      ],
      [{ path: "ünïcødé.txt", body: text("extra") }],
    );
    const byPath = new Map(entries.map((e) => [e.path, new TextDecoder().decode(e.bytes)]));
    expect(byPath.get(LONG_PATH)).toBe("long");
    expect(byPath.get("模型/权重-ü.bin")).toBe("unicode");
    expect(byPath.get(`${"a".repeat(150)}/${"b".repeat(99)}`)).toBe("prefix split");
    expect(byPath.get("extras/ünïcødé.txt")).toBe("extra");
    expect(byPath.has("模型")).toBe(true);
  });

  test("keeps modes and whole-second mtimes, defaulting to 0o644 files and 0o755 directories", async () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    const { entries } = await roundTrip([
      { path: "bin/run.sh", body: text("#!/bin/sh"), mode: 0o755, mtime: MTIME },
      { path: "old.txt", body: text("old"), mtime: new Date("1960-01-01T00:00:00Z") },
      { path: "plain.txt", body: text("plain") },
    ]);
    const byPath = Object.fromEntries(entries.map((e) => [e.path, e]));
    expect(byPath["bin/run.sh"]).toMatchObject({ mode: 0o755, mtime: MTIME });
    expect(byPath["bin"]).toMatchObject({ type: "directory", mode: 0o755 });
    expect(byPath["old.txt"]!.mtime).toEqual(new Date("1960-01-01T00:00:00Z")); // negative: needs PAX mtime
    expect(byPath["plain.txt"]!.mode).toBe(0o644);
    expect(byPath["plain.txt"]!.mtime.getTime()).toBeGreaterThanOrEqual(before);
    expect(byPath["plain.txt"]!.mtime.getTime()).toBeLessThanOrEqual(Date.now());
  });

  test("deterministic mode gives identical bytes on two runs, with every mtime fixed", async () => {
    const make = () =>
      collect(
        createArchive(
          { files: [{ path: "w.bin", body: pseudoRandom(300_000, 2), mtime: MTIME }], extras: [{ path: "x/y.txt", body: text("y") }] },
          { deterministic: true },
        ),
      );
    const first = await make();
    await new Promise((resolve) => setTimeout(resolve, 1100)); // a clock tick apart
    const second = await make();
    expect(sha256(second)).toBe(sha256(first));
    const entries = await readAll(blobStream(first));
    for (const entry of entries) expect(entry.mtime.getTime()).toBe(0);
  });

  test("deterministic: a Date fixes every mtime to that date", async () => {
    const at = new Date("2020-02-02T02:02:02Z");
    const entries = await readAll(createArchive({ files: [{ path: "d/f", body: text("f"), mtime: MTIME }] }, { deterministic: at }));
    expect(new Set(entries.map((e) => e.mtime.getTime()))).toEqual(new Set([at.getTime()]));
  });

  test("reads entries lazily from an async generator of inputs", async () => {
    async function* files(): AsyncGenerator<ArchiveInputEntry> {
      for (let i = 0; i < 3; i++) yield { path: `part-${i}.bin`, body: pseudoRandom(1000 + i, i + 1) };
    }
    const entries = await readAll(createArchive({ files: files() }));
    expect(entries.map((e) => [e.path, e.size])).toEqual([
      ["runtime-info.json", entries[0]!.size],
      ["part-0.bin", 1000],
      ["part-1.bin", 1001],
      ["part-2.bin", 1002],
    ]);
  });

  test("skipping a big entry without reading it yields the next entry intact", async () => {
    const big = pseudoRandom(12 * 1024 * 1024, 11);
    const small = text("after the big one");
    const archive = await collect(
      createArchive({ files: [{ path: "big.bin", body: big }, { path: "small.txt", body: small }] }, { level: 1 }),
    );
    const seen: string[] = [];
    for await (const entry of readArchive(blobStream(archive))) {
      seen.push(entry.path);
      if (entry.path === "big.bin") {
        await entry.skip();
        await entry.skip(); // idempotent
      }
      if (entry.path === "small.txt") expect(await collect(entry.body)).toEqual(small);
    }
    expect(seen).toEqual(["runtime-info.json", "big.bin", "small.txt"]);
  });

  test("advancing without touching a body drains it, and the body then fails loudly instead of returning short data", async () => {
    const archive = await collect(
      createArchive({ files: [{ path: "a.bin", body: pseudoRandom(100_000) }, { path: "b.txt", body: text("b") }] }),
    );
    const bodies: ReadableStream<Uint8Array>[] = [];
    const paths: string[] = [];
    for await (const entry of readArchive(blobStream(archive))) {
      paths.push(entry.path);
      bodies.push(entry.body);
    }
    expect(paths).toEqual(["runtime-info.json", "a.bin", "b.txt"]);
    await expect(collect(bodies[1]!)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  test("reads a partially read body's remainder past it and continues", async () => {
    const archive = await collect(
      createArchive({ files: [{ path: "a.bin", body: pseudoRandom(500_000), size: 500_000 }, { path: "b.txt", body: text("b") }] }),
    );
    const paths: string[] = [];
    for await (const entry of readArchive(blobStream(archive))) {
      paths.push(entry.path);
      if (entry.path === "a.bin") {
        const reader = entry.body.getReader();
        const { value } = await reader.read();
        expect(value!.length).toBeGreaterThan(0);
        reader.releaseLock();
      }
      if (entry.path === "b.txt") expect(new TextDecoder().decode(await collect(entry.body))).toBe("b");
    }
    expect(paths).toEqual(["runtime-info.json", "a.bin", "b.txt"]);
  });
});

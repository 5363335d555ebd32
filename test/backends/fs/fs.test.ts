import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fileSystemBackend } from "../../../src/backends/fs/fs.ts";
import type { Backend } from "../../../src/backends/backend.ts";
import { bytes, collect, runBackendContract, slowStream, text } from "../contract.ts";
import { byteStreamOf, noise, sha256 } from "../../support/bytes.ts";

runBackendContract("fs", async () => {
  const root = await mkdtemp(join(tmpdir(), "modelstore-fs-contract-"));
  return { backend: fileSystemBackend({ root }), cleanup: () => rm(root, { recursive: true, force: true }) };
});

/** Every file and directory below `dir`, as relative paths. */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe("fileSystemBackend", () => {
  let base: string;
  let root: string;
  let sibling: string;
  let backend: Backend;

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), "modelstore-fs-"));
    root = join(base, "store");
    sibling = join(base, "sibling");
    await mkdir(sibling);
    backend = fileSystemBackend({ root });
  });
  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it("stores key a/b/c.json as the file <root>/a/b/c.json", async () => {
    await backend.put("a/b/c.json", bytes("{}"));
    expect(await readFile(join(root, "a/b/c.json"), "utf8")).toBe("{}");
  });

  it("records locations as the Python modelstore does and maps them back to keys", async () => {
    const location = backend.locate!("operatorai-model-store/d/1/artifacts.tar.gz");
    expect(location).toEqual({ type: "file_system", root, path: join(root, "operatorai-model-store/d/1/artifacts.tar.gz") });
    expect(backend.keyOf!(location)).toBe("operatorai-model-store/d/1/artifacts.tar.gz");
    // Written by Python (no root), or under a root that has since moved:
    expect(backend.keyOf!({ type: "file_system", path: join(root, "a/b.tar.gz") })).toBe("a/b.tar.gz");
    expect(backend.keyOf!({ type: "file_system", root: "/old/root", path: "/old/root/a/b.tar.gz" })).toBe("a/b.tar.gz");
    for (const foreign of [
      { type: "file_system", path: join(sibling, "x") },
      { type: "aws:s3", bucket: "b", prefix: "a/b.tar.gz" },
      { type: "file_system", root: "/old/root", path: "/old/root/../etc/passwd" },
    ]) {
      expect(() => backend.keyOf!(foreign), JSON.stringify(foreign)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    }
  });

  it("keyOf answers a location it has seen from memory, keyed by all of type, root and path", () => {
    const path = join(root, "a/b.tar.gz");
    expect(backend.keyOf!({ type: "file_system", path })).toBe("a/b.tar.gz");
    // The same path under another type or root is another location: refused, not answered from memory.
    expect(() => backend.keyOf!({ type: "aws:s3", path })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(backend.keyOf!({ type: "file_system", root: join(root, "a"), path })).toBe("a/b.tar.gz");
    expect(backend.keyOf!({ type: "file_system", path: join(root, "a/c.tar.gz") })).toBe("a/c.tar.gz");
    // A refused location stays refused, and many locations do not grow the memory past its bound.
    for (let i = 0; i < 600; i++) expect(backend.keyOf!({ type: "file_system", path: join(root, `m/${i}.tar.gz`) })).toBe(`m/${i}.tar.gz`);
    expect(() => backend.keyOf!({ type: "file_system", path: join(sibling, "x") })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(backend.keyOf!({ type: "file_system", path })).toBe("a/b.tar.gz");
  });

  it("rejects keys that could escape the root with INVALID_ARGUMENT and writes nothing", async () => {
    const hostile = ["../sibling/x", "/abs", `${sibling}/x`, "a/../../sibling/x", "a//b", "./a", "a/", "", "a\\..\\..\\x", "a\0b", "..", "a/."];
    for (const key of hostile) {
      await expect(backend.put(key, bytes("x")), key).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      await expect(backend.get(key), key).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      await expect(backend.head(key), key).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      await expect(backend.delete(key), key).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    }
    await expect(collect(backend.list("../sibling/"))).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(collect(backend.listPrefixes("../../"))).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(await readdir(sibling)).toEqual([]);
    expect(await readdir(base)).toEqual(["sibling"]);
  });

  it("rejects keys shaped like its own temp and lock files", async () => {
    await expect(backend.put("a/.x.lock", bytes("x"))).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(backend.put(".x.0123456789abcdef.tmp", bytes("x"))).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await backend.put("a/.hidden", bytes("dot files are fine"));
    expect(await text(await backend.get("a/.hidden"))).toBe("dot files are fine");
  });

  it("leaves no temp file after a failed, aborted, refused or conflicting put", async () => {
    await backend.put("d/kept", bytes("kept"));
    await expect(backend.put("d/broken", slowStream(["a", "b"], { failAt: 1 }))).rejects.toThrow("source failed halfway");
    const controller = new AbortController();
    const stalled = new ReadableStream<Uint8Array>({ start: (c) => void c.enqueue(bytes("part")) });
    setTimeout(() => controller.abort(), 20);
    await expect(backend.put("d/aborted", stalled, { signal: controller.signal })).rejects.toMatchObject({ code: "ABORTED" });
    await expect(backend.put("d/kept", bytes("x"), { ifNoneMatch: "*" })).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    await expect(backend.put("d/kept", bytes("x"), { ifMatch: '"stale"' })).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(backend.put("d/sized", bytes("abc"), { size: 4 })).rejects.toMatchObject({ code: "INTEGRITY" });
    expect(await tree(root)).toEqual(["d", "d/kept"]);
  });

  it("takes byte-stream bodies through its reused buffers: bytes intact, and abort, errors and wrong sizes leave nothing", async () => {
    const data = noise(3 * 1024 * 1024 + 17);
    await backend.put("b/whole", byteStreamOf(data, 100_000));
    expect(sha256(await readFile(join(root, "b/whole")))).toBe(sha256(data));
    // A byte stream that stalls after its first chunk: only the abort ends the put.
    const controller = new AbortController();
    let sent = false;
    const stalled = new ReadableStream({
      type: "bytes",
      pull(c: ReadableByteStreamController) {
        if (sent) return new Promise<void>(() => {});
        sent = true;
        c.enqueue(new Uint8Array(1000));
        setTimeout(() => controller.abort(), 20);
      },
    });
    await expect(backend.put("b/aborted", stalled, { signal: controller.signal })).rejects.toMatchObject({ code: "ABORTED" });
    await expect(backend.put("b/sized", byteStreamOf(data), { size: data.length - 1 })).rejects.toMatchObject({ code: "INTEGRITY" });
    expect(await tree(root)).toEqual(["b", "b/whole"]);
  });

  it("never exposes a partial file at the key's path while a slow put runs", async () => {
    const writing = backend.put("m/model.bin", slowStream(["part-1|", "part-2|", "part-3"], { delayMs: 25 }));
    await new Promise((r) => setTimeout(r, 40));
    await expect(stat(join(root, "m/model.bin"))).rejects.toMatchObject({ code: "ENOENT" });
    const inFlight = await readdir(join(root, "m"));
    expect(inFlight).toHaveLength(1);
    expect(inFlight[0]).toMatch(/^\.model\.bin\.[0-9a-f]{16}\.tmp$/);
    expect(await collect(backend.list(""))).toEqual([]);
    expect(await collect(backend.listPrefixes(""))).toEqual([]);
    await writing;

    const overwrite = backend.put("m/model.bin", slowStream(["new-1|", "new-2"], { delayMs: 25 }));
    await new Promise((r) => setTimeout(r, 40));
    expect(await readFile(join(root, "m/model.bin"), "utf8")).toBe("part-1|part-2|part-3");
    await overwrite;
    expect(await readFile(join(root, "m/model.bin"), "utf8")).toBe("new-1|new-2");
  });

  it("gives a put a newer mtime than the object it replaces, so etags never repeat on coarse clocks", async () => {
    // Pushing the stored file's mtime into the future stands in for a clock that has not ticked since.
    for (let i = 0; i < 25; i++) {
      await backend.put("k", bytes("one"));
      const future = new Date(Date.now() + 60_000 + i * 7);
      await utimes(join(root, "k"), future, future);
      const replaced = await backend.head("k");
      const next = await backend.put("k", bytes("two"));
      expect(Date.parse(next.lastModified!)).toBeGreaterThan(Date.parse(replaced!.lastModified!));
      expect(next.etag).not.toBe(replaced!.etag);
    }
  });

  it("keeps streaming the old bytes to a reader that opened before an overwrite", async () => {
    const big = "x".repeat(600 * 1024);
    await backend.put("k", bytes(big));
    const stream = await backend.get("k");
    await backend.put("k", bytes("replaced"));
    expect(await text(stream)).toBe(big);
  });

  it("delete() removes emptied folders up to the root, and only those", async () => {
    await backend.put("dom/a/versions/1.json", bytes("1"));
    await backend.put("dom/b/versions/2.json", bytes("2"));
    await backend.delete("dom/a/versions/1.json");
    expect(await tree(root)).toEqual(["dom", "dom/b", "dom/b/versions", "dom/b/versions/2.json"]);
    await backend.delete("dom/b/versions/2.json");
    expect(await tree(root)).toEqual([]);
    expect((await stat(root)).isDirectory()).toBe(true);
  });

  it("leaves no empty folder behind when the first put into it fails", async () => {
    await expect(backend.put("new/deep/key", slowStream(["a", "b"], { failAt: 1 }))).rejects.toThrow("source failed halfway");
    await expect(backend.put("other/key", bytes("x"), { ifMatch: '"gone"' })).rejects.toMatchObject({ code: "CONFLICT" });
    expect(await tree(root)).toEqual([]);
  });

  it("lists no temp or lock files left behind by crashed writers", async () => {
    await backend.put("a/real", bytes("1"));
    await writeFile(join(root, "a/.real.0123456789abcdef.tmp"), "half");
    await writeFile(join(root, "a/.real.lock"), "");
    await mkdir(join(root, "only-temp"));
    await writeFile(join(root, "only-temp/.x.0123456789abcdef.tmp"), "half");
    expect((await collect(backend.list(""))).map((o) => o.key)).toEqual(["a/real"]);
    expect(await collect(backend.listPrefixes(""))).toEqual(["a/"]);
  });

  it("treats a folder as no object: get() and head() resolve null for a key's prefix", async () => {
    await backend.put("a/b/c", bytes("1"));
    expect(await backend.get("a/b")).toBeNull();
    expect(await backend.head("a/b")).toBeNull();
    await backend.delete("a/b");
    expect(await text(await backend.get("a/b/c"))).toBe("1");
  });

  it("fails with a BackendError naming the errno when a key is also used as a folder", async () => {
    await backend.put("a/b", bytes("file"));
    const error = await backend.put("a/b/c", bytes("x")).catch((e) => e);
    expect(error).toMatchObject({ code: "BACKEND", backend: "fs", key: "a/b/c" });
    expect(["ENOTDIR", "EEXIST"]).toContain(error.serverCode);
    expect(error.message).toContain("prefix");
    await backend.put("x/y/z", bytes("1"));
    await expect(backend.put("x/y", bytes("x"))).rejects.toMatchObject({ code: "BACKEND" });
    await expect(backend.put("x/y", bytes("x"), { ifNoneMatch: "*" })).rejects.toMatchObject({ code: "BACKEND" });
  });

  it("fails with a BackendError mentioning the root when the root is not a directory", async () => {
    const file = join(base, "not-a-dir");
    await writeFile(file, "");
    const error = await fileSystemBackend({ root: file }).put("k", bytes("x")).catch((e) => e);
    expect(error).toMatchObject({ code: "BACKEND", backend: "fs", operation: "put" });
    expect(error.message).toContain(file);
  });

  it("closes the file when a get() stream is cancelled", async () => {
    await backend.put("big", new Uint8Array(2 * 1024 * 1024));
    const open = async () => (await readdir("/proc/self/fd")).length;
    const before = await open();
    const streams = await Promise.all(Array.from({ length: 20 }, () => backend.get("big")));
    expect(await open()).toBeGreaterThanOrEqual(before + 20);
    for (const stream of streams) {
      const reader = stream!.getReader();
      await reader.read();
      await reader.cancel();
    }
    expect(await open()).toBeLessThanOrEqual(before + 2);
  });

  it("breaks a compare-and-swap lock left by a crashed process once it is stale", async () => {
    const first = await backend.put("k", bytes("1"));
    const lock = join(root, ".k.lock");
    await writeFile(lock, "");
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    await backend.put("k", bytes("2"), { ifMatch: first.etag });
    expect(await text(await backend.get("k"))).toBe("2");
    await expect(stat(lock)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("waits for a fresh compare-and-swap lock instead of breaking it", async () => {
    const first = await backend.put("k", bytes("1"));
    const lock = join(root, ".k.lock");
    await writeFile(lock, "");
    let done = false;
    const swap = backend.put("k", bytes("2"), { ifMatch: first.etag }).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 150));
    expect(done).toBe(false);
    expect(await text(await backend.get("k"))).toBe("1");
    await rm(lock);
    await swap;
    expect(await text(await backend.get("k"))).toBe("2");
  });

  it("two processes and in-process writers doing compare-and-swap increments lose no update", async () => {
    // Bundle the backend to plain JS so child processes on Node 20 can run it.
    const bundle = join(base, "fs-backend.mjs");
    await build({
      entryPoints: [fileURLToPath(new URL("../../../src/backends/fs/fs.ts", import.meta.url))],
      bundle: true,
      platform: "node",
      format: "esm",
      outfile: bundle,
      logLevel: "silent",
    });
    const script = join(base, "increment.mjs");
    await writeFile(
      script,
      `import { fileSystemBackend } from ${JSON.stringify(bundle)};
const [root, key, times] = process.argv.slice(2);
const backend = fileSystemBackend({ root });
for (let i = 0; i < Number(times); i++) {
  for (;;) {
    const head = await backend.head(key);
    const value = Number(await new Response(await backend.get(key)).text());
    try {
      await backend.put(key, new TextEncoder().encode(String(value + 1)), { ifMatch: head.etag });
      break;
    } catch (error) {
      if (error.code !== "CONFLICT") throw error;
    }
  }
}
`,
    );
    await backend.put("counter", bytes("0"));
    const child = () => promisify(execFile)(process.execPath, [script, root, "counter", "40"]);
    const local = async (times: number) => {
      for (let i = 0; i < times; i++) {
        for (;;) {
          const head = await backend.head("counter");
          const value = Number(await text(await backend.get("counter")));
          const swapped = await backend.put("counter", bytes(String(value + 1)), { ifMatch: head!.etag }).then(
            () => true,
            (error) => {
              if (error.code !== "CONFLICT") throw error;
              return false;
            },
          );
          if (swapped) break;
        }
      }
    };
    await Promise.all([child(), child(), local(40), local(40)]);
    expect(await text(await backend.get("counter"))).toBe("160");
    expect(await tree(root)).toEqual(["counter"]);
  });
});

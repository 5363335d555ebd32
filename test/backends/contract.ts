/**
 * The one Backend contract suite. Every backend calls `runBackendContract` in
 * a few lines; a behaviour the store relies on is tested here once, not per backend.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Backend, ObjectInfo } from "../../src/backends/backend.ts";
import { readUntilError } from "../support/bytes.ts";

/** What a backend factory hands the suite. */
export interface ContractSubject {
  backend: Backend;
  /** Removes whatever the backend created (temp dirs, buckets). */
  cleanup?: () => Promise<void>;
}

/** Knobs for backends where some tests are expensive. */
export interface ContractOptions {
  /** Keys in the "more than one page" listing test (S3 pages hold 1000). @default 1005 */
  manyKeys?: number;
  /** Parallel writers in the compare-and-swap counter test. @default 4 */
  casWriters?: number;
  /** Increments per writer in the compare-and-swap counter test. @default 5 */
  casIncrements?: number;
  /**
   * Whether the backend enforces conditional writes itself. When given, the suite checks that
   * `capabilities.conditionalWrites` says so once a conditional put has run (S3 finds out then).
   */
  conditionalWrites?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 bytes of `text`. */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Reads a stream whole as text; `null` stays `null`. */
export async function text(stream: ReadableStream<Uint8Array> | null): Promise<string | null> {
  if (stream === null) return null;
  return decoder.decode(await new Response(stream).arrayBuffer());
}

/** Collects an async iterable. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** A stream of `chunks`, pausing `delayMs` before each; it errors instead of yielding chunk `failAt`. */
export function slowStream(chunks: string[], options: { delayMs?: number; failAt?: number } = {}): ReadableStream<Uint8Array> {
  let index = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      if (index === options.failAt) return controller.error(new Error("source failed halfway"));
      if (index >= chunks.length) return controller.close();
      controller.enqueue(bytes(chunks[index++]));
    },
  });
}

async function keysOf(backend: Backend, prefix: string, limit?: number): Promise<string[]> {
  return (await collect(backend.list(prefix, { limit }))).map((info: ObjectInfo) => info.key);
}

let namespaces = 0;

/**
 * Registers the contract tests for one backend. `makeBackend` runs before each
 * test; every test works under its own key prefix, so a shared bucket is fine.
 * No key here is also a folder of other keys (`a` and `a/b`): a file system
 * cannot hold both, and the store's layout never needs it.
 */
export function runBackendContract(
  name: string,
  makeBackend: () => Promise<ContractSubject>,
  options: ContractOptions = {},
): void {
  describe(`Backend contract: ${name}`, () => {
    let subject: ContractSubject;
    let backend: Backend;
    let ns: string;

    beforeEach(async () => {
      subject = await makeBackend();
      backend = subject.backend;
      ns = `contract-${Date.now().toString(36)}-${++namespaces}/`;
    });
    afterEach(async () => {
      await subject.cleanup?.();
    });

    it("put() then get() round-trips bytes and reports key, size and etag", async () => {
      const info = await backend.put(`${ns}a.json`, bytes('{"a":1}'));
      expect(info).toMatchObject({ key: `${ns}a.json`, size: 7 });
      expect(typeof info.etag).toBe("string");
      expect(info.etag.length).toBeGreaterThan(0);
      expect(await text(await backend.get(`${ns}a.json`))).toBe('{"a":1}');
    });

    it("put() of a multi-chunk stream stores every chunk in order", async () => {
      const chunks = Array.from({ length: 50 }, (_, i) => `chunk-${i};`);
      const info = await backend.put(`${ns}stream.bin`, slowStream(chunks));
      expect(info.size).toBe(chunks.join("").length);
      expect(await text(await backend.get(`${ns}stream.bin`))).toBe(chunks.join(""));
      expect((await backend.head(`${ns}stream.bin`))?.size).toBe(chunks.join("").length);
    });

    it("put() stores a copy: changing the caller's buffer afterwards changes nothing", async () => {
      const body = bytes("original");
      await backend.put(`${ns}copy`, body);
      body.fill(0x21);
      expect(await text(await backend.get(`${ns}copy`))).toBe("original");
    });

    it("get() and head() of a missing key resolve null", async () => {
      expect(await backend.get(`${ns}missing`)).toBeNull();
      expect(await backend.head(`${ns}missing`)).toBeNull();
    });

    it("head() describes an object with the etag put() returned", async () => {
      const put = await backend.put(`${ns}h`, bytes("12345"));
      const head = await backend.head(`${ns}h`);
      expect(head).toMatchObject({ key: `${ns}h`, size: 5, etag: put.etag });
      if (head?.lastModified !== undefined) expect(Number.isNaN(Date.parse(head.lastModified))).toBe(false);
    });

    it("get() with a range returns exactly the requested bytes", async () => {
      await backend.put(`${ns}r`, bytes("0123456789"));
      expect(await text(await backend.get(`${ns}r`, { range: { offset: 3 } }))).toBe("3456789");
      expect(await text(await backend.get(`${ns}r`, { range: { offset: 2, length: 4 } }))).toBe("2345");
      expect(await text(await backend.get(`${ns}r`, { range: { offset: 8, length: 10 } }))).toBe("89");
      expect(await text(await backend.get(`${ns}r`, { range: { offset: 0, length: 10 } }))).toBe("0123456789");
    });

    it("get() with a range starting past the end yields no bytes, not an error", async () => {
      await backend.put(`${ns}r`, bytes("0123456789"));
      expect(await text(await backend.get(`${ns}r`, { range: { offset: 10 } }))).toBe("");
      expect(await text(await backend.get(`${ns}r`, { range: { offset: 50, length: 5 } }))).toBe("");
    });

    it("delete() removes an object and is idempotent", async () => {
      await backend.put(`${ns}d`, bytes("x"));
      await backend.delete(`${ns}d`);
      expect(await backend.get(`${ns}d`)).toBeNull();
      expect(await backend.head(`${ns}d`)).toBeNull();
      await expect(backend.delete(`${ns}d`)).resolves.toBeUndefined();
      await expect(backend.delete(`${ns}never-existed`)).resolves.toBeUndefined();
    });

    it("list() yields keys in code-point order whatever the write order", async () => {
      // "-" (0x2d) sorts before "/" (0x2f), and U+FF01 before U+1F600 (UTF-16 order would swap them).
      const keys = ["b", "a/b", "a-b", "a.json", "ab/c", "a/a/a", "z\u{1F600}", "z\uFF01", "Z"].map((k) => ns + k);
      for (const key of keys) await backend.put(key, bytes(key));
      const expected = ["Z", "a-b", "a.json", "a/a/a", "a/b", "ab/c", "b", "z\uFF01", "z\u{1F600}"].map((k) => ns + k);
      expect(await keysOf(backend, ns)).toEqual(expected);
    });

    it("list() keeps only keys starting with the prefix, even one ending mid-segment", async () => {
      for (const key of ["a/a", "a/b.json", "a/bc/d", "a/b/x", "a/c", "b/b"]) await backend.put(ns + key, bytes(key));
      expect(await keysOf(backend, `${ns}a/b`)).toEqual(["a/b.json", "a/b/x", "a/bc/d"].map((k) => ns + k));
      expect(await keysOf(backend, `${ns}a/`)).toEqual(["a/a", "a/b.json", "a/b/x", "a/bc/d", "a/c"].map((k) => ns + k));
      expect(await keysOf(backend, `${ns}nothing-here/`)).toEqual([]);
    });

    it("list() stops after limit keys", async () => {
      for (const key of ["1", "2", "3", "4"]) await backend.put(ns + key, bytes(key));
      expect(await keysOf(backend, ns, 2)).toEqual([`${ns}1`, `${ns}2`]);
    });

    it("list() reports size and etag like head()", async () => {
      const put = await backend.put(`${ns}x`, bytes("four"));
      const [listed] = await collect(backend.list(ns));
      expect(listed).toMatchObject({ key: `${ns}x`, size: 4, etag: put.etag });
    });

    it("list() hides pagination: more keys than one page come back complete and ordered", async () => {
      const count = options.manyKeys ?? 1005;
      const keys = Array.from({ length: count }, (_, i) => `${ns}many/${String(i).padStart(5, "0")}`);
      for (let i = 0; i < keys.length; i += 50) {
        await Promise.all(keys.slice(i, i + 50).map((key) => backend.put(key, bytes("."))));
      }
      expect(await keysOf(backend, `${ns}many/`)).toEqual(keys);
    });

    it("listPrefixes() lists each next-level folder once, in order, and forgets emptied ones", async () => {
      for (const key of ["b/x/y", "a/1", "a/2", "c", "d/e"]) await backend.put(ns + key, bytes(key));
      expect(await collect(backend.listPrefixes(ns))).toEqual(["a/", "b/", "d/"].map((k) => ns + k));
      expect(await collect(backend.listPrefixes(`${ns}b/`))).toEqual([`${ns}b/x/`]);
      await backend.delete(`${ns}d/e`);
      expect(await collect(backend.listPrefixes(ns))).toEqual(["a/", "b/"].map((k) => ns + k));
    });

    it("put() overwrites: the new bytes replace the old, shorter or longer", async () => {
      await backend.put(`${ns}o`, bytes("a much longer first version"));
      await backend.put(`${ns}o`, bytes("short"));
      expect(await text(await backend.get(`${ns}o`))).toBe("short");
      expect((await backend.head(`${ns}o`))?.size).toBe(5);
    });

    it("put() is atomic: while a slow overwrite runs, readers see the old object whole", async () => {
      await backend.put(`${ns}atomic`, bytes("old"));
      const writing = backend.put(`${ns}atomic`, slowStream(["n", "e", "w", "!"], { delayMs: 20 }));
      await new Promise((r) => setTimeout(r, 30));
      expect(await text(await backend.get(`${ns}atomic`))).toBe("old");
      expect(await keysOf(backend, ns)).toEqual([`${ns}atomic`]);
      await writing;
      expect(await text(await backend.get(`${ns}atomic`))).toBe("new!");
    });

    it("etag changes on every overwrite with different bytes of the same size", async () => {
      const etags = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const info = await backend.put(`${ns}e`, bytes(`v${String(i).padStart(2, "0")}`));
        etags.add(info.etag);
        expect((await backend.head(`${ns}e`))?.etag).toBe(info.etag);
      }
      expect(etags.size).toBe(20);
    });

    it("keys with spaces, +, %, unicode and : round-trip through put, get, head and list", async () => {
      const keys = ["with space.json", "plus+sign", "percent%20", "ünïcödé-日本-😀", "time:12:30", "tilde~=&?"].map((k) => ns + k);
      for (const key of keys) await backend.put(key, bytes(key));
      for (const key of keys) {
        expect(await text(await backend.get(key))).toBe(key);
        expect((await backend.head(key))?.key).toBe(key);
      }
      expect(new Set(await keysOf(backend, ns))).toEqual(new Set(keys));
    });

    it("a stream body that errors halfway leaves nothing visible", async () => {
      await expect(backend.put(`${ns}broken`, slowStream(["a", "b", "c"], { failAt: 2 }))).rejects.toThrow();
      expect(await backend.get(`${ns}broken`)).toBeNull();
      expect(await keysOf(backend, ns)).toEqual([]);
    });

    it("a stream body that errors halfway keeps the previous object intact", async () => {
      await backend.put(`${ns}kept`, bytes("previous"));
      await expect(backend.put(`${ns}kept`, slowStream(["a", "b", "c"], { failAt: 2 }))).rejects.toThrow();
      expect(await text(await backend.get(`${ns}kept`))).toBe("previous");
    });

    it("put() aborted by its signal mid-stream rejects with ABORTED and leaves nothing", async () => {
      const controller = new AbortController();
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(bytes("first chunk"));
          setTimeout(() => controller.abort(), 20);
        },
        // never closes: only the abort can end this put
      });
      await expect(backend.put(`${ns}aborted`, body, { signal: controller.signal })).rejects.toMatchObject({ code: "ABORTED" });
      expect(await backend.get(`${ns}aborted`)).toBeNull();
      expect(await keysOf(backend, ns)).toEqual([]);
    });

    it("get() aborted by its signal mid-body ends the body with ABORTED", async () => {
      // Large enough that no backend has handed over the whole body after one read.
      await backend.put(`${ns}big`, new Uint8Array(4 << 20).fill(7));
      const controller = new AbortController();
      const reader = (await backend.get(`${ns}big`, { signal: controller.signal }))!.getReader();
      expect((await reader.read()).done).toBe(false);
      controller.abort();
      const error = await readUntilError(reader);
      expect(error).toMatchObject({ code: "ABORTED" });
    });

    it("put() with an already-aborted signal rejects with ABORTED and writes nothing", async () => {
      const controller = new AbortController();
      controller.abort();
      await expect(backend.put(`${ns}pre`, bytes("x"), { signal: controller.signal })).rejects.toMatchObject({ code: "ABORTED" });
      expect(await backend.head(`${ns}pre`)).toBeNull();
    });

    it('ifNoneMatch "*" creates a missing key and refuses an existing one with ALREADY_EXISTS', async () => {
      await backend.put(`${ns}once`, bytes("first"), { ifNoneMatch: "*" });
      // Enforced natively or, without conditional writes, emulated by a check first.
      await expect(backend.put(`${ns}once`, bytes("second"), { ifNoneMatch: "*" })).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
      expect(await text(await backend.get(`${ns}once`))).toBe("first");
    });

    it("concurrent create-only puts to one key: exactly one wins", async () => {
      const bodies = Array.from({ length: 8 }, (_, i) => `writer-${i}`);
      const results = await Promise.allSettled(
        bodies.map((body) => backend.put(`${ns}race`, slowStream([body], { delayMs: 5 }), { ifNoneMatch: "*" })),
      );
      const stored = await text(await backend.get(`${ns}race`));
      if (backend.capabilities.conditionalWrites) {
        const winners = results.flatMap((r, i) => (r.status === "fulfilled" ? [bodies[i]] : []));
        expect(winners).toHaveLength(1);
        expect(stored).toBe(winners[0]);
        for (const r of results) {
          if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "ALREADY_EXISTS" });
        }
      } else {
        // Emulated (check, then write): racing writers can all pass the check; one body survives whole.
        expect(bodies).toContain(stored);
      }
    });

    if (options.conditionalWrites !== undefined) {
      const enforced = options.conditionalWrites;
      it(`capabilities.conditionalWrites is ${enforced} once a conditional put has run`, async () => {
        await backend.put(`${ns}capable`, bytes("x"), { ifNoneMatch: "*" });
        expect(backend.capabilities.conditionalWrites).toBe(enforced);
      });
    }

    it("ifMatch with the current etag replaces the object and returns a new etag", async () => {
      const first = await backend.put(`${ns}cas`, bytes("1"));
      const second = await backend.put(`${ns}cas`, bytes("2"), { ifMatch: first.etag });
      expect(second.etag).not.toBe(first.etag);
      expect(await text(await backend.get(`${ns}cas`))).toBe("2");
    });

    it("ifMatch with a stale etag fails with CONFLICT and keeps the current object", async () => {
      const first = await backend.put(`${ns}cas`, bytes("1"));
      await backend.put(`${ns}cas`, bytes("2"));
      await expect(backend.put(`${ns}cas`, bytes("3"), { ifMatch: first.etag })).rejects.toMatchObject({ code: "CONFLICT" });
      expect(await text(await backend.get(`${ns}cas`))).toBe("2");
    });

    it("ifMatch on a missing key fails with CONFLICT and creates nothing", async () => {
      const first = await backend.put(`${ns}gone`, bytes("1"));
      await backend.delete(`${ns}gone`);
      await expect(backend.put(`${ns}gone`, bytes("2"), { ifMatch: first.etag })).rejects.toMatchObject({ code: "CONFLICT" });
      expect(await backend.head(`${ns}gone`)).toBeNull();
    });

    it("concurrent compare-and-swap increments lose no update", async () => {
      const writers = options.casWriters ?? 4;
      const increments = options.casIncrements ?? 5;
      await backend.put(`${ns}counter`, bytes("0"));
      const increment = async () => {
        for (let misses = 0; ; ) {
          const head = await backend.head(`${ns}counter`);
          const body = await backend.get(`${ns}counter`);
          // Swift, overwritten by several writers at once on a loaded machine, has answered
          // a HEAD with 404 for a moment; a counter gone for good still fails below.
          if (!head || !body) {
            await body?.cancel();
            if (++misses > 20) throw new Error("counter vanished");
            await new Promise((resolve) => setTimeout(resolve, 50));
            continue;
          }
          const value = Number(await text(body));
          try {
            // head() runs before get(): if the value read is newer than the etag, the swap fails and we retry.
            await backend.put(`${ns}counter`, bytes(String(value + 1)), { ifMatch: head.etag });
            return;
          } catch (error) {
            if ((error as { code?: string }).code !== "CONFLICT") throw error;
          }
        }
      };
      await Promise.all(
        Array.from({ length: writers }, async () => {
          for (let i = 0; i < increments; i++) await increment();
        }),
      );
      const final = Number(await text(await backend.get(`${ns}counter`)));
      if (backend.capabilities.conditionalWrites) expect(final).toBe(writers * increments);
      else expect(final).toBeGreaterThan(0);
    });
  });
}

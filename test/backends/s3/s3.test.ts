/**
 * The S3 backend against a real S3 server: OpenStack Swift with s3api on
 * 127.0.0.1 (test/support/swift.sh), started here unless S3_ENDPOINT names one.
 * Failure tests put a fault-injecting proxy between the backend and Swift.
 */
import { createHash } from "node:crypto";
import { getEventListeners } from "node:events";
import type { IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { s3Backend, type S3Backend, type S3BackendOptions } from "../../../src/backends/s3/s3.ts";
import { s3BackendFromEnv } from "../../../src/backends/s3/s3-env.ts";
import { resolveS3Options } from "../../../src/backends/s3/s3-options.ts";
import { multipartEtag, PartReader } from "../../../src/backends/s3/s3-multipart.ts";
import { decodeXmlText, xmlElements, xmlText } from "../../../src/util/xml.ts";
import { BackendError } from "../../../src/util/errors.ts";
import { CUT_AFTER, startFaultProxy, type Fault } from "../../support/fault-proxy.ts";
import { byteStreamOf, readUntilError } from "../../support/bytes.ts";
import { createBucket, testClient, useS3Server, type S3Server, partTestBackend } from "../../support/s3-server.ts";
import { bytes, collect, runBackendContract, text } from "../contract.ts";

const MiB = 1024 * 1024;
let server: S3Server;
let bucket: string;

beforeAll(async () => {
  server = await useS3Server();
  bucket = await createBucket(server, "s3test");
}, 300_000);

afterAll(async () => {
  await server?.stop();
});

function backend(extra: Partial<S3BackendOptions> = {}, endpoint = server.endpoint): S3Backend {
  return partTestBackend(server, bucket, extra, endpoint);
}

/** Deterministic incompressible bytes, `size` of them, in 1 MiB chunks; `onChunk` sees each. */
function noise(size: number, options: { onChunk?: (sent: number) => void; delayMs?: number } = {}): ReadableStream<Uint8Array> {
  let sent = 0;
  let state = 0x9e3779b9;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent >= size) return controller.close();
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      const chunk = new Uint8Array(Math.min(MiB, size - sent));
      const words = new Uint32Array(chunk.buffer, 0, chunk.byteLength >>> 2);
      for (let i = 0; i < words.length; i++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        words[i] = state >>> 0;
      }
      sent += chunk.byteLength;
      controller.enqueue(chunk);
      options.onChunk?.(sent);
    },
  }, { highWaterMark: 0 });
}

async function sha256Of(stream: ReadableStream<Uint8Array>): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return { sha256: hash.digest("hex"), size };
}

async function unfinishedUploads(prefix: string): Promise<string[]> {
  const response = await testClient(server).fetch(`${server.endpoint}/${bucket}?uploads&prefix=${encodeURIComponent(prefix)}`);
  expect(response.status).toBe(200);
  return xmlElements(await response.text(), "Upload").map((upload) => xmlText(upload, "Key") ?? "");
}

let seq = 0;
const ns = (label: string) => `s3-${label}-${Date.now().toString(36)}-${++seq}/`;

// Swift answers 501 to conditional PUTs: the contract runs on the default fallback, which emulates them with HEAD.
runBackendContract("s3 (Swift s3api)", async () => ({ backend: backend() }), { manyKeys: 1005, conditionalWrites: false });

describe("s3Backend on Swift", () => {
  it("exposes its name and bucket, and records locations as aws:s3", () => {
    const b = backend();
    expect(b.name).toBe("s3");
    expect(b.bucket).toBe(bucket);
    expect(b.locate("root/x.tar.gz")).toEqual({ type: "aws:s3", bucket, prefix: "root/x.tar.gz" });
    expect(b.keyOf({ type: "aws:s3", bucket, prefix: "root/x.tar.gz" })).toBe("root/x.tar.gz");
    expect(() => b.keyOf({ type: "aws:s3", bucket: "other", prefix: "k" })).toThrow(/not in S3 bucket/);
    // What the Python modelstore records for the same bucket on MinIO and on GCS.
    expect(b.keyOf({ type: "minio:127.0.0.1:9000", bucket, prefix: "root/x.tar.gz" })).toBe("root/x.tar.gz");
    expect(b.keyOf({ type: "google:cloud-storage", bucket, prefix: "root/x.tar.gz" })).toBe("root/x.tar.gz");
    expect(() => b.keyOf({ type: "azure:blob-storage", bucket, prefix: "root/x.tar.gz" })).toThrow(/not in S3 bucket/);
  });

  it("rejects a partSize under 5 MiB with INVALID_ARGUMENT", () => {
    expect(() => backend({ partSize: 4 * MiB })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringContaining("5 MiB") }));
  });

  it("a wrong secret fails with SignatureDoesNotMatch, a clear message and no secret in it", async () => {
    const secret = "definitely-wrong-secret-4711";
    const b = backend({ credentials: { accessKeyId: server.accessKeyId, secretAccessKey: secret } });
    const error = await b.put(`${ns("sig")}x`, bytes("x")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({ code: "BACKEND", backend: "s3", operation: "PutObject", status: 403, serverCode: "SignatureDoesNotMatch" });
    const message = (error as Error).message;
    expect(message).toMatch(/secret access key/);
    expect(message).toMatch(/clock/);
    const everything = JSON.stringify({ ...(error as object), message, stack: (error as Error).stack });
    expect(everything).not.toContain(secret);
    expect(everything).not.toMatch(/Signature=|AWS4-HMAC-SHA256 Credential/);
  });

  it("a missing bucket fails with NoSuchBucket and says to create it or fix MODEL_STORE_AWS_BUCKET", async () => {
    const b = s3Backend({
      bucket: "no-such-bucket-here",
      endpoint: server.endpoint,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    });
    await expect(b.get("k")).rejects.toMatchObject({ serverCode: "NoSuchBucket", message: expect.stringContaining("MODEL_STORE_AWS_BUCKET") });
    await expect(collect(b.list(""))).rejects.toMatchObject({ serverCode: "NoSuchBucket", status: 404 });
    // HEAD answers have no body: head() asks HeadBucket rather than report a missing key.
    await expect(b.head("k")).rejects.toMatchObject({ serverCode: "NoSuchBucket", message: expect.stringContaining("Create the bucket") });
  });

  it("head() of a missing key in an existing bucket is null, checking the bucket once", async () => {
    const proxy = await startFaultProxy(server.endpoint, () => "forward");
    try {
      const b = backend({}, proxy.endpoint);
      expect(await b.head(`${ns("nokey")}a`)).toBeNull();
      expect(await b.head(`${ns("nokey")}b`)).toBeNull();
      const bucketHeads = proxy.seen.filter((line) => line === `HEAD /${bucket}/`);
      expect(bucketHeads.length).toBe(1);
    } finally {
      await proxy.close();
    }
  });

  it("signs with rotating credentials from an async provider, once per request", async () => {
    let calls = 0;
    const b = backend({
      credentials: async () => {
        calls++;
        return { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey };
      },
    });
    const key = `${ns("rot")}k`;
    await b.put(key, bytes("v"));
    expect(await text(await b.get(key))).toBe("v");
    expect(calls).toBe(2);
  });

  it("lists past 1000 keys, in order, and deleteMany() removes them all", async () => {
    const prefix = ns("many");
    const keys = Array.from({ length: 1100 }, (_, i) => `${prefix}k${String(i).padStart(5, "0")}`);
    const b = backend();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < keys.length) await b.put(keys[next++], bytes("x"));
      }),
    );
    const listed = (await collect(b.list(prefix))).map((info) => info.key);
    expect(listed).toEqual(keys);
    expect((await collect(b.list(prefix, { limit: 1050 }))).length).toBe(1050);
    await b.deleteMany([...keys, `${prefix}never-existed`]);
    expect(await collect(b.list(prefix))).toEqual([]);
  }, 180_000);

  it("listPrefixes() returns each next-level folder, decoded", async () => {
    const prefix = ns("dirs");
    const b = backend();
    for (const key of ["a b/1", "a b/2", "c+d/1", "ü:x/1", "top"]) await b.put(prefix + key, bytes("."));
    expect(await collect(b.listPrefixes(prefix))).toEqual([`${prefix}a b/`, `${prefix}c+d/`, `${prefix}ü:x/`]);
  });

  it("a 64 MiB stream of unknown length goes up in 5 MiB parts and round-trips byte-identical", async () => {
    const key = `${ns("big")}model.bin`;
    const b = backend({ partSize: 5 * MiB, concurrency: 4 });
    const expected = await sha256Of(noise(64 * MiB));
    const info = await b.put(key, noise(64 * MiB));
    expect(info.size).toBe(64 * MiB);
    expect(await b.head(key)).toMatchObject({ size: 64 * MiB, etag: info.etag });
    const actual = await sha256Of((await b.get(key))!);
    expect(actual).toEqual(expected);
    // A range that straddles a part boundary.
    const range = new Uint8Array(await new Response(await b.get(key, { range: { offset: 5 * MiB - 3, length: 6 } })).arrayBuffer());
    expect(range.byteLength).toBe(6);
    expect(await unfinishedUploads(key)).toEqual([]);
  }, 180_000);

  it("a Uint8Array larger than partSize goes multipart and round-trips", async () => {
    const key = `${ns("arr")}a.bin`;
    const data = new Uint8Array(11 * MiB).map((_, i) => (i * 7) & 255);
    const info = await backend().put(key, data);
    expect(info.size).toBe(data.byteLength);
    const back = new Uint8Array(await new Response(await backend().get(key)).arrayBuffer());
    expect(createHash("sha256").update(back).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
  }, 60_000);

  it("aborting a multipart put mid-upload leaves no object and no unfinished upload", async () => {
    const key = `${ns("abort")}model.bin`;
    const controller = new AbortController();
    const body = noise(64 * MiB, { onChunk: (sent) => sent >= 17 * MiB && controller.abort(new Error("user cancelled")) });
    const error = await backend({ partSize: 5 * MiB }).put(key, body, { signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "ABORTED" });
    expect(await backend().head(key)).toBeNull();
    expect(await unfinishedUploads(key)).toEqual([]);
  }, 60_000);

  it("a source stream that fails after two parts aborts the multipart upload", async () => {
    const key = `${ns("srcfail")}model.bin`;
    const inner = noise(64 * MiB);
    const reader = inner.getReader();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent >= 12 * MiB) return controller.error(new Error("disk read failed"));
        const { value } = await reader.read();
        sent += value!.byteLength;
        controller.enqueue(value!);
      },
    });
    await expect(backend().put(key, body)).rejects.toThrow("disk read failed");
    expect(await backend().head(key)).toBeNull();
    expect(await unfinishedUploads(key)).toEqual([]);
  }, 60_000);

  it("get() with a range past the end yields an empty stream (416), of a missing key null", async () => {
    const key = `${ns("range")}r`;
    const b = backend();
    await b.put(key, bytes("0123456789"));
    expect(await text(await b.get(key, { range: { offset: 3, length: 4 } }))).toBe("3456");
    expect(await text(await b.get(key, { range: { offset: 7 } }))).toBe("789");
    expect(await text(await b.get(key, { range: { offset: 100, length: 5 } }))).toBe("");
    expect(await b.get(`${key}-missing`, { range: { offset: 0, length: 1 } })).toBeNull();
  });

  it("keys with spaces, +, unicode, :, // and reserved characters round-trip", async () => {
    const prefix = ns("keys");
    const b = backend();
    const keys = ["a b+c", "ü/日本/😀", "x:y", "double//slash", "q?&=#%25", "paren(1)!*'~", "trailing "].map((k) => prefix + k);
    for (const key of keys) await b.put(key, bytes(key));
    for (const key of keys) expect(await text(await b.get(key))).toBe(key);
    expect((await collect(b.list(prefix))).map((i) => i.key).sort()).toEqual([...keys].sort());
    await expect(() => b.head(`${prefix}../escape`)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("conditional puts on Swift: the probe finds no support, capabilities stay false, and HEAD emulation refuses existing keys", async () => {
    const prefix = ns("cond");
    const b = backend();
    // Pessimistic until probed: see S3BackendImpl's constructor.
    expect(b.capabilities.conditionalWrites).toBe(false);
    const first = await b.put(`${prefix}once`, bytes("first"), { ifNoneMatch: "*" });
    expect(b.capabilities.conditionalWrites).toBe(false);
    await expect(b.put(`${prefix}once`, bytes("second"), { ifNoneMatch: "*" })).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    expect(await text(await b.get(`${prefix}once`))).toBe("first");
    await expect(b.put(`${prefix}once`, bytes("x"), { ifMatch: '"0123"' })).rejects.toMatchObject({ code: "CONFLICT" });
    const swapped = await b.put(`${prefix}once`, bytes("third"), { ifMatch: first.etag });
    expect(swapped.etag).not.toBe(first.etag);
    await expect(b.put(`${prefix}missing`, bytes("x"), { ifMatch: first.etag })).rejects.toMatchObject({ code: "CONFLICT" });
    // The probe cleaned up after itself.
    expect(await collect(b.list(".modelstore-probe/"))).toEqual([]);
  });

  it("conditional puts forced native: Swift's 501 flips capabilities and the put falls back to the HEAD check", async () => {
    const key = `${ns("native")}k`;
    const b = backend({ conditionalWrites: "native" });
    await b.put(key, bytes("first"));
    expect(b.capabilities.conditionalWrites).toBe(true);
    await expect(b.put(key, bytes("second"), { ifNoneMatch: "*" })).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    expect(b.capabilities.conditionalWrites).toBe(false);
    expect(await text(await b.get(key))).toBe("first");
    const created = await b.put(`${key}-new`, bytes("n"), { ifNoneMatch: "*" });
    expect(created.size).toBe(1);
  });

  it("a create-only multipart put refuses an existing key before uploading", async () => {
    const key = `${ns("condmp")}big`;
    const b = backend({ conditionalWrites: "emulate" });
    await b.put(key, bytes("small"));
    await expect(b.put(key, noise(12 * MiB), { ifNoneMatch: "*" })).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    expect(await text(await b.get(key))).toBe("small");
    expect(await unfinishedUploads(key)).toEqual([]);
  });

  it("a 503 to the first part PUT is retried and the upload succeeds", async () => {
    // Part 1 by its number, not the first part PUT to arrive: the parts are signed
    // concurrently (WebCrypto on the thread pool) and sent on separate connections,
    // so part 2 or 3 can reach the proxy first.
    const partNumberOf = (url: string) => new URL(url, "http://proxy").searchParams.get("partNumber");
    let failed = false;
    const proxy = await startFaultProxy(server.endpoint, (req) => {
      if (!failed && req.method === "PUT" && partNumberOf(req.url ?? "") === "1") {
        failed = true;
        return "503";
      }
      return "forward";
    });
    try {
      const key = `${ns("503")}m.bin`;
      const data = new Uint8Array(12 * MiB).map((_, i) => i & 255);
      const info = await backend({}, proxy.endpoint).put(key, data);
      expect(info.size).toBe(data.byteLength);
      expect(failed).toBe(true);
      const partPuts = proxy.seen.filter((line) => line.startsWith("PUT ") && partNumberOf(line.slice("PUT ".length)) === "1");
      // The 503 and its retry; under load a reused keep-alive connection may drop once more and be resent.
      expect(partPuts.length).toBeGreaterThanOrEqual(2);
      const back = new Uint8Array(await new Response(await backend().get(key)).arrayBuffer());
      // Hashes, not toEqual: a deep diff of 12 MiB takes minutes.
      expect(createHash("sha256").update(back).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it("multipart parts go as one-chunk streams with a Content-Length, and round-trip", async () => {
    const parts: { stream: boolean; length: string | null }[] = [];
    const recording: typeof fetch = (input, init) => {
      if (String(input).includes("partNumber=")) {
        parts.push({ stream: init?.body instanceof ReadableStream, length: new Headers(init?.headers).get("content-length") });
      }
      return fetch(input, init);
    };
    const key = `${ns("streamed")}m.bin`;
    const data = new Uint8Array(12 * MiB).map((_, i) => (i * 13) & 255);
    await backend({ fetch: recording, concurrency: 2 }).put(key, data);
    expect(parts).toEqual([
      { stream: true, length: String(5 * MiB) },
      { stream: true, length: String(5 * MiB) },
      { stream: true, length: String(2 * MiB) },
    ]);
    const back = new Uint8Array(await new Response(await backend().get(key)).arrayBuffer());
    expect(createHash("sha256").update(back).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
  }, 60_000);

  for (const refusal of ["throws", "answers 411"] as const) {
    it(`a fetch that ${refusal} for stream bodies gets the part again as bytes, and plain bodies from then on`, async () => {
      let streamed = 0;
      let plain = 0;
      const noStreams: typeof fetch = async (input, init) => {
        if (String(input).includes("partNumber=")) {
          if (init?.body instanceof ReadableStream) {
            streamed++;
            await init.body.cancel();
            if (refusal === "throws") throw new TypeError("fetch failed: streaming upload bodies are not supported");
            return new Response("<Error><Code>MissingContentLength</Code></Error>", { status: 411 });
          }
          plain++;
        }
        return fetch(input, init);
      };
      const key = `${ns("nostream")}m.bin`;
      await backend({ fetch: noStreams, concurrency: 1 }).put(key, noise(12 * MiB));
      expect({ streamed, plain }).toEqual({ streamed: 1, plain: 3 });
      expect(await sha256Of((await backend().get(key))!)).toEqual(await sha256Of(noise(12 * MiB)));
      expect(await unfinishedUploads(key)).toEqual([]);
    }, 60_000);
  }

  it("a connection reset during a single PUT fails with a network BackendError after retries and leaves nothing", async () => {
    const proxy = await startFaultProxy(server.endpoint, (req) => (req.method === "PUT" ? "reset" : "forward"));
    try {
      const key = `${ns("reset")}x.bin`;
      const error = await backend({ retries: 2 }, proxy.endpoint)
        .put(key, noise(2 * MiB), { size: 2 * MiB })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BackendError);
      expect(error).toMatchObject({ operation: "PutObject", key });
      expect((error as Error).message).toMatch(/no answer from 127\.0\.0\.1.*after 3 attempts/);
      expect(proxy.seen.filter((line) => line.startsWith("PUT ")).length).toBe(3);
      expect(await backend().head(key)).toBeNull();
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it("a connection reset once during a single PUT is retried (the body is buffered, so replayable)", async () => {
    let resets = 0;
    const proxy = await startFaultProxy(server.endpoint, (req) => (req.method === "PUT" && resets++ === 0 ? "reset" : "forward"));
    try {
      const key = `${ns("reset1")}x.bin`;
      await backend({}, proxy.endpoint).put(key, noise(2 * MiB));
      expect((await backend().head(key))?.size).toBe(2 * MiB);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it("a GET whose body breaks off resumes with a ranged GET pinned by If-Match, whole ranges too", async () => {
    const key = `${ns("cut")}m.bin`;
    const data = new Uint8Array(3 * MiB).map((_, i) => (i * 7) & 255);
    await backend().put(key, data);
    let cuts = 0;
    const ranges: (string | undefined)[] = [];
    const proxy = await startFaultProxy(server.endpoint, (req) => {
      if (req.method !== "GET") return "forward";
      ranges.push(req.headers.range);
      // Cut each read's first answer: the whole object's, then the ranged one's.
      return ranges.length === 1 || ranges.length === 3 ? (cuts++, "cut") : "forward";
    });
    try {
      const b = backend({}, proxy.endpoint);
      expect((await sha256Of((await b.get(key))!)).sha256).toBe(createHash("sha256").update(data).digest("hex"));
      const ranged = await sha256Of((await b.get(key, { range: { offset: 1000, length: MiB } }))!);
      expect(ranged.sha256).toBe(createHash("sha256").update(data.subarray(1000, 1000 + MiB)).digest("hex"));
      expect(cuts).toBe(2);
      expect(ranges).toEqual([undefined, `bytes=${CUT_AFTER}-`, `bytes=1000-${1000 + MiB - 1}`, `bytes=${1000 + CUT_AFTER}-${1000 + MiB - 1}`]);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it("a GET body that goes silent is given up after requestTimeoutMs and resumed, instead of hanging the read", async () => {
    const key = `${ns("stall")}m.bin`;
    const data = new Uint8Array(MiB).map((_, i) => (i * 13) & 255);
    await backend().put(key, data);
    const ranges: (string | undefined)[] = [];
    const proxy = await startFaultProxy(server.endpoint, (req) => {
      if (req.method !== "GET") return "forward";
      ranges.push(req.headers.range);
      return ranges.length === 1 ? { stallAfter: 100_000 } : "forward";
    });
    try {
      const started = performance.now();
      const read = await sha256Of((await backend({ requestTimeoutMs: 500 }, proxy.endpoint).get(key))!);
      expect(read.sha256).toBe(createHash("sha256").update(data).digest("hex"));
      expect(ranges).toEqual([undefined, "bytes=100000-"]);
      expect(performance.now() - started).toBeLessThan(10_000);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it("a reader that pauses longer than requestTimeoutMs is not taken for a silent body: only waiting reads count", async () => {
    const key = `${ns("pause")}m.bin`;
    const data = new Uint8Array(4 * MiB).map((_, i) => (i * 31) & 255);
    await backend().put(key, data);
    const ranges: (string | undefined)[] = [];
    const proxy = await startFaultProxy(server.endpoint, (req) => {
      if (req.method === "GET") ranges.push(req.headers.range);
      return "forward";
    });
    try {
      const reader = (await backend({ requestTimeoutMs: 300 }, proxy.endpoint).get(key))!.getReader();
      const chunks: Uint8Array[] = [];
      for (let i = 0; ; i++) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        if (i === 0 || i === 5) await new Promise((resolve) => setTimeout(resolve, 900)); // busy elsewhere, three timeouts long
      }
      expect(createHash("sha256").update(Buffer.concat(chunks)).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
      expect(ranges).toEqual([undefined]); // never resumed
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it("a GET body that keeps breaking off fails with a BackendError, not fetch's TypeError", async () => {
    const key = `${ns("cutall")}m.bin`;
    await backend().put(key, new Uint8Array(2 * MiB));
    const proxy = await startFaultProxy(server.endpoint, (req) => (req.method === "GET" ? "cut" : "forward"));
    try {
      const body = (await backend({ retries: 1 }, proxy.endpoint).get(key))!;
      const error = await sha256Of(body).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BackendError);
      expect(error).toMatchObject({ operation: "GetObject", key });
      expect((error as Error).message).toMatch(new RegExp(`broke off after ${2 * CUT_AFTER} bytes`));
      expect(proxy.seen.filter((line) => line.startsWith("GET ")).length).toBe(2);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it("a resumed GET of an object replaced meanwhile fails with PreconditionFailed instead of splicing versions", async () => {
    const key = `${ns("replaced")}m.bin`;
    await backend().put(key, new Uint8Array(2 * MiB).fill(1));
    let gets = 0;
    const proxy = await startFaultProxy(server.endpoint, (req) => (req.method === "GET" && gets++ === 0 ? "cut" : "forward"));
    try {
      const body = (await backend({}, proxy.endpoint).get(key))!;
      const reader = body.getReader();
      await reader.read();
      // Replace the object before the body reaches the cut and resumes.
      await backend().put(key, new Uint8Array(2 * MiB).fill(2));
      const error = await readUntilError(reader);
      expect(error).toMatchObject({ name: "BackendError", status: 412, message: expect.stringContaining("replaced while it was being read") });
    } finally {
      await proxy.close();
    }
  }, 60_000);

  describe("downloadConcurrency: whole objects read as ranged GETs", () => {
    const PART = 5 * MiB; // S3's smallest part size
    const data = new Uint8Array(3 * PART + 1234).map((_, i) => (i * 31 + (i >>> 16)) & 255);
    const digest = createHash("sha256").update(data).digest("hex");
    const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
    const recordGets = (requests: { range?: string; ifMatch?: string }[], fault: (n: number) => "forward" | "cut" = () => "forward") =>
      startFaultProxy(server.endpoint, (req) => {
        if (req.method !== "GET" || req.url?.includes("?")) return "forward";
        requests.push({ range: req.headers.range, ifMatch: req.headers["if-match"] as string | undefined });
        return fault(requests.length);
      });

    it("reads the parts in order, the first asking for part one and the rest pinned to its ETag by If-Match", async () => {
      const key = `${ns("pget")}m.bin`;
      const etag = (await backend({ partSize: PART }).put(key, data)).etag;
      const requests: { range?: string; ifMatch?: string }[] = [];
      const proxy = await recordGets(requests);
      try {
        const b = backend({ partSize: PART, downloadConcurrency: 3 }, proxy.endpoint);
        expect((await sha256Of((await b.get(key))!)).sha256).toBe(digest);
        const end = (part: number) => Math.min(data.length, (part + 1) * PART) - 1;
        expect(requests[0]).toEqual({ range: `bytes=0-${PART - 1}`, ifMatch: undefined });
        expect(requests.slice(1).sort((a, b) => a.range!.localeCompare(b.range!, "en", { numeric: true }))).toEqual(
          [1, 2, 3].map((part) => ({ range: `bytes=${part * PART}-${end(part)}`, ifMatch: expect.stringContaining(etag) })),
        );
        // A ranged read and an object within one part take one GET each, as before.
        requests.length = 0;
        expect((await sha256Of((await b.get(key, { range: { offset: 7, length: 100 } }))!)).sha256).toBe(sha(data.subarray(7, 107)));
        const small = `${ns("pget-small")}s.bin`;
        await backend().put(small, data.subarray(0, 1000));
        expect((await sha256Of((await b.get(small))!)).sha256).toBe(sha(data.subarray(0, 1000)));
        expect(requests.map((r) => r.range)).toEqual(["bytes=7-106", `bytes=0-${PART - 1}`]);
      } finally {
        await proxy.close();
      }
    }, 60_000);

    it("an empty object reads as no bytes, and a missing one as null", async () => {
      const b = backend({ partSize: PART, downloadConcurrency: 3 });
      const key = `${ns("pget-empty")}e.bin`;
      await b.put(key, new Uint8Array(0));
      expect((await sha256Of((await b.get(key))!)).size).toBe(0);
      expect(await b.get(`${ns("pget-missing")}none.bin`)).toBeNull();
    }, 60_000);

    it("a part whose body breaks off resumes within its own range", async () => {
      const key = `${ns("pget-cut")}m.bin`;
      await backend({ partSize: PART }).put(key, data);
      const requests: { range?: string; ifMatch?: string }[] = [];
      const proxy = await recordGets(requests, (n) => (n === 3 ? "cut" : "forward"));
      try {
        const b = backend({ partSize: PART, downloadConcurrency: 2 }, proxy.endpoint);
        expect((await sha256Of((await b.get(key))!)).sha256).toBe(digest);
        const cutPart = /^bytes=(\d+)-(\d+)$/.exec(requests[2].range!)!;
        expect(requests.map((r) => r.range)).toContain(`bytes=${Number(cutPart[1]) + CUT_AFTER}-${cutPart[2]}`);
        expect(requests).toHaveLength(5);
      } finally {
        await proxy.close();
      }
    }, 60_000);

    it("an object replaced between parts fails with PreconditionFailed instead of splicing versions", async () => {
      const key = `${ns("pget-replaced")}m.bin`;
      await backend({ partSize: PART }).put(key, data);
      const b = backend({ partSize: PART, downloadConcurrency: 2 });
      const reader = (await b.get(key))!.getReader();
      await reader.read();
      // Parts one and two are on their way; part three is asked for once part one is read.
      await backend({ partSize: PART }).put(key, data.slice().reverse());
      const error = await readUntilError(reader);
      expect(error).toMatchObject({ name: "BackendError", status: 412, message: expect.stringContaining("replaced while it was being read") });
    }, 60_000);

    it("refuses a downloadConcurrency that is not a positive integer", () => {
      expect(() => backend({ downloadConcurrency: 0 })).toThrow(/downloadConcurrency/);
    });
  });

  // AWS answers a CompleteMultipartUpload repeated after success with NoSuchUpload; Swift
  // answers it with success. The proxy plays AWS's part for the repeat.
  const firstCompleteFails = [
    { title: "whose answer was lost is retried, and a repeat answered by Swift counts as done", first: "drop-answer", repeat: "forward" },
    { title: "whose answer was lost is retried, and a repeat answered NoSuchUpload counts as done", first: "drop-answer", repeat: "no-such-upload" },
    { title: "answering 200 with an InternalError body is retried and the upload succeeds", first: { status: 200, code: "InternalError" }, repeat: "forward" },
  ] as const;
  for (const { title, first, repeat } of firstCompleteFails) {
    it(`a CompleteMultipartUpload ${title}`, async () => {
      let completes = 0;
      const proxy = await startFaultProxy(server.endpoint, (req) => {
        if (req.method !== "POST" || !req.url?.includes("uploadId=")) return "forward";
        return ++completes === 1 ? first : repeat;
      });
      try {
        const key = `${ns("lostcomplete")}m.bin`;
        const info = await backend({}, proxy.endpoint).put(key, noise(12 * MiB));
        expect(completes).toBe(2);
        expect(info.size).toBe(12 * MiB);
        expect(await sha256Of((await backend().get(key))!)).toEqual(await sha256Of(noise(12 * MiB)));
        expect(await unfinishedUploads(key)).toEqual([]);
      } finally {
        await proxy.close();
      }
    }, 60_000);
  }

  it("a NoSuchUpload answer to an upload that never completed still fails the put, and leaves no object", async () => {
    const proxy = await startFaultProxy(server.endpoint, (req) =>
      req.method === "POST" && req.url?.includes("uploadId=") ? "no-such-upload" : "forward",
    );
    try {
      const key = `${ns("nosuchupload")}m.bin`;
      await expect(backend({}, proxy.endpoint).put(key, noise(12 * MiB))).rejects.toMatchObject({ serverCode: "NoSuchUpload" });
      expect(await backend().head(key)).toBeNull();
      expect(await unfinishedUploads(key)).toEqual([]);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it("s3BackendFromEnv() reads the AWS variables and names a missing MODEL_STORE_AWS_BUCKET", async () => {
    const env = {
      AWS_ACCESS_KEY_ID: server.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
      AWS_DEFAULT_REGION: server.region,
      AWS_ENDPOINT_URL: server.endpoint,
    };
    expect(() => s3BackendFromEnv(env)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringContaining("MODEL_STORE_AWS_BUCKET") }));
    const b = s3BackendFromEnv({ ...env, MODEL_STORE_AWS_BUCKET: bucket });
    expect(b.bucket).toBe(bucket);
    const key = `${ns("env")}k`;
    await b.put(key, bytes("from env"));
    expect(await text(await b.get(key))).toBe("from env");
  });
});

/** Polls `check` until it holds, for at most `ms`; resolves whether it did. */
async function eventually(check: () => boolean, ms = 2_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

const isComplete = (req: IncomingMessage) => req.method === "POST" && !!req.url?.includes("uploadId=");
const isConditionalPut = (req: IncomingMessage) => req.method === "PUT" && !!(req.headers["if-none-match"] || req.headers["if-match"]);

describe("s3Backend failure handling (Swift behind the fault proxy)", () => {
  it("a redirect is not followed: nothing reaches the other host, and the call fails with a BackendError that says what to fix", async () => {
    const other = await startFaultProxy(server.endpoint, () => "forward");
    const proxy = await startFaultProxy(server.endpoint, (req): Fault =>
      req.method === "HEAD"
        ? { status: 301, headers: { "x-amz-bucket-region": "eu-west-3" } }
        : { status: 307, code: "TemporaryRedirect", headers: { location: `${other.endpoint}${req.url}` } },
    );
    try {
      const b = backend({ credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey, sessionToken: "SESSION-TOKEN" } }, proxy.endpoint);
      const key = `${ns("redirect")}k`;
      const put = await b.put(key, bytes("x")).catch((e: unknown) => e);
      expect(put).toBeInstanceOf(BackendError);
      expect(put).toMatchObject({ operation: "PutObject", status: 307, serverCode: "TemporaryRedirect" });
      expect((put as Error).message).toMatch(/redirected .*Set `endpoint`/);
      expect((put as Error).message).not.toContain("SESSION-TOKEN");
      await expect(b.get(key)).rejects.toMatchObject({ name: "BackendError", status: 307 });
      // 301 with the bucket's region: the message names it.
      await expect(b.head(key)).rejects.toMatchObject({ status: 301, message: expect.stringContaining('region "eu-west-3"') });
      // Tried once each: a redirect is an answer, not a fault to retry.
      expect(proxy.seen).toHaveLength(3);
      expect(other.seen).toEqual([]);
    } finally {
      await proxy.close();
      await other.close();
    }
  });

  it("AccessDenied names the permission the operation needs (and s3:ListBucket for reads, which AWS answers 403 for a missing key without)", async () => {
    const proxy = await startFaultProxy(server.endpoint, (req) => (req.method === "GET" || req.method === "PUT" ? { status: 403, code: "AccessDenied" } : "forward"));
    try {
      const denied = backend({}, proxy.endpoint);
      const read = await denied.get(`${ns("denied")}k`).catch((e: unknown) => e);
      expect(read).toMatchObject({ code: "BACKEND", status: 403, serverCode: "AccessDenied" });
      expect((read as Error).message).toContain("s3:GetObject");
      expect((read as Error).message).toContain("s3:ListBucket");
      const write = await denied.put(`${ns("denied")}k`, bytes("x")).catch((e: unknown) => e);
      expect((write as Error).message).toContain('The credentials need s3:PutObject on bucket');
      expect((write as Error).message).not.toContain("s3:ListBucket");
    } finally {
      await proxy.close();
    }
  });

  it("a 409 ConditionalRequestConflict to a conditional put is retried, and a lasting one is ALREADY_EXISTS or CONFLICT", async () => {
    let conflicts = 0;
    const once = await startFaultProxy(server.endpoint, (req) =>
      isConditionalPut(req) && conflicts++ === 0 ? { status: 409, code: "ConditionalRequestConflict" } : "forward",
    );
    const always = await startFaultProxy(server.endpoint, (req) => (isConditionalPut(req) ? { status: 409, code: "ConditionalRequestConflict" } : "forward"));
    try {
      // Retried: the second answer is Swift's 501, which falls back to the HEAD check and succeeds.
      const key = `${ns("409")}k`;
      await backend({ conditionalWrites: "native" }, once.endpoint).put(key, bytes("first"), { ifNoneMatch: "*" });
      expect(await text(await backend().get(key))).toBe("first");
      expect(once.seen.filter((line) => line.startsWith("PUT "))).toHaveLength(3);

      const create = await backend({ conditionalWrites: "native", retries: 2 }, always.endpoint)
        .put(`${key}-new`, bytes("x"), { ifNoneMatch: "*" })
        .catch((e: unknown) => e);
      expect(create).toMatchObject({ code: "ALREADY_EXISTS", message: expect.stringContaining("another conditional write") });
      const swap = await backend({ conditionalWrites: "native", retries: 2 }, always.endpoint)
        .put(key, bytes("y"), { ifMatch: '"0123"' })
        .catch((e: unknown) => e);
      expect(swap).toMatchObject({ code: "CONFLICT", message: expect.stringContaining("still conflicted after retries") });
      expect(always.seen.filter((line) => line.startsWith("PUT "))).toHaveLength(6);
      expect(await text(await backend().get(key))).toBe("first");
    } finally {
      await once.close();
      await always.close();
    }
  });

  it("a CompleteMultipartUpload that keeps answering 200 with SlowDown fails after the retries, says so plainly, and aborts the upload", async () => {
    const proxy = await startFaultProxy(server.endpoint, (req) => (isComplete(req) ? { status: 200, code: "SlowDown" } : "forward"));
    try {
      const key = `${ns("complete200x")}m.bin`;
      const error = await backend({ retries: 1 }, proxy.endpoint).put(key, noise(12 * MiB)).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: "BackendError", operation: "CompleteMultipartUpload", serverCode: "SlowDown", status: 200 });
      expect((error as Error).message).toMatch(/answered 200 with an error document, SlowDown.*after 2 attempts.*throttling/);
      expect((error as Error).message).not.toMatch(/failed with 200/);
      expect(proxy.seen.filter((line) => line.startsWith("POST ") && line.includes("uploadId="))).toHaveLength(2);
      expect(await backend().head(key)).toBeNull();
      expect(await unfinishedUploads(key)).toEqual([]);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it("a listing page whose body breaks off is asked for again; one that keeps breaking fails with a BackendError", async () => {
    const prefix = ns("listcut");
    for (const name of ["a", "b", "c"]) await backend().put(`${prefix}${name}`, bytes(name));
    let lists = 0;
    const isList = (req: IncomingMessage) => req.method === "GET" && !!req.url?.includes("list-type=2");
    const once = await startFaultProxy(server.endpoint, (req) => (isList(req) && lists++ === 0 ? { cutAfter: 100 } : "forward"));
    const always = await startFaultProxy(server.endpoint, (req) => (isList(req) ? { cutAfter: 100 } : "forward"));
    try {
      const listed = await collect(backend({}, once.endpoint).list(prefix));
      expect(listed.map((info) => info.key)).toEqual(["a", "b", "c"].map((name) => prefix + name));
      expect(lists).toBe(2);
      const error = await collect(backend({ retries: 1 }, always.endpoint).list(prefix)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BackendError);
      expect(error).toMatchObject({ operation: "ListObjectsV2", message: expect.stringContaining("after 2 attempts") });
    } finally {
      await once.close();
      await always.close();
    }
  });

  it("cancelling a downloadConcurrency read closes the part requests still waiting for their answers", async () => {
    const PART = 5 * MiB;
    const key = `${ns("pget-cancel")}m.bin`;
    await backend({ partSize: PART }).put(key, new Uint8Array(4 * PART));
    // Parts after the first are pinned with If-Match: hold their answers back.
    const proxy = await startFaultProxy(server.endpoint, (req) => (req.method === "GET" && req.headers["if-match"] ? { delayMs: 5_000 } : "forward"));
    try {
      const reader = (await backend({ partSize: PART, downloadConcurrency: 3 }, proxy.endpoint).get(key))!.getReader();
      await reader.read();
      expect(await eventually(() => proxy.held() === 2)).toBe(true);
      await reader.cancel(new Error("done with it"));
      expect(await eventually(() => proxy.closedEarly.length === 2, 1_000)).toBe(true);
      expect(proxy.held()).toBe(0);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it("an aborted multipart put does not wait long for AbortMultipartUpload, and tries it once", async () => {
    const proxy = await startFaultProxy(server.endpoint, (req) =>
      (req.method === "PUT" && req.url?.includes("partNumber=")) || (req.method === "DELETE" && req.url?.includes("uploadId=")) ? "hang" : "forward",
    );
    try {
      const b = backend({}, proxy.endpoint);
      (b as unknown as { transport: { cleanupTimeoutMs: number } }).transport.cleanupTimeoutMs = 300;
      const controller = new AbortController();
      const put = b.put(`${ns("abort-cleanup")}m.bin`, new Uint8Array(12 * MiB), { signal: controller.signal }).catch((e: unknown) => e);
      expect(await eventually(() => proxy.held() >= 1, 10_000)).toBe(true);
      controller.abort(new Error("user cancelled"));
      const started = Date.now();
      const outcome = await Promise.race([put, new Promise((resolve) => setTimeout(() => resolve("still pending"), 5_000))]);
      expect(outcome).toMatchObject({ code: "ABORTED" });
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(proxy.seen.filter((line) => line.startsWith("DELETE "))).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it("leaves no abort listener on the caller's signal after GETs end, fail or are cancelled, and after HEADs and listings", async () => {
    const b = backend();
    const key = `${ns("listeners")}k`;
    await b.put(key, bytes("hello"));
    const controller = new AbortController();
    const { signal } = controller;
    for (let i = 0; i < 12; i++) {
      expect(await text(await b.get(key, { signal }))).toBe("hello");
      await (await b.get(key, { signal }))!.cancel();
      expect(await b.get(`${key}-missing`, { signal })).toBeNull();
      expect(await b.head(key, { signal })).toMatchObject({ size: 5 });
    }
    await collect(b.list(key, { signal }));
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });

  it("one caller aborting does not fail the others waiting on the shared conditional-write probe", async () => {
    const proxy = await startFaultProxy(server.endpoint, (req) => (req.url?.includes(".modelstore-probe/") && req.method === "PUT" ? { delayMs: 300 } : "forward"));
    try {
      const b = backend({ conditionalWrites: "probe" }, proxy.endpoint);
      const prefix = ns("probe-signal");
      const controller = new AbortController();
      const first = b.put(`${prefix}a`, bytes("a"), { ifNoneMatch: "*", signal: controller.signal }).catch((e: unknown) => e);
      const second = b.put(`${prefix}b`, bytes("b"), { ifNoneMatch: "*" });
      setTimeout(() => controller.abort(new Error("gave up")), 100);
      expect(await first).toMatchObject({ code: "ABORTED" });
      expect((await second).size).toBe(1);
      expect(await text(await backend().get(`${prefix}b`))).toBe("b");
    } finally {
      await proxy.close();
    }
  });

  it("a failing credentials provider fails at once with a credentials error, and a key that is not well-formed Unicode is refused", async () => {
    const proxy = await startFaultProxy(server.endpoint, () => "forward");
    try {
      let calls = 0;
      const b = backend({
        credentials: async () => {
          calls++;
          throw new Error("STS AssumeRole denied: not authorized");
        },
      }, proxy.endpoint);
      const error = await b.head(`${ns("creds")}k`).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: "BackendError", operation: "HeadObject", message: expect.stringContaining("credentials provider failed (STS AssumeRole denied") });
      expect((error as Error).message).not.toMatch(/no answer|network/);
      expect(calls).toBe(1);
      expect(proxy.seen).toEqual([]);
      const good = backend({}, proxy.endpoint);
      await expect(good.put("bad\uD800key", bytes("x"))).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("well-formed Unicode") });
      await expect(collect(good.list("bad\uDC00prefix"))).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      expect(proxy.seen).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it("waits as long as a 503's Retry-After asks before trying again", async () => {
    let heads = 0;
    const proxy = await startFaultProxy(server.endpoint, (req): Fault =>
      req.method === "HEAD" && heads++ === 0 ? { status: 503, code: "SlowDown", headers: { "retry-after": "1" } } : "forward",
    );
    try {
      const started = Date.now();
      expect(await backend({}, proxy.endpoint).head(`${ns("retry-after")}k`)).toBeNull();
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      expect(heads).toBeGreaterThanOrEqual(2);
    } finally {
      await proxy.close();
    }
  });
});

describe("bucket URLs", () => {
  it("goes virtual-hosted on AWS for DNS-safe names, path-style for dotted and legacy names (capitals, _) and custom endpoints", () => {
    const base = (bucket: string, endpoint?: string) => resolveS3Options({ bucket, region: "eu-west-1", endpoint, credentials: { accessKeyId: "a", secretAccessKey: "s" } }).baseUrl;
    expect(base("models")).toBe("https://models.s3.eu-west-1.amazonaws.com");
    expect(base("my.models")).toBe("https://s3.eu-west-1.amazonaws.com/my.models");
    expect(base("Legacy_Bucket")).toBe("https://s3.eu-west-1.amazonaws.com/Legacy_Bucket");
    expect(base("models", "http://127.0.0.1:9000")).toBe("http://127.0.0.1:9000/models");
  });
});

describe("s3BackendFromEnv", () => {
  const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
  it("needs no variable for an option the overrides supply", () => {
    expect(s3BackendFromEnv({}, { bucket: "from-overrides", credentials }).bucket).toBe("from-overrides");
    expect(s3BackendFromEnv({ MODEL_STORE_AWS_BUCKET: "from-env" }, { credentials }).bucket).toBe("from-env");
    expect(s3BackendFromEnv({ AWS_ACCESS_KEY_ID: "AKID", AWS_SECRET_ACCESS_KEY: "s" }, { bucket: "b" }).bucket).toBe("b");
  });

  it("still names the variable that is missing when no override supplies it", () => {
    // One key without the other is a mistake; neither means the AWS credential chain (s3-credential-chain.test.ts).
    expect(() => s3BackendFromEnv({ AWS_SECRET_ACCESS_KEY: "s" }, { bucket: "b" })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringContaining("AWS_ACCESS_KEY_ID") }));
    expect(() => s3BackendFromEnv({ AWS_ACCESS_KEY_ID: "AKID" }, { bucket: "b" })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringContaining("AWS_SECRET_ACCESS_KEY") }));
    expect(() => s3BackendFromEnv({}, { credentials })).toThrow(expect.objectContaining({ message: expect.stringContaining("MODEL_STORE_AWS_BUCKET") }));
  });
});

describe("PartReader", () => {
  function chunks(...parts: string[]): ReadableStream<Uint8Array> {
    return new ReadableStream({
      start(controller) {
        for (const part of parts) controller.enqueue(bytes(part));
        controller.close();
      },
    });
  }
  const decode = (part: Uint8Array | null) => (part ? new TextDecoder().decode(part) : null);

  it("cuts chunks into exact parts and reuses released buffers, never making more than its pool size", async () => {
    const reader = new PartReader(chunks("abcdefg", "hij", "klmnopqrstu", "vwxyz"), 4, undefined, 2);
    const a = await reader.next();
    const b = await reader.next();
    expect([decode(a), decode(b)]).toEqual(["abcd", "efgh"]);
    expect(reader.allocated).toBe(2);
    reader.release(a!);
    const c = await reader.next();
    expect(c!.buffer).toBe(a!.buffer);
    expect(decode(c)).toBe("ijkl");
    reader.release(b!);
    reader.release(c!);
    const rest: (string | null)[] = [];
    for (let part = await reader.next(); part; part = await reader.next()) {
      rest.push(decode(part));
      reader.release(part);
    }
    expect(rest).toEqual(["mnop", "qrst", "uvwx", "yz"]);
    expect(reader.allocated).toBe(2);
  });

  it("reads a byte stream straight into its pool buffers, cutting exact parts and reusing them", async () => {
    const data = bytes("abcdefghijklmnopqrstuvwxyz");
    const reader = new PartReader(byteStreamOf(data, 3), 4, undefined, 2);
    const first = await reader.next();
    const second = await reader.next();
    expect([decode(first), decode(second)]).toEqual(["abcd", "efgh"]);
    expect(reader.allocated).toBe(2);
    reader.release(first!);
    reader.release(second!);
    // Taken back although each read moved its buffer to a new ArrayBuffer object.
    expect(reader.idle).toBe(2);
    const rest: (string | null)[] = [];
    for (let part = await reader.next(); part; part = await reader.next()) {
      rest.push(decode(part));
      reader.release(part);
    }
    expect(rest).toEqual(["ijkl", "mnop", "qrst", "uvwx", "yz"]);
    expect(reader.allocated).toBe(2);
    expect(await reader.next()).toBeNull();
  });

  it("takes back only its own buffers", async () => {
    const reader = new PartReader(chunks("abcdefgh"), 4, undefined, 1);
    const a = await reader.next();
    reader.release(new Uint8Array(4));
    const b = await reader.next();
    expect(b!.buffer).not.toBe(a!.buffer);
    expect([decode(a), decode(b)]).toEqual(["abcd", "efgh"]);
    expect(reader.allocated).toBe(1);
  });
});

describe("multipartEtag", () => {
  it("is the MD5 of the parts' binary MD5s with the part count, as S3 computes it", () => {
    const a = createHash("md5").update("part one").digest();
    const b = createHash("md5").update("part two").digest();
    const expected = createHash("md5").update(Buffer.concat([a, b])).digest("hex");
    expect(multipartEtag([`"${a.toString("hex")}"`, b.toString("hex")])).toBe(`${expected}-2`);
    expect(multipartEtag(["not-an-md5"])).toBeUndefined();
  });
});

describe("S3 XML extraction", () => {
  it("decodes entities and numeric references, and does not confuse Key with KeyCount", () => {
    expect(decodeXmlText("a&amp;b&lt;c&gt;&quot;&apos;&#233;&#x1F600;")).toBe("a&b<c>\"'é😀");
    const xml = "<R><KeyCount>2</KeyCount><Contents><Key>a&amp;b</Key></Contents><Contents><Key/></Contents></R>";
    expect(xmlElements(xml, "Contents").map((c) => xmlText(c, "Key"))).toEqual(["a&b", ""]);
    expect(xmlText(xml, "KeyCount")).toBe("2");
  });
});

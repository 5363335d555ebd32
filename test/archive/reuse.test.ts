/**
 * The memory-reusing paths: archives as byte streams read into the reader's
 * own buffer, bodies that are byte streams read into one scratch buffer, and
 * the digest pass-through. Each must give exactly the bytes the plain paths give.
 */
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createArchive } from "../../src/archive/create-archive.ts";
import { createDigestStream, digestingStream, type DigestResult } from "../../src/digest/sha256.ts";
import { bufferBack } from "../../src/util/byob.ts";
import { IntegrityError } from "../../src/util/errors.ts";
import { byteStreamOf, collect, collectOwnBuffer, noise, sha256, streamOf, text } from "../support/bytes.ts";
import { readAll } from "./helpers.ts";

const weights = noise(9 * 1024 * 1024 + 123); // more than two 4 MiB gzip blocks
const vocab = text("token\n".repeat(300_000)); // compresses: a deflated block

function model(bodies: "bytes" | "stream" | "byte-stream") {
  const body = (b: Uint8Array) => (bodies === "bytes" ? b : bodies === "stream" ? streamOf(b, 100_003) : byteStreamOf(b, 100_003));
  return {
    files: [
      { path: "weights.bin", body: body(weights), size: weights.length },
      { path: "vocab.txt", body: body(vocab), size: vocab.length },
      { path: "empty.txt", body: body(new Uint8Array(0)), size: 0 },
    ],
  };
}

describe("archives read into the reader's own buffer", () => {
  it("give the same bytes to BYOB readers of any buffer size as to a default reader, whatever the bodies are", async () => {
    const plain = await collect(createArchive(model("bytes"), { deterministic: true }));
    for (const bodies of ["stream", "byte-stream"] as const) {
      expect(sha256(await collect(createArchive(model(bodies), { deterministic: true }))), bodies).toBe(sha256(plain));
      for (const size of [1000, 65_536, 1 << 20]) {
        const own = await collectOwnBuffer(createArchive(model(bodies), { deterministic: true }), size);
        expect(sha256(own), `${bodies}, ${size}-byte buffer`).toBe(sha256(plain));
      }
    }
    const entries = await readAll(streamOf(plain));
    expect(sha256(entries.find((e) => e.path === "weights.bin")!.bytes)).toBe(sha256(weights));
    expect(sha256(entries.find((e) => e.path === "vocab.txt")!.bytes)).toBe(sha256(vocab));
    expect(gunzipSync(plain).length).toBeGreaterThan(weights.length + vocab.length);
  });

  it("tiny reader buffers work too (7 bytes)", async () => {
    const data = noise(50_000);
    const plain = await collect(createArchive({ files: [{ path: "a.bin", body: data }] }, { deterministic: true }));
    const own = await collectOwnBuffer(createArchive({ files: [{ path: "a.bin", body: byteStreamOf(data, 999), size: data.length }] }, { deterministic: true }), 7);
    expect(sha256(own)).toBe(sha256(plain));
  });

  it("a byte-stream body that is shorter or longer than its size fails with IntegrityError", async () => {
    for (const actual of [999, 1001]) {
      const archive = createArchive({ files: [{ path: "w.bin", body: byteStreamOf(new Uint8Array(actual)), size: 1000 }] });
      await expect(collectOwnBuffer(archive, 4096), `${actual} bytes`).rejects.toBeInstanceOf(IntegrityError);
    }
  });
});

/** A byte stream whose BYOB reads answer in fresh buffers instead of the lent one, as workerd does for some streams. */
function answeringInOwnBuffers(stream: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  return {
    getReader(options?: { mode?: "byob" }) {
      const reader = stream.getReader(options as { mode: "byob" });
      if (options?.mode !== "byob") return reader;
      return {
        async read(view: Uint8Array) {
          const { done, value } = await reader.read(view);
          return { done, value: value?.slice() };
        },
        cancel: (reason?: unknown) => reader.cancel(reason),
        releaseLock: () => reader.releaseLock(),
      };
    },
  } as unknown as ReadableStream<Uint8Array>;
}

describe("digestingStream", () => {
  const archiveBytes = () => createArchive(model("byte-stream"), { deterministic: true });

  it("hashes what passes through, for BYOB and default readers, and for sources that are not byte streams", async () => {
    const expected = await collect(archiveBytes());
    const cases: [string, () => ReadableStream<Uint8Array>, (s: ReadableStream<Uint8Array>) => Promise<Uint8Array>][] = [
      ["byte source, BYOB reader", archiveBytes, (s) => collectOwnBuffer(s, 65_536)],
      ["byte source, BYOB reader of 1000-byte buffers", archiveBytes, (s) => collectOwnBuffer(s, 1000)],
      ["byte source, BYOB reader of 1 MiB buffers", archiveBytes, (s) => collectOwnBuffer(s, 1 << 20)],
      ["byte source answering in buffers of its own (as workerd may), BYOB reader", () => answeringInOwnBuffers(archiveBytes()), (s) => collectOwnBuffer(s, 65_536)],
      ["byte source, default reader", archiveBytes, collect],
      ["plain source, default reader", () => streamOf(expected, 10_000), collect],
    ];
    for (const [name, source, read] of cases) {
      let result: DigestResult | undefined;
      const progress: number[] = [];
      const out = await read(digestingStream(source(), (r) => (result = r), (n) => progress.push(n)));
      expect(sha256(out), name).toBe(sha256(expected));
      expect(result, name).toEqual({ size: expected.length, sha256: sha256(expected) });
      expect(progress.at(-1), name).toBe(expected.length);
    }
    // The same digest as the TransformStream.
    let viaTransform: DigestResult | undefined;
    await collect(streamOf(expected).pipeThrough(createDigestStream((r) => (viaTransform = r))));
    expect(viaTransform?.sha256).toBe(sha256(expected));
  });
});

describe("bufferBack", () => {
  it("keeps a lent buffer that came back whole, and replaces one a runtime swapped for a shorter one", () => {
    const lent = new ArrayBuffer(1024);
    expect(bufferBack(new Uint8Array(lent, 10, 20), 1024)).toBe(lent);
    const short = bufferBack(new Uint8Array(new ArrayBuffer(20)), 1024);
    expect(short.byteLength).toBe(1024);
    expect(bufferBack(undefined, 64).byteLength).toBe(64);
  });
});

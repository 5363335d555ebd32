/**
 * The R2 binding backend against workerd's own R2 (Miniflare, in memory):
 * the contract suite with conditional writes enforced by R2's `onlyIf`,
 * multipart uploads, and what a user gets wrong.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { r2Backend } from "../../../src/r2.ts";
import { startR2, type R2Fixture } from "../../support/miniflare-r2.ts";
import { collect, runBackendContract, text } from "../contract.ts";
import { noise, sha256, streamOf } from "../../support/bytes.ts";

let r2: R2Fixture;
beforeAll(async () => {
  r2 = await startR2();
}, 120_000);
afterAll(() => r2?.stop());

const MiB = 1024 * 1024;

runBackendContract("r2 (workerd binding)", async () => {
  await r2.empty();
  return { backend: r2Backend({ bucket: r2.bucket, partSize: 5 * MiB }) };
}, { conditionalWrites: true });

describe("r2Backend", () => {
  beforeEach(() => r2.empty());

  it("uploads a body over one part as a multipart upload, byte for byte, in uniform parts", async () => {
    const backend = r2Backend({ bucket: r2.bucket, partSize: 5 * MiB, concurrency: 2 });
    const body = noise(12 * MiB + 321);
    const parts: number[] = [];
    const bucket = Object.create(r2.bucket, {
      createMultipartUpload: {
        value: async (key: string, options: unknown) => {
          const upload = await r2.bucket.createMultipartUpload(key, options as never);
          return Object.assign(Object.create(upload), {
            uploadPart: (n: number, part: Uint8Array) => (parts.push(part.byteLength), upload.uploadPart(n, part)),
            complete: (list: never) => upload.complete(list),
            abort: () => upload.abort(),
          });
        },
      },
    });
    const counted = r2Backend({ bucket, partSize: 5 * MiB, concurrency: 2 });
    const info = await counted.put("big/weights.bin", streamOf(body, 100_000));
    expect(info.size).toBe(body.length);
    expect(parts).toEqual([5 * MiB, 5 * MiB, 2 * MiB + 321]);
    const stored = new Uint8Array(await new Response(await backend.get("big/weights.bin")).arrayBuffer());
    expect(sha256(stored)).toBe(sha256(body));
    expect((await backend.head("big/weights.bin"))?.size).toBe(body.length);
  });

  it("an upload that fails or is aborted halfway leaves nothing visible", async () => {
    const backend = r2Backend({ bucket: r2.bucket, partSize: 5 * MiB });
    let sent = 0;
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 11 * MiB) return controller.error(new Error("disk read failed halfway"));
        sent += MiB;
        controller.enqueue(noise(MiB));
      },
    });
    await expect(backend.put("big/broken.bin", failing)).rejects.toThrow(/halfway/);
    const abort = new AbortController();
    let pulled = 0;
    const slow = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (++pulled === 8) abort.abort();
        controller.enqueue(noise(MiB));
      },
    });
    await expect(backend.put("big/aborted.bin", slow, { signal: abort.signal })).rejects.toMatchObject({ code: "ABORTED" });
    expect(await collect(backend.list("big/"))).toEqual([]);
  });

  it("a body whose size differs from `size` is refused and nothing is stored", async () => {
    const backend = r2Backend({ bucket: r2.bucket, partSize: 5 * MiB });
    await expect(backend.put("a.bin", streamOf(noise(7 * MiB)), { size: 7 * MiB + 1 })).rejects.toMatchObject({ code: "INTEGRITY" });
    await expect(backend.put("b.bin", noise(10), { size: 11 })).rejects.toMatchObject({ code: "INTEGRITY" });
    expect(await collect(backend.list(""))).toEqual([]);
  });

  it("a conditional put larger than one part is refused before anything is sent (R2's multipart takes no conditions)", async () => {
    const backend = r2Backend({ bucket: r2.bucket, partSize: 5 * MiB });
    await expect(backend.put("c.bin", streamOf(noise(6 * MiB)), { ifNoneMatch: "*" })).rejects.toMatchObject({ code: "NOT_SUPPORTED" });
    expect(await backend.head("c.bin")).toBeNull();
  });

  it("records its locations as r2 {bucket, prefix} and refuses another store's", () => {
    const backend = r2Backend({ bucket: r2.bucket, bucketName: "models" });
    const location = backend.locate("root/refunds/versions/x.json");
    expect(location).toEqual({ type: "r2", bucket: "models", prefix: "root/refunds/versions/x.json" });
    expect(backend.keyOf(location)).toBe("root/refunds/versions/x.json");
    expect(() => backend.keyOf({ type: "s3", bucket: "models", prefix: "k" })).toThrow(/not in this R2 bucket/);
    expect(() => backend.keyOf({ type: "r2", bucket: "other", prefix: "k" })).toThrow(/not in this R2 bucket/);
  });

  it("says what to pass when the binding is missing or the part size is below R2's minimum", () => {
    expect(() => r2Backend({ bucket: undefined as never })).toThrow(/r2Backend\(\{ bucket: env.MODELS \}\)/);
    expect(() => r2Backend({ bucket: r2.bucket, partSize: MiB })).toThrow(/at least 5 MiB/);
  });

  it("stores what was put, not what the caller's buffer holds afterwards", async () => {
    const backend = r2Backend({ bucket: r2.bucket });
    const body = new TextEncoder().encode("first");
    await backend.put("k.txt", body);
    body.fill(0);
    expect(await text(await backend.get("k.txt"))).toBe("first");
  });
});

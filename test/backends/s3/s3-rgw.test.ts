/**
 * The S3 backend against Ceph RGW (test/support/ceph.sh), the second real S3
 * server: unlike Swift it enforces conditional writes, so the native path runs
 * here. It takes `If-Match` only with the bare etag and ignores conditions on
 * CompleteMultipartUpload. Everything else S3-specific is tested on Swift (s3.test.ts).
 */
import type { IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { s3Backend, type S3Backend, type S3BackendOptions } from "../../../src/backends/s3/s3.ts";
import { useCephServer } from "../../support/ceph-server.ts";
import { startFaultProxy } from "../../support/fault-proxy.ts";
import { startQuotedEtagProxy } from "../../support/quoted-etag-proxy.ts";
import { createBucket, type S3Server, partTestBackend } from "../../support/s3-server.ts";
import { bytes, collect, runBackendContract, text } from "../contract.ts";

const MiB = 1024 * 1024;
let server: S3Server;
let bucket: string;

beforeAll(async () => {
  server = await useCephServer();
  bucket = await createBucket(server, "rgwtest");
}, 300_000);

afterAll(async () => {
  await server?.stop();
});

function backend(extra: Partial<S3BackendOptions> = {}, endpoint = server.endpoint): S3Backend {
  return partTestBackend(server, bucket, extra, endpoint);
}

let seq = 0;
const ns = (label: string) => `rgw-${label}-${Date.now().toString(36)}-${++seq}/`;
const isProbe = (req: IncomingMessage) => req.url?.includes(".modelstore-probe") ?? false;

runBackendContract("s3 (Ceph RGW, conditional writes enforced)", async () => ({ backend: backend() }), {
  manyKeys: 1005,
  conditionalWrites: true,
  casWriters: 8,
});

describe("s3Backend on Ceph RGW", () => {
  it("the probe finds conditions enforced, settles capabilities to true, and sends If-Match with the bare etag RGW accepts", async () => {
    const ifMatch: string[] = [];
    const heads: string[] = [];
    const proxy = await startFaultProxy(server.endpoint, (req) => {
      if (!isProbe(req) && req.headers["if-match"]) ifMatch.push(String(req.headers["if-match"]));
      if (!isProbe(req) && req.method === "HEAD") heads.push(req.url ?? "");
      return "forward";
    });
    try {
      const key = `${ns("probe")}doc.json`;
      const b = backend({}, proxy.endpoint);
      expect(b.capabilities.conditionalWrites).toBe(false); // pessimistic until probed
      const first = await b.put(key, bytes("1"), { ifNoneMatch: "*" });
      expect(b.capabilities.conditionalWrites).toBe(true);
      // The second write of a document is what failed: RGW refused the quoted etag with 412.
      const second = await b.put(key, bytes("2"), { ifMatch: first.etag });
      await expect(b.put(key, bytes("3"), { ifMatch: first.etag })).rejects.toMatchObject({ code: "CONFLICT" });
      await b.put(key, bytes("3"), { ifMatch: second.etag });
      expect(await text(await b.get(key))).toBe("3");
      expect(ifMatch).toEqual([first.etag, first.etag, second.etag].map((etag) => etag.replace(/"/g, "")));
      // Enforced by the server: no HEAD check before conditional puts.
      expect(heads).toEqual([]);
      expect(await collect(b.list(".modelstore-probe/"))).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it("a server that takes only the quoted etag (as AWS documents) is sent the quoted etag", async () => {
    const proxy = await startQuotedEtagProxy(server);
    try {
      const key = `${ns("quoted")}doc.json`;
      const b = backend({}, proxy.endpoint);
      const first = await b.put(key, bytes("1"), { ifNoneMatch: "*" });
      expect(b.capabilities.conditionalWrites).toBe(true);
      const probing = proxy.ifMatch.length;
      await b.put(key, bytes("2"), { ifMatch: first.etag });
      await expect(b.put(key, bytes("3"), { ifMatch: first.etag })).rejects.toMatchObject({ code: "CONFLICT" });
      expect(await text(await b.get(key))).toBe("2");
      expect(proxy.ifMatch.slice(probing)).toEqual([first.etag, first.etag]);
      expect(first.etag).toMatch(/^"[0-9a-f]{32}"$/);
    } finally {
      await proxy.close();
    }
  });

  it("a server that refuses the right etag in both forms is emulated: capabilities stay false and compare-and-swap still works", async () => {
    // As if RGW understood no If-Match at all: every PUT carrying one is refused.
    const proxy = await startFaultProxy(server.endpoint, (req) =>
      req.method === "PUT" && req.headers["if-match"] ? { status: 412, code: "PreconditionFailed" } : "forward",
    );
    try {
      const key = `${ns("neither")}doc.json`;
      const b = backend({}, proxy.endpoint);
      const first = await b.put(key, bytes("1"), { ifNoneMatch: "*" });
      expect(b.capabilities.conditionalWrites).toBe(false);
      await b.put(key, bytes("2"), { ifMatch: first.etag });
      await expect(b.put(key, bytes("3"), { ifMatch: first.etag })).rejects.toMatchObject({ code: "CONFLICT" });
      await expect(b.put(key, bytes("3"), { ifNoneMatch: "*" })).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
      expect(await text(await b.get(key))).toBe("2");
    } finally {
      await proxy.close();
    }
  });

  it("conditional puts that go multipart are refused too, though RGW ignores conditions on CompleteMultipartUpload", async () => {
    const key = `${ns("multipart")}model.bin`;
    const b = backend();
    const big = (fill: number) => new Uint8Array(11 * MiB).fill(fill);
    const first = await b.put(key, big(1), { ifNoneMatch: "*" });
    expect(await b.head(key)).toMatchObject({ size: 11 * MiB, etag: first.etag });
    await expect(b.put(key, big(2), { ifNoneMatch: "*" })).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    await expect(b.put(key, big(3), { ifMatch: '"0123456789abcdef0123456789abcdef-2"' })).rejects.toMatchObject({ code: "CONFLICT" });
    const second = await b.put(key, big(4), { ifMatch: first.etag });
    expect(second.etag).not.toBe(first.etag);
    const stored = new Uint8Array(await new Response(await b.get(key, { range: { offset: 5 * MiB, length: 4 } })).arrayBuffer());
    expect([...stored]).toEqual([4, 4, 4, 4]);
    expect(await collect(b.list(".modelstore-probe/"))).toEqual([]);
  }, 60_000);
});

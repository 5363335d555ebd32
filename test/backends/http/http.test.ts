import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelStore } from "../../../src/index.ts";
import type { Backend } from "../../../src/backends/backend.ts";
import { fileSystemBackend } from "../../../src/fs.ts";
import { httpBackend, type HttpBackend } from "../../../src/http.ts";
import { collect, noise, sha256 } from "../../support/bytes.ts";
import { useCephServer } from "../../support/ceph-server.ts";
import { backendOn, createBucket, testClient, useS3Server, type S3Server } from "../../support/s3-server.ts";
import { startStaticServer, type StaticServer } from "../../support/static-server.ts";

const encoder = new TextEncoder();
const config = encoder.encode('{ "threshold": 0.5 }');
/** Large enough that reading config.json whole would show in the bytes served. */
const weights = noise(3 * 1024 * 1024);

/** A store written with credentials, and the same store read over public HTTP. */
interface PublicStore {
  writer: Backend;
  reader: HttpBackend;
  /** Whether the server answers ListObjectsV2 anonymously. */
  listable: boolean;
  /** Bytes of archive bodies the server sent since the last call, where the test can count them. */
  servedArchiveBytes?: () => number;
}

/** The reads every public HTTP store passes, whatever serves it. */
function publicReadSuite(name: string, make: () => Promise<PublicStore>): void {
  describe(`public HTTP backend (${name})`, () => {
    let subject: PublicStore;
    let first: string;
    let latest: string;
    beforeAll(async () => {
      subject = await make();
      const writer = new ModelStore({ backend: subject.writer });
      first = (await writer.upload("refunds", { files: [{ path: "config.json", body: config }] })).model.model_id;
      latest = (await writer.upload("refunds", { files: [{ path: "weights.bin", body: weights }, { path: "config.json", body: config }] })).model.model_id;
    }, 120_000);

    it("getLatest and getModelInfo read the documents the writer stored", async () => {
      const store = new ModelStore({ backend: subject.reader });
      expect((await store.getLatest("refunds")).model.model_id).toBe(latest);
      expect((await store.getModelInfo("refunds", first)).model.model_id).toBe(first);
      await expect(store.getModelInfo("refunds", "00000000-0000-4000-8000-000000000000")).rejects.toMatchObject({ code: "NOT_FOUND" });
    });

    it("readFile reads one file through the archive index, with ranged reads only", async () => {
      const store = new ModelStore({ backend: subject.reader });
      subject.servedArchiveBytes?.();
      const body = await store.readFile("refunds", latest, "config.json");
      expect(new TextDecoder().decode(await collect(body!))).toBe('{ "threshold": 0.5 }');
      if (subject.servedArchiveBytes) expect(subject.servedArchiveBytes()).toBeLessThan(512 * 1024);
      const part = await store.readFile("refunds", undefined, "weights.bin", { range: { offset: 1000, length: 5000 } });
      expect(await collect(part!)).toEqual(weights.subarray(1000, 6000));
      expect(await store.readFile("refunds", latest, "missing.txt")).toBeNull();
    });

    it("getArchive streams the whole archive, its sha256 verified", async () => {
      const store = new ModelStore({ backend: subject.reader });
      const info = await store.getModelInfo("refunds", latest);
      const bytes = await collect(await store.getArchive("refunds", latest));
      expect(sha256(bytes)).toBe(info.archive!.sha256);
    });

    it("get with a range, head, and null for a missing key", async () => {
      const archiveKey = await archiveKeyOf(subject.writer, latest);
      const whole = await collect((await subject.writer.get(archiveKey))!);
      const head = await subject.reader.head(archiveKey);
      expect(head).toMatchObject({ key: archiveKey, size: whole.byteLength });
      expect(head!.etag).not.toBe("");
      expect(await collect((await subject.reader.get(archiveKey, { range: { offset: 10, length: 20 } }))!)).toEqual(whole.subarray(10, 30));
      expect(await collect((await subject.reader.get(archiveKey, { range: { offset: whole.byteLength - 7 } }))!)).toEqual(whole.subarray(whole.byteLength - 7));
      expect(await collect((await subject.reader.get(archiveKey, { range: { offset: whole.byteLength + 5 } }))!)).toEqual(new Uint8Array(0));
      expect(await subject.reader.get("operatorai-model-store/refunds/nothing-here.json")).toBeNull();
      expect(await subject.reader.head("operatorai-model-store/refunds/nothing-here.json")).toBeNull();
    });

    it("writes fail with NOT_SUPPORTED and say the backend is read-only", async () => {
      const store = new ModelStore({ backend: subject.reader });
      await expect(store.upload("refunds", { files: [{ path: "a.txt", body: config }] })).rejects.toMatchObject({ code: "NOT_SUPPORTED" });
      const error = await subject.reader.put("x/y.json", config).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "NOT_SUPPORTED" });
      expect((error as Error).message).toContain("read-only");
      await expect(subject.reader.delete("x/y.json")).rejects.toMatchObject({ code: "NOT_SUPPORTED" });
      await expect(store.signedUrl("refunds", latest, { expiresIn: 60 })).rejects.toMatchObject({ code: "NOT_SUPPORTED" });
    });

    it("listModels lists where the server answers ListObjectsV2 anonymously, else fails with NOT_SUPPORTED", async () => {
      const store = new ModelStore({ backend: subject.reader });
      if (subject.listable) {
        expect((await store.listModels("refunds")).map((m) => m.model.model_id)).toEqual([latest, first]);
        expect(await store.listDomains()).toEqual(["refunds"]);
      } else {
        const error = await store.listModels("refunds").catch((e: unknown) => e);
        expect(error).toMatchObject({ code: "NOT_SUPPORTED" });
        expect((error as Error).message).toContain("ListObjectsV2");
      }
    });
  });
}

/** The archive key of model `id`, from its metadata: a bucket's prefix, or the file-system path below the root. */
async function archiveKeyOf(writer: Backend, id: string): Promise<string> {
  const { storage } = await new ModelStore({ backend: writer }).getModelInfo("refunds", id);
  if (storage.prefix) return storage.prefix;
  const path = storage.path ?? "";
  return path.slice(path.lastIndexOf("operatorai-model-store/"));
}

describe("public HTTP backend", () => {
  let dir: string;
  let staticServer: StaticServer;
  let swift: S3Server;
  let rgw: S3Server;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "modelstore-http-"));
    staticServer = await startStaticServer(dir);
    [swift, rgw] = await Promise.all([useS3Server(), useCephServer()]);
  }, 300_000);
  afterAll(async () => {
    await staticServer?.close();
    await Promise.all([swift?.stop(), rgw?.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  publicReadSuite("a file-system store served by a static file server", async () => {
    const archiveBytes = () => staticServer.requests.filter((r) => r.path.endsWith("artifacts.tar.gz")).reduce((sum, r) => sum + r.bytes, 0);
    let seen = 0;
    return {
      writer: fileSystemBackend({ root: dir }),
      reader: httpBackend({ baseUrl: staticServer.url }),
      listable: false,
      servedArchiveBytes: () => {
        const total = archiveBytes();
        const served = total - seen;
        seen = total;
        return served;
      },
    };
  });

  publicReadSuite("Ceph RGW, a bucket whose policy lets anyone get and list", async () => {
    const bucket = await createBucket(rgw, "public");
    const policy = {
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: "*", Action: ["s3:GetObject", "s3:ListBucket"], Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] }],
    };
    const response = await testClient(rgw).fetch(`${rgw.endpoint}/${bucket}?policy`, { method: "PUT", body: JSON.stringify(policy) });
    if (!response.ok) throw new Error(`PutBucketPolicy: ${response.status} ${await response.text()}`);
    return { writer: backendOn(rgw, bucket), reader: httpBackend({ baseUrl: `${rgw.endpoint}/${bucket}` }), listable: true };
  });

  publicReadSuite("OpenStack Swift, a public-read container read at its Swift URL", async () => {
    const bucket = await createBucket(swift, "public");
    const response = await testClient(swift).fetch(`${swift.endpoint}/${bucket}?acl`, { method: "PUT", headers: { "x-amz-acl": "public-read" } });
    if (!response.ok) throw new Error(`PutBucketAcl: ${response.status} ${await response.text()}`);
    return { writer: backendOn(swift, bucket), reader: httpBackend({ baseUrl: `${swift.endpoint}/v1/AUTH_test/${bucket}` }), listable: false };
  });

  it("a private RGW bucket read anonymously fails with 403 and advice, not as a missing model", async () => {
    const bucket = await createBucket(rgw, "private");
    await backendOn(rgw, bucket).put("operatorai-model-store/refunds/latest.json", config);
    const error = await httpBackend({ baseUrl: `${rgw.endpoint}/${bucket}` }).get("operatorai-model-store/refunds/latest.json").catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "BACKEND", status: 403, serverCode: "AccessDenied" });
    expect((error as Error).message).toContain("public-read");
  });

  it("a server that ignores Range still yields only the bytes asked for", async () => {
    const { createServer } = await import("node:http");
    const body = noise(10_000);
    const server = createServer((_req, res) => res.end(body));
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    try {
      const port = (server.address() as { port: number }).port;
      const got = await httpBackend({ baseUrl: `http://127.0.0.1:${port}` }).get("any/key", { range: { offset: 100, length: 50 } });
      expect(await collect(got!)).toEqual(body.subarray(100, 150));
    } finally {
      await new Promise((ok) => server.close(ok));
    }
  });

  it("bad baseUrl values are INVALID_ARGUMENT", () => {
    for (const baseUrl of ["not a url", "ftp://example.com/x", "https://example.com/x?token=1"]) {
      expect(() => httpBackend({ baseUrl })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    }
  });
});

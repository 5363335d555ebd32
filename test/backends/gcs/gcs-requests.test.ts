/**
 * The requests the GCS preset signs and sends, checked on a loopback server that
 * answers as GCS's XML API does for them: objects carry a generation
 * (`x-goog-generation`), writes honour `x-goog-if-generation-match` (412 and GCS's
 * error document when it does not hold), and every request's SigV4 signature is
 * recomputed from what arrived and must match.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { AwsV4Signer } from "aws4fetch";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { gcsBackend, type S3Backend } from "../../../src/s3.ts";

const KEY_ID = "GOOG1EXAMPLEKEYID";
const SECRET = "gcs-hmac-secret-never-shown";
const BUCKET = "models";

interface Seen {
  method: string;
  path: string;
  headers: Record<string, string>;
  signatureValid: boolean;
}

interface StoredObject {
  body: Buffer;
  generation: number;
  etag: string;
}

let server: Server;
let endpoint: string;
let seen: Seen[] = [];
const objects = new Map<string, StoredObject>();
let nextGeneration = 1_700_000_000_000_000;
/** Runs once after the next HEAD is answered: a writer racing the compare-and-swap. */
let afterNextHead: (() => void) | undefined;
/** When set, every request is answered with this status and GCS error document. */
let failWith: { status: number; code: string; details: string } | undefined;

/** Recomputes the request's SigV4 signature from the signed headers that arrived. */
async function signatureValid(req: IncomingMessage, url: string): Promise<boolean> {
  const auth = String(req.headers.authorization ?? "");
  const signedNames = /SignedHeaders=([^,]+)/.exec(auth)?.[1]?.split(";") ?? [];
  const headers = new Headers();
  for (const name of signedNames) if (name !== "host") headers.set(name, String(req.headers[name] ?? ""));
  const amzDate = String(req.headers["x-amz-date"] ?? "");
  const region = /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(auth)?.[1] ?? "";
  const signer = new AwsV4Signer({ method: req.method!, url, headers, accessKeyId: KEY_ID, secretAccessKey: SECRET, service: "s3", region, datetime: amzDate });
  const expected = (await signer.sign()).headers.get("authorization");
  return expected === auth;
}

function errorDocument(code: string, message: string, details: string): string {
  return `<?xml version='1.0' encoding='UTF-8'?><Error><Code>${code}</Code><Message>${message}</Message><Details>${details}</Details></Error>`;
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const url = `${endpoint}${req.url}`;
    const path = decodeURIComponent(new URL(url).pathname);
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
    seen.push({ method: req.method!, path, headers, signatureValid: await signatureValid(req, url) });
    if (failWith) {
      res.writeHead(failWith.status, { "content-type": "application/xml" });
      return res.end(errorDocument(failWith.code, "Access denied.", failWith.details));
    }
    const key = path.slice(`/${BUCKET}/`.length);
    const current = objects.get(key);
    const objectHeaders = (o: StoredObject) => ({ etag: o.etag, "x-goog-generation": String(o.generation), "content-length": String(o.body.length) });
    if (req.method === "PUT") {
      const condition = req.headers["x-goog-if-generation-match"];
      if (condition !== undefined && Number(condition) !== (current?.generation ?? 0)) {
        res.writeHead(412, { "content-type": "application/xml" });
        return res.end(errorDocument("PreconditionFailed", "At least one of the pre-conditions you specified did not hold.", "Precondition on x-goog-if-generation-match"));
      }
      const stored = { body, generation: nextGeneration++, etag: `"${createHash("md5").update(body).digest("hex")}"` };
      objects.set(key, stored);
      res.writeHead(200, { etag: stored.etag, "x-goog-generation": String(stored.generation) });
      return res.end();
    }
    if (req.method === "DELETE") {
      objects.delete(key);
      res.writeHead(204);
      return res.end();
    }
    if (!current) {
      res.writeHead(404, { "content-type": "application/xml" });
      return res.end(req.method === "HEAD" ? undefined : errorDocument("NoSuchKey", "The specified key does not exist.", `No such object: ${BUCKET}/${key}`));
    }
    res.writeHead(200, objectHeaders(current));
    res.end(req.method === "HEAD" ? undefined : current.body);
    if (req.method === "HEAD" && afterNextHead) {
      const race = afterNextHead;
      afterNextHead = undefined;
      race();
    }
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((ok) => server.close(() => ok())));
beforeEach(() => {
  seen = [];
  objects.clear();
  afterNextHead = undefined;
  failWith = undefined;
});

const backend = (): S3Backend => gcsBackend({ bucket: BUCKET, hmacKeyId: KEY_ID, hmacSecret: SECRET, endpoint, retries: 0 });
const bytes = (text: string) => new TextEncoder().encode(text);
const signedNames = (s: Seen) => /SignedHeaders=([^,]+)/.exec(s.headers.authorization ?? "")?.[1]?.split(";") ?? [];

describe("gcsBackend: the requests it signs", () => {
  it("signs with SigV4 for region auto, path-style on the bucket, and the server's recomputed signature matches", async () => {
    await backend().put("a/b.json", bytes("{}"));
    const [put] = seen;
    expect(put.path).toBe(`/${BUCKET}/a/b.json`);
    expect(put.headers.authorization).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=${KEY_ID}/\\d{8}/auto/s3/aws4_request, `));
    expect(put.signatureValid).toBe(true);
    expect(put.headers.authorization).not.toContain(SECRET);
  });

  it("create-only sends a signed x-goog-if-generation-match: 0 (not If-None-Match), and a second one is ALREADY_EXISTS", async () => {
    const gcs = backend();
    await gcs.put("slot", bytes("one"), { ifNoneMatch: "*" });
    const put = seen.find((s) => s.method === "PUT")!;
    expect(put.headers["x-goog-if-generation-match"]).toBe("0");
    expect(put.headers["if-none-match"]).toBeUndefined();
    expect(signedNames(put)).toContain("x-goog-if-generation-match");
    expect(put.signatureValid).toBe(true);
    await expect(gcs.put("slot", bytes("two"), { ifNoneMatch: "*" })).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    expect(objects.get("slot")!.body.toString()).toBe("one");
  });

  it("compare-and-swap reads the generation with a HEAD and writes on x-goog-if-generation-match: <generation>", async () => {
    const gcs = backend();
    const first = await gcs.put("latest.json", bytes("v1"));
    const generation = objects.get("latest.json")!.generation;
    seen = [];
    const second = await gcs.put("latest.json", bytes("v2"), { ifMatch: first.etag });
    expect(seen.map((s) => s.method)).toEqual(["HEAD", "PUT"]);
    expect(seen[1].headers["x-goog-if-generation-match"]).toBe(String(generation));
    expect(seen[1].headers["if-match"]).toBeUndefined();
    expect(signedNames(seen[1])).toContain("x-goog-if-generation-match");
    expect(seen.every((s) => s.signatureValid)).toBe(true);
    expect(second.etag).not.toBe(first.etag);
  });

  it("compare-and-swap with a stale etag is CONFLICT without a write", async () => {
    const gcs = backend();
    const first = await gcs.put("latest.json", bytes("v1"));
    await gcs.put("latest.json", bytes("v2"));
    seen = [];
    await expect(gcs.put("latest.json", bytes("v3"), { ifMatch: first.etag })).rejects.toMatchObject({ code: "CONFLICT" });
    expect(seen.map((s) => s.method)).toEqual(["HEAD"]);
    await expect(gcs.put("missing.json", bytes("v1"), { ifMatch: first.etag })).rejects.toMatchObject({ code: "CONFLICT" });
  });

  it("a writer landing between the HEAD and the PUT makes a new generation: the PUT is refused (412) as CONFLICT", async () => {
    const gcs = backend();
    const first = await gcs.put("latest.json", bytes("v1"));
    afterNextHead = () => objects.set("latest.json", { body: Buffer.from("v1"), generation: nextGeneration++, etag: first.etag });
    await expect(gcs.put("latest.json", bytes("v2"), { ifMatch: first.etag })).rejects.toMatchObject({ code: "CONFLICT" });
    expect(objects.get("latest.json")!.body.toString()).toBe("v1");
  });

  it("records google:cloud-storage locations, as the Python modelstore does, and reads them back", () => {
    const gcs = backend();
    expect(gcs.locate("root/refunds/x/artifacts.tar.gz")).toEqual({ type: "google:cloud-storage", bucket: BUCKET, prefix: "root/refunds/x/artifacts.tar.gz" });
    expect(gcs.keyOf({ type: "google:cloud-storage", bucket: BUCKET, prefix: "k" })).toBe("k");
  });

  it("deleteMany sends one DELETE per key (GCS's XML API has no DeleteObjects)", async () => {
    const gcs = backend();
    await gcs.put("a", bytes("a"));
    await gcs.put("b", bytes("b"));
    seen = [];
    await gcs.deleteMany(["a", "b"]);
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual([`DELETE /${BUCKET}/a`, `DELETE /${BUCKET}/b`]);
    expect(objects.size).toBe(0);
  });

  it("a GCS error document becomes a BackendError with its code, and no secret in the message", async () => {
    failWith = { status: 403, code: "AccessDenied", details: "svc@project.iam.gserviceaccount.com does not have storage.objects.create access" };
    const error = await backend().put("x", bytes("x")).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "BACKEND", status: 403, serverCode: "AccessDenied" });
    expect((error as Error).message).not.toContain(SECRET);
  });

  it("signedUrl presigns for region auto on the bucket's path", async () => {
    const url = new URL(await backend().signedUrl("a/artifacts.tar.gz", { expiresIn: 600 }));
    expect(url.pathname).toBe(`/${BUCKET}/a/artifacts.tar.gz`);
    expect(url.searchParams.get("X-Amz-Credential")).toMatch(new RegExp(`^${KEY_ID}/\\d{8}/auto/s3/aws4_request$`));
    expect(url.searchParams.get("X-Amz-Expires")).toBe("600");
    expect(url.toString()).not.toContain(SECRET);
  });

  it("refuses a missing HMAC key with INVALID_ARGUMENT saying where to create one", () => {
    expect(() => gcsBackend({ bucket: BUCKET, hmacKeyId: "", hmacSecret: SECRET })).toThrow(/Interoperability/);
  });
});

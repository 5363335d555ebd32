/**
 * nodeFetch against a real HTTP server on 127.0.0.1, held against Node's own
 * fetch on the same server: what the backends see must not change with the
 * transport. Failures (refused connections, bodies cut short, aborts) are
 * made by the server for real.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { custom, nodeFetch } from "../../src/fs.ts";
import { s3Backend } from "../../src/s3.ts";
import * as s3OnNode from "../../src/s3-node.ts";
import { noise } from "../support/bytes.ts";

const MiB = 1024 * 1024;
const payload = noise(3 * MiB + 5);

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;
/** The headers of every request the server saw, in order. */
const seen: IncomingMessage["headers"][] = [];
const routes = new Map<string, Handler>();
/** Bytes the /endless route managed to write before it was stopped, per request. */
let endlessWritten = 0;
let endlessClosed: Promise<void> = Promise.resolve();

let server: Server;
let base: string;
let other: Server;
let otherBase: string;

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<[Server, string]> {
  const s = createServer(handler);
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  return [s, `http://127.0.0.1:${(s.address() as AddressInfo).port}`];
}

beforeAll(async () => {
  routes.set("/bytes", (_req, res) => res.writeHead(200, "Fine", { "content-type": "application/octet-stream", "x-many": ["a", "b"], etag: '"e1"' }).end(payload));
  routes.set("/echo", (req, res, body) =>
    res.writeHead(201, { "content-type": "application/json" }).end(
      JSON.stringify({
        method: req.method,
        length: body.length,
        sha256: createHash("sha256").update(body).digest("hex"),
        contentLength: req.headers["content-length"] ?? null,
        chunked: req.headers["transfer-encoding"] === "chunked",
        contentType: req.headers["content-type"] ?? null,
        authorization: req.headers.authorization ?? null,
      }),
    ),
  );
  routes.set("/empty", (_req, res) => res.writeHead(204).end());
  routes.set("/gzip", (_req, res) => res.writeHead(200, { "content-encoding": "gzip" }).end(gzipSync(payload)));
  routes.set("/br", (_req, res) => res.writeHead(200, { "content-encoding": "br" }).end(brotliCompressSync(payload, { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } })));
  routes.set("/cut", (_req, res) => {
    res.writeHead(200, { "content-length": String(payload.length) });
    res.write(payload.subarray(0, 100_000), () => res.socket?.destroy());
  });
  routes.set("/slow", (_req, res) => {
    res.writeHead(200, { "content-length": String(payload.length) });
    res.write(payload.subarray(0, 1000));
  });
  routes.set("/hang", () => undefined);
  routes.set("/to-bytes", (_req, res) => res.writeHead(302, { location: "/bytes" }).end("moved"));
  routes.set("/see-other", (_req, res) => res.writeHead(303, { location: "/echo" }).end());
  routes.set("/keep-method", (_req, res) => res.writeHead(307, { location: "/echo" }).end());
  routes.set("/loop", (_req, res) => res.writeHead(302, { location: "/loop" }).end());
  routes.set("/endless", (_req, res) => {
    res.writeHead(200);
    endlessWritten = 0;
    let stopped = false;
    endlessClosed = new Promise((resolve) => res.once("close", () => ((stopped = true), resolve())));
    const chunk = noise(64 * 1024);
    const more = () => {
      while (!stopped && endlessWritten < 64 * MiB) {
        endlessWritten += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", more);
      }
      if (!stopped) res.end();
    };
    more();
  });
  [server, base] = await listen((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (part: Buffer) => parts.push(part));
    req.on("end", () => {
      seen.push(req.headers);
      const path = new URL(req.url ?? "/", "http://x").pathname;
      if (path === "/to-other") return void res.writeHead(307, { location: `${otherBase}/echo` }).end();
      const handler = routes.get(path);
      if (!handler) return void res.writeHead(404).end("no route");
      handler(req, res, Buffer.concat(parts));
    });
  });
  [other, otherBase] = await listen((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ authorization: req.headers.authorization ?? null })));
  });
});

afterAll(async () => {
  server.closeAllConnections();
  other.closeAllConnections();
  await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => other.close(r))]);
});

/** What a caller can observe of an answer. */
async function observe(response: Response) {
  const body = response.body ? new Uint8Array(await response.arrayBuffer()) : null;
  return {
    status: response.status,
    statusText: response.statusText,
    ok: response.ok,
    headers: Object.fromEntries([...response.headers].filter(([name]) => !["date", "connection", "keep-alive"].includes(name))),
    body: body && createHash("sha256").update(body).digest("hex"),
    length: body?.length ?? null,
  };
}

const both = { fetch: (input: string, init?: RequestInit) => fetch(input, init), nodeFetch };

describe("nodeFetch answers as Node's fetch does, on the same server", () => {
  const cases: [string, string, RequestInit?][] = [
    ["a 3 MiB GET with repeated and custom headers", "/bytes"],
    ["a HEAD (no body)", "/bytes", { method: "HEAD" }],
    ["a 204 (no body)", "/empty"],
    ["a 404", "/nothing-here"],
    ["a gzip-encoded body, decoded", "/gzip"],
    ["a br-encoded body, decoded", "/br"],
    ["a redirect, followed", "/to-bytes"],
    ["a redirect, not followed (manual)", "/to-bytes", { redirect: "manual" }],
    ["a PUT of bytes", "/echo", { method: "PUT", body: payload }],
    ["a POST of a string", "/echo", { method: "POST", body: "héllo" }],
    ["a POST of URLSearchParams", "/echo", { method: "POST", body: new URLSearchParams({ a: "1", b: "two words" }) }],
    ["a POST of a Blob", "/echo", { method: "POST", body: new Blob(["blob body"], { type: "text/x-blob" }) }],
    ["a 303 after POST, followed as a GET without the body", "/see-other", { method: "POST", body: "dropped" }],
    ["a 307 to another origin: authorization is not sent there", "/to-other", { headers: { authorization: "secret" } }],
  ];
  for (const [name, path, init] of cases) {
    it(name, async () => {
      const [theirs, ours] = [await observe(await both.fetch(base + path, init)), await observe(await both.nodeFetch(base + path, init))];
      // Node's fetch adds headers of its own (accept, user-agent...) that the echo does not report; the rest must match.
      expect(ours).toEqual(theirs);
      expect(ours.status).toBeGreaterThan(0);
    });
  }

  it("the bytes, status and headers are what the server sent", async () => {
    const response = await nodeFetch(`${base}/bytes`);
    expect(response.status).toBe(200);
    expect(response.statusText).toBe("Fine");
    expect(response.headers.get("x-many")).toBe("a, b");
    expect(response.headers.get("etag")).toBe('"e1"');
    expect(Buffer.from(await response.arrayBuffer()).equals(payload)).toBe(true);
  });

  it("a 307 after a PUT of bytes is followed with the same method and body", async () => {
    // Not held against Node's fetch: Node 20's fails this one ("Cannot perform ArrayBuffer.prototype.slice on a detached ArrayBuffer").
    const body = payload.subarray(0, 1000);
    const answer = await (await nodeFetch(`${base}/keep-method`, { method: "PUT", body })).json();
    expect(answer).toMatchObject({ method: "PUT", length: 1000, sha256: createHash("sha256").update(body).digest("hex") });
  });

  it("a stream body goes out chunked, or with the Content-Length given", async () => {
    const chunks = () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(payload.subarray(0, MiB));
          controller.enqueue(payload.subarray(MiB));
          controller.close();
        },
      });
    const sha256 = createHash("sha256").update(payload).digest("hex");
    const init = { method: "PUT", duplex: "half" } as RequestInit;
    const chunked = await (await nodeFetch(`${base}/echo`, { ...init, body: chunks() })).json();
    expect(chunked).toMatchObject({ length: payload.length, sha256, chunked: true, contentLength: null });
    const sized = await (await nodeFetch(`${base}/echo`, { ...init, body: chunks(), headers: { "content-length": String(payload.length) } })).json();
    expect(sized).toMatchObject({ length: payload.length, sha256, chunked: false, contentLength: String(payload.length) });
  });

  it("a long stream body waits for the socket to drain without piling up listeners", async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      const chunk = noise(256 * 1024);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ === 128) return controller.close();
          controller.enqueue(chunk);
        },
      });
      const answer = await (await nodeFetch(`${base}/echo`, { method: "PUT", body, duplex: "half" } as RequestInit)).json();
      expect(answer).toMatchObject({ length: 128 * chunk.length, chunked: true });
      await new Promise((r) => setImmediate(r));
      expect(warnings.map((w) => w.name)).not.toContain("MaxListenersExceededWarning");
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("a Request as input: its method, headers and body", async () => {
    const answer = await (await nodeFetch(new Request(`${base}/echo`, { method: "POST", body: "from a Request", headers: { authorization: "a" } }))).json();
    expect(answer).toMatchObject({ method: "POST", length: 14, authorization: "a" });
  });
});

describe("nodeFetch failures are fetch's", () => {
  it("a refused connection rejects with TypeError('fetch failed') and the cause", async () => {
    const [closed, url] = await listen(() => undefined);
    await new Promise((r) => closed.close(r));
    const error = await nodeFetch(`${url}/x`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(error).toMatchObject({ message: "fetch failed", cause: expect.objectContaining({ code: "ECONNREFUSED" }) });
  });

  it("a body cut short errors the stream with TypeError('terminated'), after the bytes that came", async () => {
    const response = await nodeFetch(`${base}/cut`);
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    let received = 0;
    const error = await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return undefined;
        received += value.length;
      }
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe("terminated");
    expect(received).toBe(100_000);
  });

  it("an abort before the answer rejects with the signal's reason", async () => {
    const controller = new AbortController();
    const pending = nodeFetch(`${base}/hang`, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("gave up waiting")), 50);
    await expect(pending).rejects.toThrow("gave up waiting");
    await expect(nodeFetch(`${base}/bytes`, { signal: AbortSignal.abort(new Error("already")) })).rejects.toThrow("already");
  });

  it("an abort during the body errors the stream with the signal's reason", async () => {
    const controller = new AbortController();
    const response = await nodeFetch(`${base}/slow`, { signal: controller.signal });
    const reader = response.body!.getReader();
    expect((await reader.read()).value?.length).toBe(1000);
    controller.abort(new Error("stopped mid-body"));
    await expect(reader.read()).rejects.toThrow("stopped mid-body");
  });

  it("redirect: 'error', too many redirects, a stream body redirected, a GET with a body, ftp: all reject with TypeError", async () => {
    await expect(nodeFetch(`${base}/to-bytes`, { redirect: "error" })).rejects.toBeInstanceOf(TypeError);
    await expect(nodeFetch(`${base}/loop`)).rejects.toThrow(/more than 20 redirects/);
    const stream = new ReadableStream({ start: (c) => (c.enqueue(new Uint8Array(3)), c.close()) });
    await expect(nodeFetch(`${base}/keep-method`, { method: "PUT", body: stream, duplex: "half" } as RequestInit)).rejects.toThrow(/cannot be sent again/);
    await expect(nodeFetch(`${base}/echo`, { body: "x" })).rejects.toThrow(/GET request cannot have a body/);
    await expect(nodeFetch("ftp://127.0.0.1/x")).rejects.toThrow(/only http: and https:/);
  });
});

describe("nodeFetch's body reads ahead only so far", () => {
  it("a reader that stops holds back the server, and cancelling closes the connection", async () => {
    const response = await nodeFetch(`${base}/endless`);
    const reader = response.body!.getReader();
    await reader.read();
    await new Promise((r) => setTimeout(r, 300));
    // 1 MiB read ahead plus what the kernel's socket buffers hold; nowhere near the 64 MiB on offer.
    expect(endlessWritten).toBeGreaterThan(0);
    expect(endlessWritten).toBeLessThan(24 * MiB);
    await reader.cancel();
    await endlessClosed;
    expect(endlessWritten).toBeLessThan(64 * MiB);
  });
});

describe("the Node-side factories send S3 requests with nodeFetch", () => {
  it("custom({ artifacts: { type: 's3' } }) on Node: no header of Node's fetch reaches the server", async () => {
    const store = await custom({ artifacts: { type: "s3", bucket: "models", endpoint: base, accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret", retries: 0 }, env: {} });
    seen.length = 0;
    await store.backend.head("some/key").catch(() => undefined);
    expect(seen.length).toBeGreaterThan(0);
    // Node's fetch (undici) sends sec-fetch-mode on every request; node:http sends only what it is given.
    expect(seen.every((headers) => headers.authorization?.startsWith("AWS4-HMAC-SHA256") && headers["sec-fetch-mode"] === undefined)).toBe(true);
    // The same request through the runtime's fetch does carry it: the check can tell them apart.
    const withFetch = s3Backend({ bucket: "models", endpoint: base, credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" }, retries: 0 });
    seen.length = 0;
    await withFetch.head("some/key").catch(() => undefined);
    expect(seen[0]?.["sec-fetch-mode"]).toBe("cors");
  });
});

describe("modelstore-js/s3 as Node resolves it sends with nodeFetch", () => {
  const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
  /** The headers of the requests one HEAD through `backend` made. */
  async function headersOf(backend: { head(key: string): Promise<unknown> }): Promise<IncomingMessage["headers"][]> {
    seen.length = 0;
    await backend.head("some/key").catch(() => undefined);
    expect(seen.length).toBeGreaterThan(0);
    return [...seen];
  }
  const overNodeHttp = (all: IncomingMessage["headers"][]) => all.every((h) => h.authorization?.startsWith("AWS4-HMAC-SHA256") && h["sec-fetch-mode"] === undefined);

  it("every factory of the entry: s3Backend, s3Reader, s3BackendFromEnv, gcsBackend, gcsBackendFromEnv", async () => {
    const env = { MODEL_STORE_AWS_BUCKET: "models", AWS_ACCESS_KEY_ID: "AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY: "secret", AWS_ENDPOINT_URL: base };
    const gcsEnv = { MODEL_STORE_GCP_BUCKET: "models", MODEL_STORE_GCP_HMAC_KEY_ID: "GOOG1EXAMPLE", MODEL_STORE_GCP_HMAC_SECRET: "secret" };
    const backends = {
      s3Backend: s3OnNode.s3Backend({ bucket: "models", endpoint: base, credentials, retries: 0 }),
      s3Reader: s3OnNode.s3Reader({ bucket: "models", endpoint: base, credentials, retries: 0 }),
      s3BackendFromEnv: s3OnNode.s3BackendFromEnv(env, { retries: 0 }),
      gcsBackend: s3OnNode.gcsBackend({ bucket: "models", endpoint: base, hmacKeyId: "GOOG1EXAMPLE", hmacSecret: "secret", retries: 0 }),
      gcsBackendFromEnv: s3OnNode.gcsBackendFromEnv(gcsEnv, { endpoint: base, retries: 0 }),
    };
    for (const [name, backend] of Object.entries(backends)) {
      expect({ name, overNodeHttp: overNodeHttp(await headersOf(backend)) }).toEqual({ name, overNodeHttp: true });
    }
  });

  it("a fetch given in the options still wins", async () => {
    const given = s3OnNode.s3Backend({ bucket: "models", endpoint: base, credentials, retries: 0, fetch: globalThis.fetch });
    expect((await headersOf(given))[0]?.["sec-fetch-mode"]).toBe("cors");
    const fromEnv = s3OnNode.s3BackendFromEnv({ MODEL_STORE_AWS_BUCKET: "models", AWS_ENDPOINT_URL: base }, { credentials, retries: 0, fetch: globalThis.fetch });
    expect((await headersOf(fromEnv))[0]?.["sec-fetch-mode"]).toBe("cors");
  });

  it("package.json: Node gets the Node build, workers, browsers, Deno and Bun the plain one", () => {
    // Resolved by Node itself from the package's own exports (`npm test` builds dist first).
    const resolve = (condition?: string) =>
      execFileSync(process.execPath, [...(condition ? [`--conditions=${condition}`] : []), "--input-type=module", "-e", 'console.log(import.meta.resolve("modelstore-js/s3"))'], {
        cwd: new URL("../..", import.meta.url),
        encoding: "utf8",
      }).trim();
    expect(resolve()).toMatch(/\/dist\/s3-node\.js$/);
    for (const condition of ["workerd", "worker", "edge-light", "browser", "deno", "bun"]) {
      expect({ condition, file: resolve(condition).replace(/^.*\/dist\//, "") }).toEqual({ condition, file: "s3.js" });
    }
  });
});

/**
 * A tiny static file server on 127.0.0.1 for the public HTTP backend's tests: GET and
 * HEAD of the files below a directory, single byte ranges (`bytes=a-b`, `a-`, `-n`)
 * answered with 206 and Content-Range (416 past the end), ETag and Last-Modified from
 * the file's stat, 404 for anything missing. It knows nothing of S3: no listing.
 * Every request is recorded so tests can check what a read fetched.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join, resolve, sep } from "node:path";

/** One request the server answered. */
export interface StaticRequest {
  method: string;
  path: string;
  range?: string;
  status: number;
  /** Body bytes sent. */
  bytes: number;
}

/** A running static server. */
export interface StaticServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  requests: StaticRequest[];
  close(): Promise<void>;
}

/** Serves `root` on a free loopback port. */
export async function startStaticServer(root: string): Promise<StaticServer> {
  const base = resolve(root);
  const requests: StaticRequest[] = [];
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const record: StaticRequest = { method: req.method ?? "GET", path: decodeURIComponent(url.pathname), range: req.headers.range, status: 0, bytes: 0 };
    requests.push(record);
    const answer = (status: number, headers: Record<string, string> = {}, body?: string) => {
      record.status = status;
      res.writeHead(status, headers);
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return answer(405, { allow: "GET, HEAD" });
    const path = resolve(join(base, record.path));
    if (path !== base && !path.startsWith(base + sep)) return answer(404);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) return answer(404, { "content-type": "text/html" }, "<html>Not found</html>");
    const headers: Record<string, string> = {
      etag: `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`,
      "last-modified": info.mtime.toUTCString(),
      "accept-ranges": "bytes",
      "content-type": "application/octet-stream",
    };
    let start = 0;
    let end = info.size - 1;
    let status = 200;
    const range = req.headers.range && /^bytes=(\d*)-(\d*)$/.exec(req.headers.range);
    if (range) {
      if (range[1] === "") {
        start = Math.max(0, info.size - Number(range[2]));
      } else {
        start = Number(range[1]);
        if (range[2] !== "") end = Math.min(end, Number(range[2]));
      }
      if (start >= info.size) return answer(416, { "content-range": `bytes */${info.size}` });
      status = 206;
      headers["content-range"] = `bytes ${start}-${end}/${info.size}`;
    }
    headers["content-length"] = String(end - start + 1);
    record.status = status;
    res.writeHead(status, headers);
    if (req.method === "HEAD" || info.size === 0) return res.end();
    const stream = createReadStream(path, { start, end });
    stream.on("data", (chunk) => (record.bytes += chunk.length));
    stream.pipe(res);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("the static server has no address");
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}

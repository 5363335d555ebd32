/**
 * A fault-injecting HTTP proxy on 127.0.0.1 for failure tests: forwards to a
 * real server, except where `decide` says to answer 503 (or 404 NoSuchUpload,
 * as AWS answers a CompleteMultipartUpload repeated after success), to reset the
 * connection part-way through the request body, to cut the answer's body
 * part-way ("cut"), or to let the server act on the request and then drop its
 * answer ("drop-answer", as when a connection dies just after the server committed). The Host header is forwarded
 * unchanged, so SigV4 signatures made for the proxy's address still verify.
 */
import { createServer, request, type IncomingMessage, type Server } from "node:http";

/** What to do with one request. */
export type Fault = "forward" | "503" | "no-such-upload" | "reset" | "cut" | "drop-answer";

/** Bytes of the answer's body that a "cut" lets through before closing the connection. */
export const CUT_AFTER = 256 * 1024;

/** A running proxy. */
export interface FaultProxy {
  endpoint: string;
  /** Every request seen, as `METHOD path?query`. */
  seen: string[];
  close(): Promise<void>;
}

/** Starts a proxy to `target` (an http://host:port origin). */
export async function startFaultProxy(target: string, decide: (req: IncomingMessage, index: number) => Fault): Promise<FaultProxy> {
  const upstream = new URL(target);
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    const index = seen.push(`${req.method} ${req.url}`) - 1;
    const fault = decide(req, index);
    if (fault === "503" || fault === "no-such-upload") {
      const [status, code] = fault === "503" ? [503, "ServiceUnavailable"] : [404, "NoSuchUpload"];
      req.resume();
      req.on("end", () => {
        res.writeHead(status, { "content-type": "application/xml" });
        res.end(`<?xml version='1.0' encoding='UTF-8'?><Error><Code>${code}</Code><Message>Injected by the test proxy.</Message><RequestId>proxy</RequestId></Error>`);
      });
      return;
    }
    if (fault === "reset") {
      // Let some of the body through, then cut the connection without an answer.
      let received = 0;
      req.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received > 1024) req.socket.destroy();
      });
      req.on("end", () => req.socket.destroy());
      return;
    }
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (fault === "drop-answer") {
          // The server has done the work; the client never hears of it.
          answer.resume();
          answer.on("end", () => req.socket.destroy());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (fault !== "cut") return void answer.pipe(res);
        let sent = 0;
        answer.on("data", (chunk: Buffer) => {
          if (sent >= CUT_AFTER) return;
          const piece = chunk.subarray(0, CUT_AFTER - sent);
          sent += piece.length;
          res.write(piece);
          if (sent >= CUT_AFTER) {
            answer.destroy();
            // end(), not destroy(): the client gets exactly CUT_AFTER bytes, then the close.
            req.socket.end();
          }
        });
        answer.on("end", () => res.end());
      },
    );
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

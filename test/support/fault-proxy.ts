/**
 * A fault-injecting HTTP proxy on 127.0.0.1 for failure tests: forwards to a
 * real server, except where `decide` says to answer 503 or to reset the
 * connection part-way through the request body. The Host header is forwarded
 * unchanged, so SigV4 signatures made for the proxy's address still verify.
 */
import { createServer, request, type IncomingMessage, type Server } from "node:http";

/** What to do with one request. */
export type Fault = "forward" | "503" | "reset";

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
    if (fault === "503") {
      req.resume();
      req.on("end", () => {
        res.writeHead(503, { "content-type": "application/xml" });
        res.end("<?xml version='1.0' encoding='UTF-8'?><Error><Code>ServiceUnavailable</Code><Message>Injected by the test proxy.</Message><RequestId>proxy</RequestId></Error>");
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
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
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

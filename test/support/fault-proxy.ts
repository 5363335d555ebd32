/**
 * A fault-injecting HTTP proxy on 127.0.0.1 for failure tests: forwards to a
 * real server, except where `decide` says to answer 503 (or 404 NoSuchUpload,
 * as AWS answers a CompleteMultipartUpload repeated after success), to reset the
 * connection part-way through the request body, to cut the answer's body
 * part-way ("cut"), or to let the server act on the request and then drop its
 * answer ("drop-answer", as when a connection dies just after the server committed).
 * Object faults answer for the server (`{ status, code, headers }`: an `<Error>`
 * document with any status, 200 included, or a redirect), hold a request back
 * (`{ delayMs }`, or "hang" for ever) or cut after a chosen byte count (`{ cutAfter }`), or
 * stall after one (`{ stallAfter }`: the connection stays open and silent).
 * The Host header is forwarded unchanged, so SigV4 signatures made for the proxy's address still verify.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/** What to do with one request. */
export type Fault =
  | "forward"
  | "503"
  | "no-such-upload"
  | "reset"
  | "cut"
  | "drop-answer"
  | "hang"
  | { status: number; code?: string; headers?: Record<string, string> }
  | { delayMs: number }
  | { cutAfter: number }
  | { stallAfter: number };

/** Bytes of the answer's body that a "cut" lets through before closing the connection. */
export const CUT_AFTER = 256 * 1024;

/** A running proxy. */
export interface FaultProxy {
  endpoint: string;
  /** Every request seen, as `METHOD path?query`. */
  seen: string[];
  /** Held-back requests ("hang", `delayMs`) whose client closed the connection before any answer. */
  closedEarly: string[];
  /** Held-back requests still waiting for their answer, their client still connected. */
  held(): number;
  close(): Promise<void>;
}

/** Starts a proxy to `target` (an http://host:port origin). */
export async function startFaultProxy(target: string, decide: (req: IncomingMessage, index: number) => Fault): Promise<FaultProxy> {
  const upstream = new URL(target);
  const seen: string[] = [];
  const closedEarly: string[] = [];
  let held = 0;
  const server: Server = createServer((req, res) => {
    const index = seen.push(`${req.method} ${req.url}`) - 1;
    let fault = decide(req, index);
    if (fault === "hang" || (typeof fault === "object" && "delayMs" in fault)) {
      const delayMs = fault === "hang" ? undefined : fault.delayMs;
      held++;
      let gone = false;
      req.resume();
      res.on("close", () => {
        if (res.headersSent) return;
        gone = true;
        held--;
        closedEarly.push(`${req.method} ${req.url}`);
      });
      if (delayMs === undefined) return;
      setTimeout(() => {
        if (gone) return;
        held--;
        // The body was drained while waiting, so replay an empty one; delays are for body-less requests.
        proxyTo(upstream, req, res, "forward", undefined);
      }, delayMs);
      return;
    }
    if (typeof fault === "object" && "status" in fault) {
      const { status, code, headers } = fault;
      req.resume();
      req.on("end", () => {
        res.writeHead(status, { "content-type": "application/xml", ...headers });
        res.end(code ? `<?xml version='1.0' encoding='UTF-8'?><Error><Code>${code}</Code><Message>Injected by the test proxy.</Message><RequestId>proxy</RequestId></Error>` : "");
      });
      return;
    }
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
    if (typeof fault === "object" && "stallAfter" in fault) return proxyTo(upstream, req, res, "stall", fault.stallAfter, req);
    const cutAfter = typeof fault === "object" && "cutAfter" in fault ? fault.cutAfter : CUT_AFTER;
    if (typeof fault === "object") fault = "cut";
    proxyTo(upstream, req, res, fault, cutAfter, req);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    closedEarly,
    held: () => held,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Forwards `req` to `upstream`, then passes the answer on, drops it, or cuts it
 * (or stalls it: sends nothing more, connection open) after `cutAfter` bytes;
 * pipes `body` as the request body.
 */
function proxyTo(
  upstream: URL,
  req: IncomingMessage,
  res: ServerResponse,
  fault: "forward" | "cut" | "stall" | "drop-answer",
  cutAfter = CUT_AFTER,
  body?: IncomingMessage,
): void {
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
      if (fault !== "cut" && fault !== "stall") return void answer.pipe(res);
      let sent = 0;
      answer.on("data", (chunk: Buffer) => {
        if (sent >= cutAfter) return;
        const piece = chunk.subarray(0, cutAfter - sent);
        sent += piece.length;
        res.write(piece);
        if (sent >= cutAfter) {
          answer.destroy();
          // end(), not destroy(): the client gets exactly cutAfter bytes, then the close.
          if (fault === "cut") req.socket.end();
        }
      });
      answer.on("end", () => res.end());
    },
  );
  forward.on("error", () => res.destroy());
  if (body) body.pipe(forward);
  else forward.end();
}

/**
 * An S3 server that takes `If-Match` only in RFC 9110's quoted form, as AWS
 * documents it, made from Ceph RGW (which takes only the bare form): a loopback
 * proxy that answers 412 to a bare `If-Match`, strips the quotes from a quoted
 * one, and signs the request again for RGW (the client signed the header it
 * changed). Bodies pass through unread: the backend signs them UNSIGNED-PAYLOAD.
 */
import { createServer, request, type Server } from "node:http";
import { AwsV4Signer } from "aws4fetch";
import type { S3Server } from "./s3-server.ts";

/** A running proxy; `ifMatch` holds every `If-Match` header it was sent. */
export interface QuotedEtagProxy {
  endpoint: string;
  ifMatch: string[];
  close(): Promise<void>;
}

// Hop-by-hop and signature headers: the proxy's own request sets them anew.
const DROPPED = new Set(["authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "host", "connection"]);

/** Starts a proxy in front of `server`, signing with its credentials. */
export async function startQuotedEtagProxy(server: S3Server): Promise<QuotedEtagProxy> {
  const upstream = new URL(server.endpoint);
  const ifMatch: string[] = [];
  const proxy: Server = createServer((req, res) => {
    void (async () => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (!DROPPED.has(name) && typeof value === "string") headers[name] = value;
      }
      const condition = headers["if-match"];
      if (condition !== undefined) {
        ifMatch.push(condition);
        if (!condition.startsWith('"')) {
          req.resume();
          res.writeHead(412, { "content-type": "application/xml" });
          res.end("<?xml version='1.0' encoding='UTF-8'?><Error><Code>PreconditionFailed</Code><Message>Injected: this server takes quoted etags only.</Message></Error>");
          return;
        }
        headers["if-match"] = condition.replace(/^"|"$/g, "");
      }
      headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
      const signed = await new AwsV4Signer({
        method: req.method ?? "GET",
        url: `${server.endpoint}${req.url ?? "/"}`,
        headers,
        accessKeyId: server.accessKeyId,
        secretAccessKey: server.secretAccessKey,
        service: "s3",
        region: server.region,
      }).sign();
      const forward = request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: Object.fromEntries(signed.headers) },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on("error", () => res.destroy());
      req.pipe(forward);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const address = proxy.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    ifMatch,
    close: () =>
      new Promise((resolve) => {
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  };
}

/**
 * The smallest worker that reads models: `ModelReader` + `s3Reader`, the latest
 * model of a domain and one file of it. `npm run size` bundles it beside the
 * full edge worker, to measure what a read-only worker carries: no upload
 * path, no fflate (the platform's DecompressionStream inflates), no unrolled
 * SHA-256 (workerd's crypto.DigestStream hashes).
 *
 *   GET /?domain=customer-refunds&path=config.json
 */
import { ModelReader } from "modelstore-js";
import { s3Reader } from "modelstore-js/s3";

interface Env {
  S3_BUCKET: string;
  S3_ENDPOINT?: string;
  S3_REGION?: string;
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const domain = url.searchParams.get("domain");
    const path = url.searchParams.get("path");
    if (!domain || !path) return new Response("Pass ?domain=...&path=...", { status: 400 });
    const backend = s3Reader({ bucket: env.S3_BUCKET, endpoint: env.S3_ENDPOINT, region: env.S3_REGION, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } });
    const reader = new ModelReader({ backend });
    const body = await reader.readFile(domain, undefined, path);
    return body ? new Response(body) : new Response("No such file in the latest model.", { status: 404 });
  },
};

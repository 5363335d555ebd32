/**
 * The smallest worker that reads models: `ModelStore` + `s3Backend`, the latest
 * model of a domain and one file of it. `npm run size` bundles it beside the
 * full edge worker, to measure what a read-only worker carries (#16 asks for
 * ≤ 20 KiB minified and gzipped; the store and the S3 backend bundle their
 * upload paths and the portable SHA-256 with it today).
 *
 *   GET /?domain=customer-refunds&path=config.json
 */
import { ModelStore } from "modelstore-js";
import { s3Backend } from "modelstore-js/s3";

interface Env {
  S3_BUCKET: string;
  S3_ENDPOINT?: string;
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const domain = url.searchParams.get("domain");
    const path = url.searchParams.get("path");
    if (!domain || !path) return new Response("Pass ?domain=...&path=...", { status: 400 });
    const backend = s3Backend({ bucket: env.S3_BUCKET, endpoint: env.S3_ENDPOINT, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } });
    const store = new ModelStore({ backend });
    const latest = await store.getLatest(domain);
    const body = await store.readFile(domain, latest.model.model_id, path);
    return body ? new Response(body) : new Response("No such file in the latest model.", { status: 404 });
  },
};

/**
 * s3BackendFromEnv without keys in the environment: credentials found as the
 * AWS CLI finds them (the SDK's provider chain), here a named profile in a
 * shared credentials file, checked by the real S3 server's SigV4.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { s3BackendFromEnv } from "../../../src/backends/s3/s3-env.ts";
import { createBucket, useS3Server, type S3Server } from "../../support/s3-server.ts";

let server: S3Server;
let bucket: string;
let dir: string;
const saved: Record<string, string | undefined> = {};
// The chain reads these from process.env itself.
const CHAIN_VARIABLES = ["AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_EC2_METADATA_DISABLED", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"];

beforeAll(async () => {
  server = await useS3Server();
  bucket = await createBucket(server, "chain");
  dir = await mkdtemp(join(tmpdir(), "modelstore-aws-"));
  for (const name of CHAIN_VARIABLES) {
    saved[name] = process.env[name];
    delete process.env[name];
  }
  await writeFile(join(dir, "credentials"), `[default]\naws_access_key_id = nobody\naws_secret_access_key = wrong\n\n[swift]\naws_access_key_id = ${server.accessKeyId}\naws_secret_access_key = ${server.secretAccessKey}\n`);
  await writeFile(join(dir, "config"), "[profile swift]\nregion = us-east-1\n");
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, "credentials");
  process.env.AWS_CONFIG_FILE = join(dir, "config");
  // No instance metadata service here: without this the chain would wait for one.
  process.env.AWS_EC2_METADATA_DISABLED = "true";
}, 300_000);
afterAll(async () => {
  for (const name of CHAIN_VARIABLES) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
  await rm(dir, { recursive: true, force: true });
  await server?.stop();
});

const env = (extra: Record<string, string>) => ({ MODEL_STORE_AWS_BUCKET: bucket, AWS_ENDPOINT_URL_S3: server.endpoint, AWS_REGION: server.region, ...extra });
const bytes = (text: string) => new TextEncoder().encode(text);

describe("s3BackendFromEnv without keys in the environment", () => {
  it("signs with the profile AWS_PROFILE names in the shared credentials file", async () => {
    const backend = s3BackendFromEnv(env({ AWS_PROFILE: "swift" }));
    await backend.put("chain/hello.txt", bytes("hi"));
    expect(await new Response(await backend.get("chain/hello.txt")).text()).toBe("hi");
  });

  it("with the default profile's wrong keys, fails as the server refuses the signature", async () => {
    const backend = s3BackendFromEnv(env({}));
    await expect(backend.head("chain/hello.txt")).rejects.toMatchObject({ code: "BACKEND", status: 403 });
  });

  it("names the profile and says what to do when the chain finds nothing", async () => {
    const backend = s3BackendFromEnv(env({ AWS_PROFILE: "no-such-profile" }));
    const error = await backend.head("chain/hello.txt").catch((e) => e);
    expect(error).toMatchObject({ code: "BACKEND" });
    expect(error.message).toContain('the AWS credential chain (profile "no-such-profile") found none');
    expect(error.message).toContain("Set AWS_PROFILE");
  });
});

/** The `modelstore` command end to end: the built binary in a temp dir, as a user runs it. */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBucket, useS3Server, type S3Server } from "../support/s3-server.js";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "dist/cli/main.js");
let work: string;

function cli(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [bin, ...args], {
    cwd: work,
    env: { ...process.env, MODEL_STORE_ROOT: join(work, "store"), ...env },
    encoding: "utf8",
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(async () => {
  // Built by `npm test`'s pretest; when this file runs alone, build if missing.
  if (!existsSync(bin)) execFileSync("npm", ["run", "build", "--silent"], { cwd: repo, stdio: "inherit" });
  work = await mkdtemp(join(tmpdir(), "modelstore-cli-"));
  await mkdir(join(work, "model/sub"), { recursive: true });
  await writeFile(join(work, "model/config.json"), '{"a": 1}');
  await writeFile(join(work, "model/sub/weights.bin"), new Uint8Array(70_000).map((_, i) => i % 251));
  await writeFile(join(work, "notes.txt"), "extra notes");
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe("modelstore CLI", () => {
  it("uploads, lists, shows, cats, downloads and deletes a model", async () => {
    const up = cli(["upload", "refunds", "model", "--extra", "notes.txt", "--meta", '{"accuracy": 0.9}', "--json"]);
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    const meta = JSON.parse(up.stdout);
    expect(meta.extra).toEqual({ accuracy: 0.9 });
    const id: string = meta.model.model_id;

    expect(JSON.parse(cli(["domains", "--json"]).stdout)).toEqual(["refunds"]);
    const models = JSON.parse(cli(["models", "refunds", "--json"]).stdout);
    expect(models.map((m: { model: { model_id: string } }) => m.model.model_id)).toEqual([id]);
    expect(JSON.parse(cli(["info", "refunds", "--json"]).stdout).model.model_id).toBe(id);
    expect(cli(["info", "refunds", id]).stdout).toContain(id);

    expect(cli(["cat", "refunds", "latest", "config.json"]).stdout).toBe('{"a": 1}');
    expect(cli(["cat", "refunds", id, "extras/notes.txt"]).stdout).toBe("extra notes");

    const down = cli(["download", "refunds", id, "--to", "out", "--json"]);
    expect(down.code).toBe(0);
    expect(await readFile(join(work, "out/sub/weights.bin"))).toEqual(await readFile(join(work, "model/sub/weights.bin")));
    expect(await readFile(join(work, "out/config.json"), "utf8")).toBe('{"a": 1}');

    expect(cli(["delete", "refunds", id]).code).toBe(0);
    expect(JSON.parse(cli(["models", "refunds", "--json"]).stdout)).toEqual([]);
  });

  it("downloads into ./<domain>/<id> without --to, leaving folders of the working directory alone", async () => {
    const up = JSON.parse(cli(["upload", "shadow", "model", "--json"]).stdout);
    const id: string = up.model.model_id;
    // A folder of the working directory that shares a name with one of the model's.
    await mkdir(join(work, "sub"), { recursive: true });
    await writeFile(join(work, "sub/mine.txt"), "not the model's");
    const down = cli(["download", "shadow", "--json"]);
    expect(down.code).toBe(0);
    expect(JSON.parse(down.stdout).dir).toBe(join(work, "shadow", id));
    expect(await readFile(join(work, "shadow", id, "sub/weights.bin"))).toEqual(await readFile(join(work, "model/sub/weights.bin")));
    expect(await readFile(join(work, "sub/mine.txt"), "utf8")).toBe("not the model's");
  });

  it("reads MODEL_STORE_ROOT_PREFIX as the Python library does, counts empty variables as unset, and lets flags override MODEL_STORE_CONFIG", async () => {
    // Python's filesystem storage: MODEL_STORE_ROOT_PREFIX is the store's directory.
    const env = { MODEL_STORE_ROOT: "", MODEL_STORE_ROOT_PREFIX: join(work, "py-root") };
    expect(cli(["upload", "py-domain", "model", "--json"], env).code).toBe(0);
    expect(existsSync(join(work, "py-root", "operatorai-model-store", "py-domain", "latest.json"))).toBe(true);
    expect(JSON.parse(cli(["domains", "--json"], env).stdout)).toEqual(["py-domain"]);
    // A config file from the environment gives way to flags that choose the store.
    const withConfig = { MODEL_STORE_CONFIG: join(work, "no-such-config.json") };
    expect(cli(["domains", "--json"], withConfig).code).not.toBe(0);
    const flagged = cli(["domains", "--json", "--root", join(work, "py-root")], withConfig);
    expect(flagged.stderr).toBe("");
    expect(JSON.parse(flagged.stdout)).toEqual(["py-domain"]);
  });

  it("writes an archive GNU tar can list", async () => {
    const result = cli(["archive", "model", "-o", "a.tar.gz"]);
    expect(result.code).toBe(0);
    const listing = execFileSync("tar", ["-tzf", join(work, "a.tar.gz")], { encoding: "utf8" }).split("\n");
    expect(listing).toEqual(expect.arrayContaining(["runtime-info.json", "config.json", "sub/weights.bin"]));
  });

  it("exits with clear codes and messages on bad input", () => {
    const missing = cli(["info", "nowhere"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/Domain "nowhere" has no models/);
    // The library's advice, given as the commands that follow it.
    expect(missing.stderr).toContain("List the domains with modelstore domains, or upload one with modelstore upload nowhere <paths...>.");
    expect(missing.stderr).not.toContain("store.");
    const asJson = cli(["info", "nowhere", "--json"]);
    expect(asJson.code).toBe(3);
    expect(asJson.stdout).toBe("");
    expect(JSON.parse(asJson.stderr)).toEqual({ error: { code: "NOT_FOUND", message: expect.stringContaining('Domain "nowhere" has no models') } });
    const bad = cli(["upload", "a/b", "model"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Invalid domain/);
    expect(cli(["frobnicate"]).code).toBe(2);
    expect(cli(["upload", "refunds", "no-such-path"]).code).toBe(2);
    const storage = cli(["domains"], { MODEL_STORE_STORAGE: "floppy" });
    expect(storage.code).toBe(2);
    expect(storage.stderr).toMatch(/Unknown storage "floppy"/);
  });

  it("reads its root from --root over MODEL_STORE_ROOT", () => {
    expect(cli(["upload", "flagged", "model", "--root", "other-store"]).code).toBe(0);
    expect(JSON.parse(cli(["domains", "--json", "--root", "other-store"]).stdout)).toEqual(["flagged"]);
    expect(existsSync(join(work, "other-store/operatorai-model-store/flagged/latest.json"))).toBe(true);
  });

  it("works the same on S3 with MODEL_STORE_STORAGE=aws-s3", async () => {
    const server: S3Server = await useS3Server();
    try {
      const env = {
        MODEL_STORE_STORAGE: "aws-s3",
        MODEL_STORE_AWS_BUCKET: await createBucket(server, "cli"),
        AWS_ACCESS_KEY_ID: server.accessKeyId,
        AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
        AWS_REGION: server.region,
        AWS_ENDPOINT_URL_S3: server.endpoint,
      };
      const up = cli(["upload", "refunds", "model", "--json"], env);
      expect(up.stderr).toBe("");
      const meta = JSON.parse(up.stdout);
      expect(meta.storage).toMatchObject({ type: "aws:s3", bucket: env.MODEL_STORE_AWS_BUCKET });
      expect(JSON.parse(cli(["domains", "--json"], env).stdout)).toEqual(["refunds"]);
      expect(cli(["cat", "refunds", "latest", "config.json"], env).stdout).toBe('{"a": 1}');
      const wrongSecret = cli(["domains"], { ...env, AWS_SECRET_ACCESS_KEY: "not-the-secret" });
      expect(wrongSecret.code).toBe(1);
      expect(wrongSecret.stderr).toMatch(/secret access key/);
      expect(wrongSecret.stderr).not.toContain("not-the-secret");
    } finally {
      await server.stop();
    }
  }, 300_000);
});

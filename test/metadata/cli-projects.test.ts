/** The CLI's projects, tasks and --project, and its choice of metadata repository (env or config file). */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, usePostgresServer, type PostgresServer } from "../support/postgres-server.ts";
import { createBucket, useS3Server, type S3Server } from "../support/s3-server.ts";

const repo = resolve(import.meta.dirname, "../..");
let work: string;
let bin: string;
let pg: PostgresServer;
let s3: S3Server;

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: work, env: { ...process.env, MODEL_STORE_ROOT: join(work, "store"), ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}
const json = async (args: string[], env?: Record<string, string>) => {
  const result = await cli([...args, "--json"], env);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout);
};
const names = (list: { name: string }[]) => list.map((x) => x.name);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "modelstore-cli-projects-"));
  // The CLI from the current sources; beside node_modules so the optional "postgres" peer resolves.
  bin = join(repo, "node_modules/.cache/modelstore-tests", `cli-${process.pid}-${Date.now()}.mjs`);
  await build({ entryPoints: [join(repo, "src/cli/main.ts")], bundle: true, platform: "node", format: "esm", outfile: bin, logLevel: "error", external: ["postgres"] });
  await mkdir(join(work, "model"), { recursive: true });
  await writeFile(join(work, "model/config.json"), '{"a": 1}');
  [pg, s3] = await Promise.all([usePostgresServer(), useS3Server()]);
}, 300_000);
afterAll(async () => {
  await Promise.all([pg?.stop(), s3?.stop(), rm(work, { recursive: true, force: true }), rm(bin, { force: true })]);
});

describe("modelstore CLI with projects", () => {
  it("uploads into a project, lists projects, a project's tasks, and filters listings by --project", async () => {
    await json(["upload", "refunds", "model", "--project", "payments"]);
    await json(["upload", "churn", "model"]);
    expect(names(await json(["projects"]))).toEqual(["default", "payments"]);
    expect(names(await json(["tasks", "payments"]))).toEqual(["refunds"]);
    expect(await json(["tasks"])).toEqual([expect.objectContaining({ name: "churn", project: "default" }), expect.objectContaining({ name: "refunds", project: "payments" })]);
    expect((await cli(["tasks"])).stdout).toBe("churn  default\nrefunds  payments\n");
    expect(await json(["domains", "--project", "payments"])).toEqual(["refunds"]);
    expect(await json(["models", "refunds", "--project", "payments"])).toHaveLength(1);
    const wrong = await cli(["models", "refunds", "--project", "default"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/belongs to project "payments"/);
    const moved = await cli(["upload", "refunds", "model", "--project", "analytics"]);
    expect(moved.code).toBe(4);
    expect(moved.stderr).toMatch(/belongs to project "payments"/);
    const unknown = await cli(["tasks", "nowhere"]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/Project "nowhere" does not exist/);
  });

  it("delete-project needs --cascade when the project is not empty", async () => {
    await json(["upload", "disputes", "model", "--project", "legal"]);
    const refused = await cli(["delete-project", "legal"]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/--cascade|cascade: true/);
    await json(["delete-project", "legal", "--cascade"]);
    expect(names(await json(["projects"]))).not.toContain("legal");
    expect(existsSync(join(work, "store/operatorai-model-store/disputes"))).toBe(false);
  });

  it("keeps metadata in metadata.json with MODEL_STORE_METADATA=local", async () => {
    const env = { MODEL_STORE_METADATA: "local", MODEL_STORE_ROOT: join(work, "local-store") };
    const meta = await json(["upload", "refunds", "model", "--project", "payments"], env);
    const doc = JSON.parse(await readFile(join(work, "local-store/metadata.json"), "utf8"));
    expect(Object.keys(doc.models.refunds)).toEqual([meta.model.model_id]);
    expect(existsSync(join(work, "local-store/operatorai-model-store/refunds/latest.json"))).toBe(false);
    expect((await cli(["cat", "refunds", "latest", "config.json"], env)).stdout).toBe('{"a": 1}');
    const bad = await cli(["projects"], { MODEL_STORE_METADATA: "mysql" });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Unknown metadata "mysql"/);
  });

  it("follows a config file to PostgreSQL metadata and S3 artifacts", async () => {
    const [bucket, db] = await Promise.all([createBucket(s3, "cliconfig"), createDatabase(pg, "cli")]);
    const config = join(work, "remote.json");
    await writeFile(config, JSON.stringify({ metadata: { type: "postgres", url: "${CLI_TEST_PG}" }, artifacts: { type: "s3", bucket, endpoint: s3.endpoint, region: s3.region } }));
    const env = { MODEL_STORE_CONFIG: config, CLI_TEST_PG: db.url, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
    try {
      const meta = await json(["upload", "refunds", "model", "--project", "payments"], env);
      expect(meta.storage).toMatchObject({ type: "aws:s3", bucket });
      expect(names(await json(["tasks", "payments"], env))).toEqual(["refunds"]);
      expect((await cli(["cat", "refunds", "latest", "config.json"], env)).stdout).toBe('{"a": 1}');
      expect((await json(["info", "refunds"], env)).model.model_id).toBe(meta.model.model_id);
    } finally {
      await db.drop();
    }
  });
});

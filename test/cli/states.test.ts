/** The `modelstore` model-state commands end to end: the built binary on temp stores, and on a tree the Python modelstore wrote. */
import { execFileSync, spawnSync } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "dist/cli/main.js");
const PYTHON_081 = join(repo, "../shared/fixtures/python-modelstore/0.0.81");
let work: string;

function cli(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [bin, ...args], { cwd: work, env: { ...process.env, MODEL_STORE_ROOT: join(work, "store"), ...env }, encoding: "utf8" });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
const json = (args: string[], env?: Record<string, string>) => {
  const result = cli([...args, "--json"], env);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout);
};

beforeAll(async () => {
  execFileSync("npm", ["run", "build", "--silent"], { cwd: repo, stdio: "inherit" });
  work = await mkdtemp(join(tmpdir(), "modelstore-cli-states-"));
  await mkdir(join(work, "model"), { recursive: true });
  await writeFile(join(work, "model/config.json"), '{"a": 1}');
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe("modelstore state commands", () => {
  for (const metadata of ["bucket", "local"]) {
    it(`state create, set-state, models/info/download --state, unset-state, state-history and state delete (${metadata} metadata)`, async () => {
      const env = { MODEL_STORE_ROOT: join(work, `store-${metadata}`), MODEL_STORE_METADATA: metadata, USER: "ana", LOGNAME: "ana" };
      const first = json(["upload", "refunds", "model"], env).model.model_id;
      const second = json(["upload", "refunds", "model"], env).model.model_id;
      expect(cli(["state", "create", "production"], env).stdout).toContain("created state production");
      expect(json(["states"], env).map((s: { name: string }) => s.name)).toEqual(["production"]);
      expect(json(["set-state", "refunds", first, "production"], env)).toEqual({ domain: "refunds", model_id: first, states: ["production"] });
      expect(json(["models", "refunds", "--state", "production"], env).map((m: { model: { model_id: string } }) => m.model.model_id)).toEqual([first]);
      expect(json(["info", "refunds", "--state", "production"], env).model.model_id).toBe(first);
      expect(json(["info", "refunds"], env).model.model_id).toBe(second);
      const got = json(["download", "refunds", "--state", "production", "--to", join(work, `prod-${metadata}`)], env);
      expect(got.model_id).toBe(first);
      expect(await readFile(join(work, `prod-${metadata}`, "config.json"), "utf8")).toBe('{"a": 1}');
      expect(cli(["state", "delete", "production"], env).code).toBe(4); // still holds a model
      expect(json(["state", "create", "canary"], env).name).toBe("canary");
      json(["set-state", "refunds", second, "canary"], env);
      expect(json(["state", "delete", "canary", "--cascade"], env)).toEqual({ deleted: "canary" });
      expect(json(["unset-state", "refunds", first, "production"], env).states).toEqual([]);
      const history = json(["state-history", "refunds"], env);
      expect(history.map((e: { action: string; modelId: string; user: string; state: string }) => [e.action, e.modelId, e.user, e.state])).toEqual([
        ["set", first, "ana", "production"],
        ["set", second, "ana", "canary"],
        ["remove", second, "ana", "canary"],
        ["remove", first, "ana", "production"],
      ]);
      expect(cli(["state-history", "refunds"], env).stdout).toMatch(/set\s+production\s+\S+\s+ana/);
      expect(cli(["state", "delete", "production"], env).code).toBe(0);
      expect(json(["states"], env)).toEqual([]);
    });
  }

  it("refuses reserved and unknown states with clear messages and exit codes", () => {
    const env = { MODEL_STORE_ROOT: join(work, "store-errors") };
    const id = json(["upload", "refunds", "model"], env).model.model_id;
    const reserved = cli(["state", "create", "modelstore-deleted"], env);
    expect(reserved.code).toBe(2);
    expect(reserved.stderr).toContain('"modelstore-deleted" is reserved');
    const unknown = cli(["set-state", "refunds", id, "production"], env);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('The model state "production" does not exist');
    expect(cli(["models", "refunds", "--state", "production"], env).code).toBe(3);
    expect(cli(["info", "refunds", id, "--state", "production"], env).code).toBe(2);
    expect(cli(["state", "rename", "production"], env).code).toBe(2);
  });

  it("reads and changes the states of a store the Python modelstore 0.0.81 wrote", async () => {
    const root = join(work, "python-081");
    await cp(join(PYTHON_081, "store"), root, { recursive: true });
    const manifest = JSON.parse(await readFile(join(PYTHON_081, "MANIFEST.json"), "utf8"));
    const env = { MODEL_STORE_ROOT: root };
    expect(new Set(json(["states"], env).map((s: { name: string }) => s.name))).toEqual(new Set(manifest.answers.list_model_states.result));
    const production: string[] = manifest.summary.domains.sklearn.by_state.production;
    expect(json(["models", "sklearn", "--state", "production"], env).map((m: { model: { model_id: string } }) => m.model.model_id)).toEqual(production);
    expect(json(["unset-state", "sklearn", production[0], "production"], env).states).toEqual(["staging"]);
    expect(json(["models", "sklearn", "--state", "production"], env)).toEqual([]);
  });
});

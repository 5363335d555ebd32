/** `modelstore models` pages: --limit, --cursor, --all, --jsonl, with the built binary. */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileSystemBackend } from "../../src/fs.ts";
import { bucketMetadata } from "../../src/metadata/bucket.ts";
import { fakeModel } from "../metadata/contract.ts";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "dist/cli/main.js");
let work: string;
const idOf = (i: number) => `m${String(i).padStart(3, "0")}`;
const newestFirst = Array.from({ length: 7 }, (_, i) => idOf(6 - i));

function cli(args: string[]) {
  const result = spawnSync(process.execPath, [bin, ...args], { cwd: work, env: { ...process.env, MODEL_STORE_ROOT: join(work, "store") }, encoding: "utf8" });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
const idsIn = (table: string) => table.trim().split("\n").map((line) => line.split(/\s+/)[0]);

beforeAll(async () => {
  if (!existsSync(bin)) execFileSync("npm", ["run", "build", "--silent"], { cwd: repo, stdio: "inherit" });
  work = await mkdtemp(join(tmpdir(), "modelstore-cli-pages-"));
  const repository = bucketMetadata({ backend: fileSystemBackend({ root: join(work, "store") }) });
  for (let i = 0; i < 7; i++) await repository.addModel(fakeModel("refunds", idOf(i), new Date(Date.UTC(2025, 0, 1, i)).toISOString()));
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe("modelstore models paging", () => {
  it("--limit prints one page and the command for the next; --cursor continues it", () => {
    const first = cli(["models", "refunds", "--limit", "3"]);
    expect(first.code).toBe(0);
    expect(idsIn(first.stdout)).toEqual(newestFirst.slice(0, 3));
    const next = /--cursor (\S+)/.exec(first.stderr)?.[1];
    expect(next).toBeDefined();
    const rest: string[] = [];
    let cursor = next;
    while (cursor !== undefined) {
      const page = cli(["models", "refunds", "--limit", "3", "--cursor", cursor]);
      expect(page.code).toBe(0);
      rest.push(...idsIn(page.stdout));
      cursor = /--cursor (\S+)/.exec(page.stderr)?.[1];
    }
    expect(rest).toEqual(newestFirst.slice(3));
  });

  it("--all prints every model with no hint; --jsonl prints one document per line", () => {
    const all = cli(["models", "refunds", "--all", "--jsonl"]);
    expect(all.code).toBe(0);
    expect(all.stderr).toBe("");
    const lines = all.stdout.trim().split("\n");
    expect(lines.map((line) => JSON.parse(line).model.model_id)).toEqual(newestFirst);
    const asJson = cli(["models", "refunds", "--limit", "2", "--json"]);
    expect(JSON.parse(asJson.stdout).map((m: { model: { model_id: string } }) => m.model.model_id)).toEqual(newestFirst.slice(0, 2));
  });

  it("refuses a bad --limit or --cursor with exit code 2 and what to do", () => {
    const bad = cli(["models", "refunds", "--limit", "zero"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/limit must be a whole number from 1 to 10000/);
    const cursor = cli(["models", "refunds", "--cursor", "nonsense"]);
    expect(cursor.code).toBe(2);
    expect(cursor.stderr).toMatch(/was not handed out by a previous page/);
    expect(cli(["models", "refunds", "--all", "--limit", "2"]).stderr).toContain("--all lists every model; leave out --limit and --cursor.");
  });
});

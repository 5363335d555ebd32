/** code.git: a real git checkout in a temp dir, a remote URL with a token in it, local changes. */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { gitInfo } from "../../src/fs.ts";
import { ModelStore, memoryBackend } from "../../src/index.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelstore-git-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: dir, encoding: "utf8" }).trim();

describe("gitInfo", () => {
  it("records the repository name, commit, branch and local changes, and never the remote's credentials", async () => {
    git("init", "-q", "-b", "train");
    await writeFile(join(dir, "train.py"), "print(1)\n");
    git("add", "train.py");
    git("commit", "-q", "-m", "first");
    git("remote", "add", "origin", "https://alice:ghp_secret123@github.com/acme/fraud-models.git");
    const clean = await gitInfo(dir);
    expect(clean).toEqual({ repository: "fraud-models", sha: git("rev-parse", "HEAD"), local_changes: false, branch: "train", url: "https://github.com/acme/fraud-models.git" });
    expect(JSON.stringify(clean)).not.toContain("secret");

    await writeFile(join(dir, "train.py"), "print(2)\n");
    expect((await gitInfo(dir))?.local_changes).toBe(true);

    const store = new ModelStore({ backend: memoryBackend() });
    const uploaded = await store.upload("fraud", { files: [{ path: "m.bin", body: new Uint8Array([1]), size: 1 }], git: await gitInfo(dir) });
    expect(uploaded.code.git?.repository).toBe("fraud-models");
    expect((await store.getLatest("fraud")).code.git?.sha).toBe(clean?.sha);
  });

  it("is undefined outside a checkout, and drops a detached HEAD's branch", async () => {
    expect(await gitInfo(dir)).toBeUndefined();
    git("init", "-q");
    await writeFile(join(dir, "a"), "a");
    git("add", "a");
    git("commit", "-q", "-m", "a");
    git("checkout", "-q", "--detach");
    const info = await gitInfo(dir);
    expect(info?.branch).toBeUndefined();
    expect(info?.repository).toBe("");
  });
});

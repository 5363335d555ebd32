/** What an upload records about the code on Node: exact installed framework versions, and the user without USER. */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentUser, custom, installedVersions, local } from "../../src/fs.ts";

let base: string;

async function install(dir: string, name: string, version: string): Promise<void> {
  await mkdir(join(dir, "node_modules", name), { recursive: true });
  await writeFile(join(dir, "node_modules", name, "package.json"), JSON.stringify({ name, version }));
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "modelstore-recorded-"));
  // An app in base/app, with one framework of its own and one hoisted to the parent's node_modules.
  await install(join(base, "app"), "onnxruntime-node", "1.20.1");
  await install(base, "@tensorflow/tfjs", "4.22.0");
  await install(join(base, "app"), "left-pad", "1.3.0");
  await mkdir(join(base, "app/node_modules/broken"), { recursive: true });
  await writeFile(join(base, "app/node_modules/broken/package.json"), "{ not json");
});
afterAll(() => rm(base, { recursive: true, force: true }));

describe("installedVersions", () => {
  it("finds the known frameworks installed where Node resolves from, with their exact versions", async () => {
    expect(await installedVersions({ from: join(base, "app") })).toEqual({ "@tensorflow/tfjs": "4.22.0", "onnxruntime-node": "1.20.1" });
  });

  it("adds the packages named, and refuses one that is not installed or is no package name", async () => {
    expect(await installedVersions({ from: join(base, "app"), packages: ["left-pad"], detect: false })).toEqual({ "left-pad": "1.3.0" });
    const missing = await installedVersions({ from: join(base, "app"), packages: ["not-installed"] }).catch((e) => e);
    expect(missing).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(missing.message).toContain('Cannot record the version of "not-installed"');
    await expect(installedVersions({ from: join(base, "app"), packages: ["broken"] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(installedVersions({ packages: ["../../etc"] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("records nothing where nothing is installed", async () => {
    expect(await installedVersions({ from: tmpdir() })).toEqual({});
  });
});

describe("currentUser", () => {
  it("reads LOGNAME, USER, LNAME, USERNAME in getpass order, then the OS account", () => {
    expect(currentUser({ USER: "u", LOGNAME: "l", USERNAME: "w" })).toBe("l");
    expect(currentUser({ USERNAME: "w", LNAME: "n" })).toBe("n");
    expect(currentUser({ USER: "" })).toBe(userInfo().username);
    expect(currentUser({})).toBe(userInfo().username);
  });

  it("is what the Node factories record as code.user when the environment names no user", async () => {
    const store = await custom({ artifacts: "memory", metadata: "memory", env: {} });
    const meta = await store.upload("users", { files: [{ path: "w.bin", body: new Uint8Array(1) }] });
    expect(meta.code.user).toBe(userInfo().username);
    const named = await local(join(base, "store"), { user: "trainer" });
    expect((await named.upload("users", { files: [{ path: "w.bin", body: new Uint8Array(1) }] })).code.user).toBe("trainer");
  });
});

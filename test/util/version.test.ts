import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEPENDENCY_VERSIONS, LIBRARY_NAME, LIBRARY_VERSION, ModelStore, memoryBackend, runtimeInfoDocument, detectRuntime } from "../../src/index.ts";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
const deno = JSON.parse(readFileSync(new URL("../../deno.json", import.meta.url), "utf8"));

describe("versions and runtime info", () => {
  it("the library version matches package.json and deno.json", () => {
    expect(LIBRARY_VERSION).toBe(pkg.version);
    expect(deno.version).toBe(pkg.version);
  });

  it("every model records this library's exact version under its package name, and no declared ranges", async () => {
    expect(LIBRARY_NAME).toBe(pkg.name);
    expect(DEPENDENCY_VERSIONS).toEqual({ [pkg.name]: pkg.version });
    const store = new ModelStore({ backend: memoryBackend() });
    const meta = await store.upload("pinned", { files: [{ path: "w.bin", body: new Uint8Array(3) }], dependencies: { "onnxruntime-node": "1.20.1" } });
    expect(meta.code.dependencies).toEqual({ [pkg.name]: pkg.version, "onnxruntime-node": "1.20.1" });
    for (const version of Object.values(meta.code.dependencies)) expect(version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("records the user as Python's getpass.getuser() finds it: LOGNAME, USER, LNAME, USERNAME, or the store's user", async () => {
    const names = ["LOGNAME", "USER", "LNAME", "USERNAME"] as const;
    const saved = names.map((name) => process.env[name]);
    try {
      for (const name of names) delete process.env[name];
      expect(detectRuntime().user).toBeUndefined();
      process.env.USERNAME = "windows-user";
      expect(detectRuntime().user).toBe("windows-user");
      process.env.LNAME = "lname-user";
      expect(detectRuntime().user).toBe("lname-user");
      process.env.LOGNAME = "login-user";
      process.env.USER = "plain-user";
      expect(detectRuntime().user).toBe("login-user");
      const upload = (store: ModelStore) => store.upload("users", { files: [{ path: "w.bin", body: new Uint8Array(1) }] });
      expect((await upload(new ModelStore({ backend: memoryBackend() }))).code.user).toBe("login-user");
      expect((await upload(new ModelStore({ backend: memoryBackend(), user: "trainer" }))).code.user).toBe("trainer");
    } finally {
      names.forEach((name, i) => (saved[i] === undefined ? delete process.env[name] : (process.env[name] = saved[i])));
    }
  });

  it("deno.json exports the same entry points as package.json", () => {
    const npmEntries = Object.keys(pkg.exports).filter((k) => k !== "./package.json").sort();
    expect(Object.keys(deno.exports).sort()).toEqual(npmEntries);
  });

  it("reports the real runtime", () => {
    const runtime = detectRuntime();
    expect(runtime.label).toBe(`node:${process.versions.node}`);
    expect(runtime.platform).toBe(`${process.platform}-${process.arch}`);
    const doc = runtimeInfoDocument({ onnxruntime: "1.20.0" });
    expect(doc.runtime).toEqual({ name: "node", version: process.versions.node, platform: `${process.platform}-${process.arch}` });
    expect(doc.dependencies.onnxruntime).toBe("1.20.0");
    expect(doc.modelstore).toBe(pkg.version);
  });
});

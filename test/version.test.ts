import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEPENDENCY_VERSIONS, LIBRARY_VERSION, runtimeInfoDocument, detectRuntime } from "../src/index.js";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const deno = JSON.parse(readFileSync(new URL("../deno.json", import.meta.url), "utf8"));

describe("versions and runtime info", () => {
  it("the library version matches package.json and deno.json", () => {
    expect(LIBRARY_VERSION).toBe(pkg.version);
    expect(deno.version).toBe(pkg.version);
  });

  it("recorded dependency versions match package.json", () => {
    for (const [name, range] of Object.entries(DEPENDENCY_VERSIONS)) expect(pkg.dependencies[name]).toBe(range);
    expect(Object.keys(pkg.dependencies).sort()).toEqual(Object.keys(DEPENDENCY_VERSIONS).sort());
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

/**
 * Drift between the two package manifests: every package.json export must be
 * a deno.json export of the very source file tsup builds it from, so Deno
 * users and npm users import the same module under the same name.
 */
import { readFileSync } from "node:fs";
import type { Options } from "tsup";
import { describe, expect, it } from "vitest";
import tsupConfig from "../tsup.config.ts";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const deno = JSON.parse(readFileSync(new URL("../deno.json", import.meta.url), "utf8"));
const tsup = tsupConfig as Options;
const normalize = (path: string) => path.replace(/^\.\//, "");

/** package.json exports other than ./package.json, as [subpath, { import, default, types }]. */
const npmExports = Object.entries(pkg.exports as Record<string, string | { import: string; default: string; types: string }>).filter(([key]) => key !== "./package.json") as [
  string,
  { import: string; default: string; types: string },
][];

describe("deno.json and package.json exports", () => {
  it("each package.json export is built by tsup from the source file deno.json exports under the same subpath", () => {
    const entries = tsup.entry as Record<string, string>;
    for (const [subpath, target] of npmExports) {
      const built = /^\.\/dist\/(.+)\.js$/.exec(target.import)?.[1];
      expect(built, `${subpath}: "import" should point into dist/`).toBeDefined();
      // require() of the ESM build (Node >= 20.19) matches "default", never "import".
      expect(target.default, `${subpath}: "default" should be the ESM build too`).toBe(target.import);
      expect(entries[built!], `tsup builds no dist/${built}.js for ${subpath}`).toBeDefined();
      expect(deno.exports[subpath], `deno.json lacks ${subpath}`).toBeDefined();
      expect(normalize(deno.exports[subpath]), `deno.json ${subpath}`).toBe(normalize(entries[built!]));
    }
    expect(Object.keys(deno.exports).sort()).toEqual(npmExports.map(([subpath]) => subpath).sort());
  });

  it("each package.json export has its type declarations built from the same source", () => {
    const dts = (typeof tsup.dts === "object" ? tsup.dts.entry : undefined) as Record<string, string> | undefined;
    for (const [subpath, target] of npmExports) {
      const built = /^\.\/dist\/(.+)\.d\.ts$/.exec(target.types)?.[1];
      expect(built, `${subpath}: "types" should point into dist/`).toBeDefined();
      expect(dts?.[built!], `tsup builds no dist/${built}.d.ts for ${subpath}`).toBe(normalize(deno.exports[subpath]));
    }
  });

  it("deno.json maps every npm dependency the sources import to the same version range", () => {
    for (const [name, range] of Object.entries(pkg.dependencies as Record<string, string>)) {
      const mapped = deno.imports[name] as string | undefined;
      if (mapped === undefined) continue; // not imported by src (checked by deno check in the Deno suite)
      expect(mapped, `deno.json imports.${name}`).toBe(`npm:${name}@${range}`);
    }
  });
});

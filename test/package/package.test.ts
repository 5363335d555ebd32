/**
 * The npm tarball as a user gets it: `npm pack` (whose prepack builds dist/) on a copy
 * of the sources, installed offline into a throwaway project, then imported, required
 * and type-checked there. And the JSR package as `deno publish --dry-run` would upload it.
 *
 * The pack runs on a copy because prepack rebuilds dist/ with `clean`, which would pull
 * the built files from under the CLI tests running beside this file.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repo = resolve(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as {
  name: string;
  version: string;
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  peerDependencies?: Record<string, string>;
  exports: Record<string, string | { types: string; import: string; default: string }>;
};
/** The package's entry points other than ./package.json, e.g. [".", "./fs", ...]. */
const subpaths = Object.keys(pkg.exports).filter((subpath) => subpath !== "./package.json");
/** What a user writes to import each entry point: "modelstore-js", "modelstore-js/fs", ... */
const specifiers = subpaths.map((subpath) => pkg.name + subpath.slice(1));
const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
/** require() of an ES module without a flag: Node 20.19 and 22.12 onwards. */
const requiresEsm = major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);

let work: string;
let files: string[];
let app: string;

function run(command: string, args: string[], cwd: string) {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "modelstore-package-"));
  const source = join(work, "source");
  mkdirSync(source);
  for (const name of ["package.json", "tsup.config.ts", "tsconfig.json", "README.md", "LICENSE", "src"]) {
    cpSync(join(repo, name), join(source, name), { recursive: true });
  }
  symlinkSync(join(repo, "node_modules"), join(source, "node_modules"), "dir");
  const out = join(work, "out");
  mkdirSync(out);
  execFileSync("npm", ["pack", "--pack-destination", out, "--silent"], { cwd: source, stdio: ["ignore", "ignore", "inherit"] });
  const tarball = join(out, readdirSync(out).find((name) => name.endsWith(".tgz"))!);
  files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).split("\n").filter(Boolean);

  // A user's project, installed without network: the package's own dependencies (and the
  // optional postgres peer, so ./postgres loads) are links into this repo's node_modules.
  app = join(work, "app");
  mkdirSync(app);
  const linked = [...Object.keys(pkg.dependencies), "postgres"];
  const dependencies = Object.fromEntries(linked.map((name) => [name, `file:${join(repo, "node_modules", name)}`]));
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, dependencies }));
  execFileSync("npm", ["install", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", "--silent", tarball], {
    cwd: app,
    stdio: ["ignore", "ignore", "inherit"],
  });
}, 300_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("npm pack", () => {
  it("ships the built entry points, their type declarations, the CLI, README and LICENSE", () => {
    const expected = ["package/package.json", "package/README.md", "package/LICENSE"];
    for (const subpath of subpaths) {
      // Every condition's file: types, default, and the Node build of modelstore-js/s3.
      const target = pkg.exports[subpath] as Record<string, string>;
      for (const file of new Set(Object.values(target))) expected.push(`package/${file.slice(2)}`);
    }
    for (const bin of Object.values(pkg.bin)) expected.push(`package/${bin.replace(/^\.\//, "")}`);
    expect(files).toEqual(expect.arrayContaining(expected));
    expect(files).toContain("package/dist/index.js");
  });

  it("ships neither source maps nor the TypeScript sources", () => {
    expect(files.filter((file) => file.endsWith(".map"))).toEqual([]);
    expect(files.filter((file) => file.startsWith("package/src/"))).toEqual([]);
    const installed = join(app, "node_modules", pkg.name);
    for (const file of files.filter((name) => name.endsWith(".js"))) {
      const text = readFileSync(join(installed, file.slice("package/".length)), "utf8");
      expect(text, `${file} points at a source map that is not shipped`).not.toContain("sourceMappingURL");
    }
  });

  it("ships the Apache-2.0 license text that package.json names", () => {
    const license = readFileSync(join(app, "node_modules", pkg.name, "LICENSE"), "utf8");
    expect(license).toContain("Apache License");
    expect(license).toContain("Version 2.0, January 2004");
    expect(license).toContain("END OF TERMS AND CONDITIONS");
  });
});

describe("the installed tarball", () => {
  it("is imported from an ES module, every entry point", () => {
    const script = specifiers.map((s, i) => `import * as m${i} from ${JSON.stringify(s)};`).join("\n") +
      `\nconsole.log(JSON.stringify([${specifiers.map((_, i) => `Object.keys(m${i}).length`).join(", ")}]));`;
    writeFileSync(join(app, "check.mjs"), script);
    const result = run(process.execPath, ["check.mjs"], app);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const counts = JSON.parse(result.stdout) as number[];
    expect(counts.every((count) => count > 0)).toBe(true);
  });

  it("resolves modelstore-js/s3 to its Node build on Node (the `node` condition), its plain build under a worker's conditions", () => {
    writeFileSync(join(app, "resolve.mjs"), `console.log(import.meta.resolve(${JSON.stringify(`${pkg.name}/s3`)}));`);
    expect(run(process.execPath, ["resolve.mjs"], app).stdout.trim()).toMatch(/\/node_modules\/modelstore-js\/dist\/s3-node\.js$/);
    expect(run(process.execPath, ["--conditions=workerd", "resolve.mjs"], app).stdout.trim()).toMatch(/\/node_modules\/modelstore-js\/dist\/s3\.js$/);
  });

  it.runIf(requiresEsm)("is required from CommonJS, every entry point (Node >= 20.19)", () => {
    const script = `const loaded = ${JSON.stringify(specifiers)}.map((name) => require(name));\n` +
      `console.log(JSON.stringify(loaded.map((m) => Object.keys(m).length)), typeof require(${JSON.stringify(pkg.name)}).ModelStore);`;
    writeFileSync(join(app, "check.cjs"), script);
    const result = run(process.execPath, ["check.cjs"], app);
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.code).toBe(0);
    const [counts, type] = result.stdout.trim().split(" ");
    expect((JSON.parse(counts!) as number[]).every((count) => count > 0)).toBe(true);
    expect(type).toBe("function");
  });

  it("type-checks from ESM and CommonJS (nodenext resolution), the core entry points without Node's types", () => {
    const nodeOnly = (s: string) => /\/(fs|postgres)$/.test(s);
    const core = specifiers.filter((s) => !nodeOnly(s));
    const imports = (list: string[]) => list.map((s, i) => `import * as m${i} from ${JSON.stringify(s)};\nvoid m${i};`).join("\n") + "\n";
    writeFileSync(join(app, "core.mts"), imports(core) + `import type { ModelStore } from ${JSON.stringify(pkg.name)};\nexport type Store = ModelStore;\n`);
    writeFileSync(join(app, "core.cts"), core.map((s, i) => `import m${i} = require(${JSON.stringify(s)});\nvoid m${i};`).join("\n") + "\n");
    writeFileSync(join(app, "node.mts"), imports(specifiers.filter(nodeOnly)));
    const options = { module: "nodenext", moduleResolution: "nodenext", target: "ES2022", strict: true, noEmit: true };
    // An edge worker's view: web libraries and no Node types, so a stray Buffer or node: type fails here.
    writeFileSync(join(app, "tsconfig.core.json"), JSON.stringify({
      compilerOptions: { ...options, lib: ["ES2023", "DOM", "DOM.Iterable", "DOM.AsyncIterable"], types: [] },
      files: ["core.mts", "core.cts"],
    }));
    writeFileSync(join(app, "tsconfig.node.json"), JSON.stringify({
      compilerOptions: { ...options, lib: ["ES2023"], types: ["node"], typeRoots: [join(repo, "node_modules/@types")] },
      files: ["node.mts"],
    }));
    const tsc = join(repo, "node_modules/typescript/bin/tsc");
    for (const project of ["tsconfig.core.json", "tsconfig.node.json"]) {
      const result = run(process.execPath, [tsc, "-p", project], app);
      expect(result.stdout + result.stderr, project).toBe("");
      expect(result.code, project).toBe(0);
    }
  }, 120_000);

  it("links the CLI, which runs", () => {
    const bin = join(app, "node_modules/.bin", Object.keys(pkg.bin)[0]!);
    expect(existsSync(bin)).toBe(true);
    const result = run(bin, ["--help"], app);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/usage/i);
  });
});

describe("deno publish --dry-run", () => {
  const deno = join(repo, "node_modules/.bin/deno");

  it.runIf(existsSync(deno))("passes and would upload only the sources, README, LICENSE and deno.json", () => {
    const result = run(deno, ["publish", "--dry-run", "--allow-dirty"], repo);
    const output = result.stdout + result.stderr;
    expect(output).toContain("Dry run complete");
    expect(result.code).toBe(0);
    // Two warnings are intended: s3-env.ts imports the optional AWS credential chain, and onnx-session.ts
    // the optional ONNX Runtime, by a name held in a variable, so that bundlers (a worker's) leave the
    // package out; Deno cannot analyze such an import.
    const intended = /^warning\[unanalyzable-dynamic-import\][^\n]*\n\s*--> [^\n]*\/src\/(backends\/s3\/s3-env|adapters\/onnx\/onnx-session)\.ts:\d+:\d+$/gm;
    expect(output.replace(intended, "")).not.toMatch(/^(warning|error)/m);
    const uploaded = [...output.matchAll(/file:\/\/(\S+)/g)].map((match) => match[1]!.slice(repo.length + 1));
    expect(uploaded).toEqual(expect.arrayContaining(["LICENSE", "README.md", "deno.json", "src/index.ts"]));
    expect(uploaded.filter((file) => !/^src\/.*\.ts$/.test(file) && !["LICENSE", "README.md", "deno.json"].includes(file))).toEqual([]);
  }, 120_000);
});

/**
 * The README's TypeScript and JavaScript examples, as written. Every ```ts / ```js
 * block is type-checked against the package's own sources: imports of the package
 * name (whatever package.json `name` says, with or without Deno's `npm:`) and of
 * its subpaths resolve, through `paths`, to the source file tsup builds each
 * export from. Blocks that need no credentials or network then run with Node in a
 * temp dir holding a `model/` directory (a copy of examples/model), bundled from
 * those same sources by esbuild, so no stale dist/ can hide a broken example (a
 * Deno example's `npm:` imports resolve the same way, so it runs under Node too).
 *
 * An HTML comment right before a block changes what is done with it:
 *   <!-- example: typecheck-only (why) -->   type-checked, never run (credentials, a database, a worker)
 *   <!-- example: continues -->              a fragment: appended to the block before it, checked and run together
 */
import { execFile } from "node:child_process";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build, type Plugin } from "esbuild";
import type { Options } from "tsup";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import tsupConfig from "../../tsup.config.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const README = join(REPO, "README.md");
const run = promisify(execFile);

/** One example: its code, the README line its code starts on, and what to do with it. */
interface Example {
  line: number;
  lang: "ts" | "js";
  code: string;
  run: boolean;
  /** Why it is only type-checked. */
  reason?: string;
}

const LANGS: Record<string, "ts" | "js"> = { ts: "ts", typescript: "ts", js: "js", javascript: "js", mjs: "js" };
const DIRECTIVE = /^<!--\s*example:\s*(typecheck-only|continues)\b\s*(.*?)\s*-->$/;

/** The ts/js blocks of `markdown`, fragments joined to the block they continue. */
export function extractExamples(markdown: string): Example[] {
  const lines = markdown.split("\n");
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(`{3,})\s*([\w-]*)/.exec(lines[i]);
    if (!fence) continue;
    const end = lines.findIndex((text, j) => j > i && text.startsWith(fence[1]) && text.trim() === fence[1]);
    if (end < 0) throw new Error(`README.md:${i + 1}: a code block that never ends`);
    const lang = LANGS[fence[2].toLowerCase()];
    const before = lines.slice(0, i).reverse().find((text) => text.trim() !== "")?.trim() ?? "";
    const directive = DIRECTIVE.exec(before);
    if (!directive && /^<!--\s*example\b/.test(before)) throw new Error(`README.md:${i}: unknown example directive ${before}`);
    const code = lines.slice(i + 1, end).join("\n") + "\n";
    if (lang && directive?.[1] === "continues") {
      const previous = examples.at(-1);
      if (!previous || previous.lang !== lang) throw new Error(`README.md:${i + 1}: "continues" needs a ${lang} block before it`);
      previous.code += code;
    } else if (lang) {
      const typecheckOnly = directive?.[1] === "typecheck-only";
      examples.push({ line: i + 2, lang, code, run: !typecheckOnly, reason: typecheckOnly ? directive[2].replace(/^\(|\)$/g, "") : undefined });
    }
    i = end;
  }
  return examples;
}

const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { name: string; exports: Record<string, string | { import?: string; default?: string }> };
const tsupEntries = (tsupConfig as Options).entry as Record<string, string>;

/** Each import specifier of the package (`name`, `name/fs`, `npm:name/fs`...) → the source file its export is built from. */
function packageSources(): Map<string, string> {
  const sources = new Map<string, string>();
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const built = /^\.\/dist\/(.+)\.js$/.exec(typeof target === "string" ? target : target.import ?? target.default ?? "")?.[1];
    if (!built || !tsupEntries[built]) continue;
    const specifier = pkg.name + subpath.slice(1);
    const source = resolve(REPO, tsupEntries[built]);
    sources.set(specifier, source);
    sources.set(`npm:${specifier}`, source);
  }
  return sources;
}

const examples = extractExamples(readFileSync(README, "utf8"));
const sources = packageSources();
const where = (example: Example) => `README.md:${example.line}`;
const fileOf = (example: Example) => join(REPO, ".readme-examples", `line-${example.line}.${example.lang}`);

/** Type errors of every example, each as `README.md:<line>:<col>: message`, checked in one program. */
function typeErrors(): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(join(REPO, "tsconfig.json"), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n")); } });
  const options: ts.CompilerOptions = {
    ...config!.options,
    noEmit: true,
    allowJs: true,
    checkJs: true,
    paths: Object.fromEntries([...sources].map(([specifier, source]) => [specifier, [source]])),
  };
  const files = new Map(examples.map((example) => [fileOf(example), example]));
  const host = ts.createCompilerHost(options, true);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (name) => files.has(resolve(name)) || fileExists.call(host, name);
  host.readFile = (name) => files.get(resolve(name))?.code ?? readFile.call(host, name);
  host.getSourceFile = (name, language, ...rest) => {
    const example = files.get(resolve(name));
    return example ? ts.createSourceFile(name, example.code, language, true) : getSourceFile.call(host, name, language, ...rest);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  const errors: string[] = [];
  for (const [file, example] of files) {
    for (const diagnostic of ts.getPreEmitDiagnostics(program, program.getSourceFile(file))) {
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
      if (diagnostic.file && diagnostic.start !== undefined && resolve(diagnostic.file.fileName) === file) {
        const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
        errors.push(`README.md:${example.line + line}:${character + 1}: ${message}`);
      } else {
        errors.push(`${where(example)} (${diagnostic.file?.fileName ?? "options"}): ${message}`);
      }
    }
  }
  return errors;
}

/** Resolves the package's own name to its sources; every other package is bundled from node_modules. */
const packagePlugin: Plugin = {
  name: "package-sources",
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      const source = sources.get(args.path);
      return source ? { path: source } : undefined;
    });
  },
};

/** Bundles one example into `dir/example.mjs` and runs it there with Node; rejects with its output on failure. */
async function runExample(example: Example, dir: string): Promise<void> {
  const entry = join(dir, "example.mjs");
  await build({
    stdin: { contents: example.code, loader: example.lang, resolveDir: REPO, sourcefile: `${where(example)}.${example.lang}` },
    bundle: true,
    outfile: entry,
    format: "esm",
    platform: "node",
    target: "node20",
    // Bundled CommonJS code (the optional PostgreSQL driver's) gets a `require`.
    banner: { js: `import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);` },
    plugins: [packagePlugin],
    logLevel: "silent",
  });
  // Nothing reaches a real store: no credentials, no database, no store configuration from this shell.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(AWS_|S3_|MODEL_STORE_|PG|DATABASE_URL|POSTGRES_)/.test(name)));
  try {
    await run(process.execPath, [entry], { cwd: dir, env, timeout: 60_000 });
  } catch (error) {
    const { stdout, stderr, message } = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${where(example)} failed when run:\n${stderr || message}\n${stdout ?? ""}`);
  }
}

describe("README examples", () => {
  it("has TypeScript examples, and each typecheck-only one says why", () => {
    expect(examples.length).toBeGreaterThan(3);
    expect(examples.filter((example) => example.run).length).toBeGreaterThan(0);
    for (const example of examples.filter((e) => !e.run)) expect(example.reason, `${where(example)}: typecheck-only needs a reason`).toBeTruthy();
    expect([...sources.keys()]).toContain(pkg.name);
  });

  it("every example type-checks against the package's sources", () => {
    expect(typeErrors()).toEqual([]);
  }, 120_000);

  for (const example of examples.filter((e) => e.run)) {
    it(`the example at ${where(example)} runs in an empty directory with a model/ directory`, async () => {
      const dir = await mkdtemp(join(tmpdir(), "modelstore-readme-"));
      try {
        await cp(join(REPO, "examples/model"), join(dir, "model"), { recursive: true });
        await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
        await runExample(example, dir);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }, 120_000);
  }
});

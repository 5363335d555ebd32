/**
 * Exact versions of installed packages, read from their package.json where
 * Node would resolve them: what a model records in `code.dependencies`, so
 * that it says which framework build produced it, not which range allowed it.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { InvalidArgumentError } from "../util/errors.ts";

/** Frameworks a model is recorded with whenever they are installed: cheap to look for, and what decides whether it loads. */
export const KNOWN_FRAMEWORKS: readonly string[] = [
  "@huggingface/transformers",
  "@xenova/transformers",
  "@tensorflow/tfjs",
  "@tensorflow/tfjs-node",
  "@tensorflow/tfjs-node-gpu",
  "onnxruntime-node",
  "onnxruntime-web",
  "onnxruntime-common",
];

/** Options for {@link installedVersions}. */
export interface InstalledVersionsOptions {
  /** Packages to record besides the frameworks found; one that is not installed is an error. @default [] */
  packages?: string[];
  /** Also record the {@link KNOWN_FRAMEWORKS} that are installed. @default true */
  detect?: boolean;
  /** The directory to resolve from, as `require` would from a file in it. @default process.cwd() */
  from?: string;
}

// npm's rules for names, loosely: an optional scope, no path separators or dots in front.
const PACKAGE_NAME = /^(@[a-z0-9~-][a-z0-9._~-]*\/)?[a-z0-9~-][a-z0-9._~-]*$/i;

/**
 * The installed version of every package named in `packages` and of every
 * known framework found, as `{ name: "1.20.1" }`, for an upload's `dependencies`.
 * Reads one package.json per package (a few failed reads for frameworks not
 * installed), in the `node_modules` folders Node searches from `from` upwards.
 * @throws InvalidArgumentError when a named package is not installed
 */
export async function installedVersions(options: InstalledVersionsOptions = {}): Promise<Record<string, string>> {
  const from = resolve(options.from ?? process.cwd());
  const folders = createRequire(join(from, "index.js")).resolve.paths("x") ?? [];
  const named = options.packages ?? [];
  for (const name of named) {
    if (!PACKAGE_NAME.test(name)) throw new InvalidArgumentError(`${JSON.stringify(name)} is not a package name; name packages as npm does, e.g. "onnxruntime-node" or "@tensorflow/tfjs".`);
  }
  const detected = options.detect === false ? [] : KNOWN_FRAMEWORKS.filter((name) => !named.includes(name));
  const versions: Record<string, string> = {};
  await Promise.all(
    [...named, ...detected].map(async (name) => {
      const version = await versionOf(name, folders);
      if (version !== undefined) versions[name] = version;
      else if (named.includes(name)) {
        throw new InvalidArgumentError(
          `Cannot record the version of "${name}": it is not installed where Node looks from ${from}. Install it there, or pass its exact version in \`dependencies\`.`,
        );
      }
    }),
  );
  // Sorted, so the same installation records the same document.
  return Object.fromEntries(Object.entries(versions).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The version in the first `<folder>/<name>/package.json` found. */
async function versionOf(name: string, folders: string[]): Promise<string | undefined> {
  for (const folder of folders) {
    let text: string;
    try {
      text = await readFile(join(folder, name, "package.json"), "utf8");
    } catch {
      continue;
    }
    try {
      const version = (JSON.parse(text) as { version?: unknown }).version;
      if (typeof version === "string" && version) return version;
    } catch {
      // A broken package.json says nothing of what is installed: look further up.
    }
  }
  return undefined;
}

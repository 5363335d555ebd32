// Bundles an edge worker the way a worker deploy would: esbuild, platform
// neutral (no Node built-ins resolved), browser/worker package conditions.
//   node examples/edge-worker/build.mjs          prints the worker's minified and gzipped size (npm run size)
//   import { bundleWorker } from "./build.mjs"   what the tests use
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

/** The edge worker's entry point. */
export const WORKER_ENTRY = fileURLToPath(new URL("./worker.ts", import.meta.url));

/**
 * Bundles `entry` into one ES module. Resolves to its code and the `node:`
 * (or other external) imports esbuild left in it, which must be none.
 */
export async function bundleWorker(entry = WORKER_ENTRY, { minify = false } = {}) {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    mainFields: ["module", "main"],
    conditions: ["workerd", "worker", "browser", "import"],
    minify,
    metafile: true,
    logLevel: "silent",
  });
  const code = result.outputFiles[0].text;
  const externalImports = Object.values(result.metafile.outputs)
    .flatMap((output) => output.imports)
    .filter((i) => i.external)
    .map((i) => i.path);
  return { code, externalImports };
}

/** The smallest read-only worker (getLatest + readFile over S3), measured beside the full one. */
export const READ_ONLY_ENTRY = fileURLToPath(new URL("./read-only-worker.ts", import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  for (const [name, entry] of [["worker.ts", WORKER_ENTRY], ["read-only-worker.ts", READ_ONLY_ENTRY]]) {
    const { code, externalImports } = await bundleWorker(entry, { minify: true });
    const gzipped = gzipSync(code, { level: 9 }).byteLength;
    console.log(`examples/edge-worker/${name}: ${kib(code.length)} minified, ${kib(gzipped)} minified+gzipped`);
    if (externalImports.length) {
      console.error(`the ${name} bundle imports ${externalImports.join(", ")}: workers have no Node built-ins`);
      process.exit(1);
    }
  }
}

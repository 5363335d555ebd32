/** Test fixtures that run as child processes: bundled from the current sources with esbuild, not from whatever dist/ holds. */
import { join } from "node:path";
import { build } from "esbuild";

/** Bundles `entry` (a .ts fixture) into `outDir` and returns the .mjs path to run with node. */
export async function bundleFixture(entry: string, outDir: string): Promise<string> {
  const outfile = join(outDir, entry.split("/").at(-1)!.replace(/\.ts$/, ".mjs"));
  await build({ entryPoints: [entry], bundle: true, platform: "node", format: "esm", outfile, logLevel: "error", external: ["postgres"] });
  return outfile;
}

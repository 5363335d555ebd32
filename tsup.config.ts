import { defineConfig } from "tsup";

export default defineConfig({
  entry: {
    index: "src/index.ts",
    fs: "src/fs.ts",
    s3: "src/s3.ts",
    azure: "src/azure.ts",
    http: "src/http.ts",
    postgres: "src/postgres.ts",
    "cli/main": "src/cli/main.ts",
  },
  format: ["esm"],
  target: "es2022",
  dts: { entry: { index: "src/index.ts", fs: "src/fs.ts", s3: "src/s3.ts", azure: "src/azure.ts", http: "src/http.ts", postgres: "src/postgres.ts" } },
  // An optional peer dependency: loaded from the user's node_modules, never bundled.
  external: ["postgres"],
  clean: true,
  splitting: true,
  sourcemap: true,
  treeshake: true,
});

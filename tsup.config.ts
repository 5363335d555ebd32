import { defineConfig } from "tsup";

export default defineConfig({
  entry: {
    index: "src/index.ts",
    fs: "src/fs.ts",
    s3: "src/s3.ts",
    // What Node resolves for modelstore-js/s3 (package.json's `node` condition); its types are s3.d.ts.
    "s3-node": "src/s3-node.ts",
    azure: "src/azure.ts",
    r2: "src/r2.ts",
    http: "src/http.ts",
    postgres: "src/postgres.ts",
    tfjs: "src/tfjs.ts",
    onnx: "src/onnx.ts",
    "cli/main": "src/cli/main.ts",
  },
  format: ["esm"],
  target: "es2022",
  dts: { entry: { index: "src/index.ts", fs: "src/fs.ts", s3: "src/s3.ts", azure: "src/azure.ts", r2: "src/r2.ts", http: "src/http.ts", postgres: "src/postgres.ts", tfjs: "src/tfjs.ts", onnx: "src/onnx.ts" } },
  // An optional peer dependency: loaded from the user's node_modules, never bundled.
  external: ["postgres", "onnxruntime-node", "onnxruntime-web"],
  clean: true,
  splitting: true,
  sourcemap: true,
  treeshake: true,
});

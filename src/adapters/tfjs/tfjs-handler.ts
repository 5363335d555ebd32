/**
 * A TensorFlow.js `IOHandler` over the store: `tf.loadGraphModel(handler)` and
 * `tf.loadLayersModel(handler)` read `model.json` and its weight shards straight
 * out of the archive (one ranged read each with the table of contents, no
 * extraction to disk), and `model.save(handler)` uploads a model.
 */
import type { ModelStore } from "../../store/model-store.ts";
import type { JsonValue, ModelMetadata } from "../../metadata/document.ts";
import type { UploadOptions } from "../../store/options.ts";
import { IntegrityError, InvalidArgumentError, NotSupportedError } from "../../util/errors.ts";
import { concatBytes } from "../../util/bytes.ts";
import { chooseModel, missingFile, readModelFile, resolveInside, type ModelChoice } from "../model-files.ts";
import type { IOHandler, ModelArtifacts, SaveResult, TfModule, WeightsManifestGroupConfig } from "./tfjs-types.ts";

export interface TfjsHandlerOptions extends ModelChoice {
  /** Where `model.json` is in the archive. @default "model.json" */
  modelPath?: string;
  /**
   * Hand the weights to TensorFlow.js as a stream of shards (its `getWeightStream`),
   * so large models are never held whole twice (read, then copied into tensors).
   * Graph models only in tfjs 4.x. @default false
   */
  streamWeights?: boolean;
  /** The `@tensorflow/tfjs` module: `save` records its version in `code.dependencies`. */
  tf?: Pick<TfModule, "version">;
  /** For `save`: the new model's id, your metadata, project and archive settings. */
  upload?: Omit<UploadOptions, "files" | "modelType" | "modelInfo" | "signal">;
}

const MODEL_JSON_KEYS = ["modelTopology", "format", "generatedBy", "convertedBy", "signature", "userDefinedMetadata", "modelInitializer", "initializerSignature", "trainingConfig"] as const;

/** A `tf.io.IOHandler` that loads a stored model (`load`) or uploads one (`save`). */
export function tfjsHandler(store: ModelStore, domain: string, options: TfjsHandlerOptions = {}): IOHandler & { saved?: ModelMetadata } {
  const modelPath = options.modelPath ?? "model.json";
  const handler: IOHandler & { saved?: ModelMetadata } = {
    async load() {
      const metadata = await chooseModel(store, domain, options);
      const json = parseModelJson(new TextDecoder().decode(await readModelFile(store, metadata, modelPath, options.signal)), modelPath);
      const groups = (json.weightsManifest ?? []) as WeightsManifestGroupConfig[];
      const shards = groups.flatMap((group) => group.paths.map((path) => resolveInside(modelPath, path)));
      const artifacts: ModelArtifacts = { weightSpecs: groups.flatMap((group) => group.weights) };
      for (const key of MODEL_JSON_KEYS) if (json[key] !== undefined) (artifacts as Record<string, unknown>)[key] = json[key];
      if (options.streamWeights) artifacts.getWeightStream = () => shardStream(store, metadata, shards, options.signal);
      else {
        const parts = await Promise.all(shards.map((path) => readModelFile(store, metadata, path, options.signal)));
        artifacts.weightData = concatBuffer(parts);
      }
      return artifacts;
    },

    async save(artifacts) {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new NotSupportedError("This model's topology is a binary GraphDef; save it as a JSON graph model (tfjs converter's default) or a layers model.");
      }
      // One buffer is stored as it is; shards (tfjs 4's ArrayBuffer[]) become one weights.bin.
      const data = artifacts.weightData ?? new ArrayBuffer(0);
      const weights = new Uint8Array(Array.isArray(data) ? concatBuffer(data.map((b) => new Uint8Array(b))) : data);
      const json: Record<string, unknown> = {};
      for (const key of MODEL_JSON_KEYS) if (artifacts[key] !== undefined) json[key] = artifacts[key];
      json.weightsManifest = [{ paths: ["weights.bin"], weights: artifacts.weightSpecs ?? [] }];
      const modelJson = new TextEncoder().encode(JSON.stringify(json));
      const versions = (options.tf?.version ?? {}) as { [name: string]: string | undefined };
      const version = versions.tfjs ?? versions["tfjs-core"];
      const type = artifacts.format === "graph-model" ? "graph-model" : "layers-model";
      handler.saved = await store.upload(domain, {
        ...options.upload,
        files: [
          { path: modelPath, body: modelJson, size: modelJson.byteLength },
          { path: resolveInside(modelPath, "weights.bin"), body: weights, size: weights.byteLength },
        ],
        modelType: { library: "tfjs", type },
        modelInfo: describeArtifacts(artifacts),
        dependencies: { ...options.upload?.dependencies, ...(version ? { "@tensorflow/tfjs": version } : {}) },
        signal: options.signal,
      });
      return {
        modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON", modelTopologyBytes: JSON.stringify(artifacts.modelTopology ?? {}).length, weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length, weightDataBytes: weights.byteLength },
      } satisfies SaveResult;
    },
  };
  return handler;
}

/**
 * Registers `modelstore://<domain>[/<id>]` with TensorFlow.js, so that
 * `tf.loadGraphModel("modelstore://face-age")` loads the newest model of `face-age` from `store`.
 * Calling it again points the scheme at the new store.
 */
export function registerModelstoreScheme(tf: TfModule, store: ModelStore, options: Omit<TfjsHandlerOptions, "id" | "upload"> = {}): void {
  // tfjs cannot unregister a router, and two routers for one URL fail the load: register once per tf, point it at the latest store.
  const registered = schemes.get(tf);
  if (registered) return void Object.assign(registered, { store, options });
  const target = { store, options };
  schemes.set(tf, target);
  tf.io.registerLoadRouter((url) => {
    if (typeof url !== "string" || !url.startsWith("modelstore://")) return null;
    const [domain, id, ...rest] = url.slice("modelstore://".length).split("/");
    if (!domain || rest.length > 0) throw new InvalidArgumentError(`"${url}" is not modelstore://<domain>[/<model-id>].`);
    return tfjsHandler(target.store, domain, { ...target.options, id: id || undefined });
  });
}

const schemes = new WeakMap<object, { store: ModelStore; options: Omit<TfjsHandlerOptions, "id" | "upload"> }>();

function parseModelJson(text: string, path: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new IntegrityError(`"${path}" in the model is not JSON; it is not a TensorFlow.js model.json.`, { cause });
  }
  if (typeof json !== "object" || json === null || !("modelTopology" in json)) {
    throw new IntegrityError(`"${path}" in the model has no modelTopology; it is not a TensorFlow.js model.json.`);
  }
  const manifest = (json as { weightsManifest?: unknown }).weightsManifest;
  const valid = (g: unknown) => typeof g === "object" && g !== null && Array.isArray((g as WeightsManifestGroupConfig).paths) && (g as WeightsManifestGroupConfig).paths.every((p) => typeof p === "string") && Array.isArray((g as WeightsManifestGroupConfig).weights);
  if (manifest !== undefined && !(Array.isArray(manifest) && manifest.every(valid))) {
    throw new IntegrityError(`"${path}" has a malformed weightsManifest: each group needs paths and weights.`);
  }
  return json as Record<string, unknown>;
}

/** The weight shards, one after another, as TensorFlow.js's weight stream wants them. */
function shardStream(store: ModelStore, metadata: ModelMetadata, shards: string[], signal?: AbortSignal): ReadableStream<ArrayBuffer> {
  let next = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<ArrayBuffer>({
    async pull(controller) {
      for (;;) {
        if (!reader) {
          if (next === shards.length) return controller.close();
          const path = shards[next++];
          const body = await store.openFile(metadata, path, { signal });
          if (!body) throw missingFile(metadata, path);
          reader = body.getReader();
        }
        const { done, value } = await reader.read();
        if (done) reader = undefined;
        // A copy of exactly the chunk's bytes: the chunk may be a view into a larger buffer (a Node Buffer's pool).
        else if (value.byteLength > 0) return controller.enqueue(concatBuffer([value]));
      }
    },
    cancel: (reason) => reader?.cancel(reason),
  });
}

/** The parts joined into one new buffer of exactly their bytes (a part may be a view into a larger one). */
const concatBuffer = (parts: Uint8Array[]): ArrayBuffer => concatBytes(parts).buffer as ArrayBuffer;

/** What the model's own files say of it: format, producer, weights, and its signature's inputs and outputs. */
function describeArtifacts(artifacts: ModelArtifacts): { [key: string]: JsonValue } {
  const info: { [key: string]: JsonValue } = { format: artifacts.format ?? "layers-model", weights: artifacts.weightSpecs?.length ?? 0 };
  if (artifacts.generatedBy) info.generatedBy = artifacts.generatedBy;
  if (artifacts.convertedBy) info.convertedBy = artifacts.convertedBy;
  if (artifacts.signature) info.signature = artifacts.signature as JsonValue;
  const topology = artifacts.modelTopology as { config?: { layers?: { class_name?: string }[]; input_layers?: JsonValue; output_layers?: JsonValue } } | undefined;
  if (topology?.config?.input_layers !== undefined) info.inputs = topology.config.input_layers;
  if (topology?.config?.output_layers !== undefined) info.outputs = topology.config.output_layers;
  return info;
}

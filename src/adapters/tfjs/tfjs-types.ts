/**
 * The parts of TensorFlow.js's `tf.io` types the handler uses, declared here so
 * that neither this library nor its users' type checks need `@tensorflow/tfjs`
 * installed. They match `@tensorflow/tfjs-core` 3.x and 4.x structurally.
 */
export interface WeightsManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  group?: string;
  quantization?: {};
}

export interface WeightsManifestGroupConfig {
  paths: string[];
  weights: any[];
}

// The JSON parts are `any`: tfjs types them in detail, and a handler must be assignable both ways.
/* eslint-disable @typescript-eslint/no-explicit-any */
export interface ModelArtifacts {
  modelTopology?: any;
  trainingConfig?: any;
  weightSpecs?: any[];
  weightData?: ArrayBuffer | ArrayBuffer[];
  getWeightStream?: () => ReadableStream<ArrayBuffer>;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  signature?: any;
  userDefinedMetadata?: any;
  modelInitializer?: any;
  initializerSignature?: any;
}

export interface SaveResult {
  modelArtifactsInfo: {
    dateSaved: Date;
    modelTopologyType: "JSON" | "GraphDef";
    modelTopologyBytes?: number;
    weightSpecsBytes?: number;
    weightDataBytes?: number;
  };
  responses?: Response[];
}

/** A `tf.io.IOHandler`: what `tf.loadGraphModel`, `tf.loadLayersModel` and `model.save` take. */
export interface IOHandler {
  load(): Promise<ModelArtifacts>;
  save(modelArtifacts: ModelArtifacts): Promise<SaveResult>;
}

/** The slice of the `@tensorflow/tfjs` module the URL scheme needs. */
export interface TfModule {
  // A method, so that tfjs's own (narrower) router type is accepted.
  io: { registerLoadRouter(router: (url: any) => any): void };
  version?: {};
}

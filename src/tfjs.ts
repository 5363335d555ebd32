/**
 * `modelstore-js/tfjs`: TensorFlow.js models in and out of the store. Imports
 * nothing from TensorFlow.js: pass the handler to the `tf` you already use.
 */
export { tfjsHandler, registerModelstoreScheme, type TfjsHandlerOptions } from "./adapters/tfjs/tfjs-handler.ts";
export type { IOHandler, ModelArtifacts, SaveResult, TfModule } from "./adapters/tfjs/tfjs-types.ts";
export type { ModelChoice } from "./adapters/model-files.ts";

/** `modelstore-js/onnx`: ONNX Runtime sessions from stored models, and ONNX uploads that record what the model is. */
export { onnxSession, uploadOnnxModel, type OnnxSessionOptions, type UploadOnnxOptions, type OrtModule, type OrtSession } from "./adapters/onnx/onnx-session.ts";

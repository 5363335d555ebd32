/**
 * Where new model ids come from: UUID4s of the uuid package. Loaded on the
 * first upload (upload-model.ts imports this module dynamically): as ESM the
 * package is some twenty modules, ~20 ms of every process start on Node that
 * readers, packers and the CLI's other commands never need. A module of our
 * own, so that bundlers keep only `v4` of the package (a dynamic import of
 * "uuid" itself would bundle all of it).
 */
export { v4 as newModelId } from "uuid";

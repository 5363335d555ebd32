// The main job on the embedded default: upload examples/model to a file-system
// store in ./.modelstore, then read it back. Run with `npm run demo`.
import { ModelStore } from "modelstore-js";
import { fileSystemBackend, filesFromDirectory } from "modelstore-js/fs";

const store = new ModelStore({ backend: fileSystemBackend({ root: ".modelstore" }) });

const model = await store.upload("customer-refunds", {
  files: filesFromDirectory(new URL("./model", import.meta.url).pathname),
  extraMetadata: { accuracy: 0.93, trained_on: "2026-11" },
  modelType: { library: "custom", type: "logistic-regression" },
});
console.log(JSON.stringify(model, null, 2));

const latest = await store.getLatest("customer-refunds");
const config = await new Response(await store.readFile("customer-refunds", latest.model.model_id, "config.json")).json();
console.log(`latest model ${latest.model.model_id} is a ${config.architecture}; the domain holds ${(await store.listModels("customer-refunds")).length} model(s)`);

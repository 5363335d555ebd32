/// <reference lib="deno.ns" />
/**
 * Uploads examples/model to a file-system store and fetches it back, on Deno.
 *
 *   deno run --allow-read --allow-write --allow-env=USER,USERNAME examples/deno/upload.ts [store-dir]
 *
 * --allow-read/--allow-write: the model directory and the store (default ./.modelstore).
 * --allow-env=USER,USERNAME is optional: with it the metadata records who uploaded
 * (`code.user`); without it Deno prompts on a terminal, and "unknown" is recorded.
 * In your own project import "jsr:@modelstore-js/modelstore-js" / "npm:modelstore-js" instead:
 * this repository's deno.json maps "modelstore-js" to its sources.
 */
import { ModelStore } from "modelstore-js";
import { downloadModel, fileSystemBackend, filesFromDirectory } from "modelstore-js/fs";

const root = Deno.args[0] ?? ".modelstore";
const modelDir = new URL("../model", import.meta.url).pathname;
const store = new ModelStore({ backend: fileSystemBackend({ root }) });

const meta = await store.upload("customer-refunds", {
  files: filesFromDirectory(modelDir),
  extraMetadata: { accuracy: 0.93 },
  modelType: { library: "custom", type: "logistic-regression" },
});
console.log(`uploaded ${meta.model.model_id} from ${meta.code.runtime}`);

const latest = await store.getLatest("customer-refunds");
const config = await new Response(await store.readFile("customer-refunds", latest.model.model_id, "config.json")).json();
console.log(`latest is ${latest.model.model_id}, a ${config.architecture}`);

const download = await downloadModel(store, "customer-refunds", meta.model.model_id, `${root}/downloaded/${meta.model.model_id}`);
console.log(`downloaded ${download.files} files (${download.bytes} bytes) to ${download.dir}`);

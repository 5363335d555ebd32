import { memoryBackend } from "../../src/backends/memory.js";
import { runStoreSuite } from "./store-suite.js";

runStoreSuite("memory", async () => ({ backend: memoryBackend() }));

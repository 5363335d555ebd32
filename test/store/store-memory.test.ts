import { memoryBackend } from "../../src/backends/memory.ts";
import { runStoreSuite } from "./store-suite.ts";

runStoreSuite("memory", async () => ({ backend: memoryBackend() }));

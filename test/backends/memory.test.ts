import { memoryBackend } from "../../src/backends/memory.js";
import { runBackendContract } from "./contract.js";

runBackendContract("memory", async () => ({ backend: memoryBackend() }));

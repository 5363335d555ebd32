import { memoryBackend } from "../../src/backends/memory.ts";
import { runBackendContract } from "./contract.ts";

runBackendContract("memory", async () => ({ backend: memoryBackend() }));

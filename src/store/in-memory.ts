/** The `inMemory()` factory: a whole store in this process's memory, for tests and ephemeral workers. */
import { memoryBackend } from "../backends/memory.ts";
import { ModelStore } from "./model-store.ts";
import { memoryMetadata } from "../metadata/memory.ts";

/** A store with in-memory metadata and in-memory artifacts; everything is gone when the process ends. */
export function inMemory(): ModelStore {
  return new ModelStore({ backend: memoryBackend(), metadata: memoryMetadata() });
}

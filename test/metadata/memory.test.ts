import { memoryMetadata } from "../../src/metadata/memory.ts";
import { runMetadataContract } from "./contract.ts";

runMetadataContract("memory", async () => ({ repository: memoryMetadata() }));

import { memoryMetadata } from "../../src/metadata/memory.js";
import { runMetadataContract } from "./contract.js";

runMetadataContract("memory", async () => ({ repository: memoryMetadata() }));

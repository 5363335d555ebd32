/**
 * The whole S3 suite (contract, Swift, fault proxy) again, every backend it
 * builds sending with nodeFetch (node:http) instead of the runtime's fetch.
 */
import { nodeFetch } from "../../../src/fs.ts";
import { testTransport } from "../../support/s3-server.ts";

testTransport.fetch = nodeFetch;
await import("./s3.test.ts");

/** The stores every adapter test runs against: the file system (a temp dir) and S3 (the local Swift). */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ModelStore } from "../../src/index.ts";
import { fileSystemBackend } from "../../src/fs.ts";
import { backendOn, createBucket, useS3Server, type S3Server } from "../support/s3-server.ts";

export interface AdapterStore {
  name: string;
  open(): Promise<{ store: ModelStore; close(): Promise<void> }>;
}

let server: S3Server | undefined;

export const adapterStores: AdapterStore[] = [
  {
    name: "file system",
    async open() {
      const root = await mkdtemp(join(tmpdir(), "modelstore-adapter-"));
      return { store: new ModelStore({ backend: fileSystemBackend({ root }) }), close: () => rm(root, { recursive: true, force: true }) };
    },
  },
  {
    name: "S3 (Swift)",
    async open() {
      server ??= await useS3Server();
      const bucket = await createBucket(server, "adapter");
      return { store: new ModelStore({ backend: backendOn(server, bucket) }), close: async () => {} };
    },
  },
];

export const stopServers = async () => {
  await server?.stop();
  server = undefined;
};

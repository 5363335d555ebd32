/**
 * Uploads racing from separate processes while the machine is busy: the case
 * where emulated create-only writes used to hand two uploads one archive slot.
 * Every upload that reported success must read back whole, on the file system
 * and on real S3 servers that cannot (Swift) and can (Ceph RGW) enforce conditional writes.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileSystemBackend } from "../../src/fs.ts";
import { ModelStore, type Backend } from "../../src/index.ts";
import { collect, sha256 } from "../support/bytes.ts";
import { useCephServer } from "../support/ceph-server.ts";
import { bundleFixture } from "../support/child-fixture.ts";
import { backendOn, createBucket, serverEnv, useS3Server, type S3Server } from "../support/s3-server.ts";

const run = promisify(execFile);
const PROCESSES = 16;
const UPLOADS_EACH = 2;
const ROUNDS = Number(process.env.RACE_ROUNDS ?? 5);

let work: string;
let child: string;
let server: S3Server;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "modelstore-race-"));
  child = await bundleFixture(join(import.meta.dirname, "fixtures/race-upload.ts"), work);
  server = await useS3Server();
}, 300_000);
afterAll(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Two CPU-bound loops: the load under which the lost uploads were seen. */
function loadMachine(): () => void {
  const loops: ChildProcess[] = [0, 1].map(() => spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }));
  return () => loops.forEach((loop) => loop.kill("SIGKILL"));
}

async function race(args: string[], env: NodeJS.ProcessEnv): Promise<{ id: string; sha256: string }[]> {
  const outputs = await Promise.all(
    Array.from({ length: PROCESSES }, () => run(process.execPath, [child, ...args, String(UPLOADS_EACH)], { env, timeout: 240_000 })),
  );
  return outputs.flatMap(({ stdout }) => stdout.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line)));
}

async function expectAllReadable(backend: Backend, reported: { id: string; sha256: string }[]): Promise<void> {
  const store = new ModelStore({ backend });
  const listed = new Set((await store.listModels("race")).map((m) => m.model.model_id));
  const lost: string[] = [];
  for (const { id, sha256: expected } of reported) {
    const archive = await store.getArchive("race", id).then(collect).catch(() => undefined);
    if (!listed.has(id) || !archive || sha256(archive) !== expected) lost.push(id);
  }
  expect(lost).toEqual([]);
  expect(listed.size).toBe(reported.length);
}

describe(`${PROCESSES} processes uploading to one domain on a loaded machine, ${ROUNDS} rounds`, () => {
  it("the file system loses no model", async () => {
    const root = join(work, "fs-store");
    const unload = loadMachine();
    const reported: { id: string; sha256: string }[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) reported.push(...(await race(["fs", root], process.env)));
    } finally {
      unload();
    }
    expect(reported).toHaveLength(ROUNDS * PROCESSES * UPLOADS_EACH);
    await expectAllReadable(fileSystemBackend({ root }), reported);
  }, 600_000);

  async function raceOnS3(server: S3Server): Promise<void> {
    const bucket = await createBucket(server, "race");
    const env = serverEnv(server);
    const unload = loadMachine();
    const reported: { id: string; sha256: string }[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) reported.push(...(await race(["s3", bucket], env)));
    } finally {
      unload();
    }
    expect(reported).toHaveLength(ROUNDS * PROCESSES * UPLOADS_EACH);
    const backend = backendOn(server, bucket);
    await expectAllReadable(backend, reported);
  }

  it("an S3 server without conditional writes (Swift) loses no model", () => raceOnS3(server), 600_000);

  it("an S3 server that enforces conditional writes (Ceph RGW) loses no model", async () => raceOnS3(await useCephServer()), 600_000);
});

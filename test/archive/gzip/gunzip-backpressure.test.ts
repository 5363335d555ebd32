/** Both gunzip engines decode only as fast as their reader reads, however large the input chunks. */
import { setTimeout as sleep } from "node:timers/promises";
import { createGzip } from "node:zlib";
import { describe, expect, test } from "vitest";
import { createGunzipStream } from "../../../src/archive/gzip/gzip.ts";

/** gzip of `mib` MiB of zeros (about 1 KiB per MiB), made without holding the zeros. */
async function zeroBomb(mib: number): Promise<Uint8Array> {
  const gzip = createGzip({ level: 9 });
  const parts: Buffer[] = [];
  gzip.on("data", (part: Buffer) => parts.push(part));
  const ended = new Promise((resolve) => gzip.on("end", resolve));
  const zeros = new Uint8Array(1 << 20);
  for (let i = 0; i < mib; i++) gzip.write(zeros);
  gzip.end();
  await ended;
  return new Uint8Array(Buffer.concat(parts));
}

const held = () => process.memoryUsage().arrayBuffers;

/** Reads a 256 MiB zero bomb handed over as one chunk with a slow reader; fails if the decoder ran ahead. */
async function readBombSlowly(engine: "fflate" | "native"): Promise<void> {
  const bomb = await zeroBomb(256);
  const before = held();
  let sent = false;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent) return controller.close();
      sent = true;
      controller.enqueue(bomb); // one chunk: nothing upstream can pace it
    },
  });
  const reader = source.pipeThrough(createGunzipStream({ engine })).getReader();
  let total = 0;
  let largest = 0;
  for (let reads = 1; reads <= 10; reads++) {
    const { value } = await reader.read();
    total += value!.length;
    largest = Math.max(largest, value!.length);
    if (reads === 1 || reads === 10) {
      await sleep(20); // a greedy decoder would fill its queue now
      expect(held() - before, `after ${reads} reads`).toBeLessThan(64 << 20);
    }
  }
  expect(largest).toBeLessThanOrEqual(8 << 20);
  // The rest still decodes, and to the right length.
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
  }
  expect(total).toBe(256 << 20);
}

describe("createGunzipStream backpressure", () => {
  test('"fflate": a 256 MiB zero bomb handed over as one chunk is decoded a bounded step per read, not all at once', async () => {
    await readBombSlowly("fflate");
  });

  test('"native": a 256 MiB zero bomb handed over as one chunk is inflated only as far as the reader reads', async () => {
    await readBombSlowly("native");
  });
});

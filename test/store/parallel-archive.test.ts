/**
 * Whole-archive reads through the table of contents: members fetched and
 * inflated several at once must come out as exactly the archive's tar bytes,
 * and an index that lies about what a member inflates to is refused even when
 * the archive itself is untouched (its sha256 still matches).
 */
import { gunzipSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { createArchive } from "../../src/archive/create-archive.ts";
import type { ArchiveIndex, ArchiveIndexLocation } from "../../src/archive/index/archive-index.ts";
import { readIndex } from "../../src/archive/index/read-entry.ts";
import { zlibEngine } from "../../src/archive/index/engine-zlib.ts";
import { memoryBackend } from "../../src/index.ts";
import type { ModelMetadata } from "../../src/metadata/document.ts";
import { parallelTarStream } from "../../src/store/parallel-archive.ts";
import { collect, pseudoRandom, sha256, streamOf, text } from "../archive/helpers.ts";

const KEY = "models/artifacts.tar.gz";
const WHAT = "The test archive";

async function stored() {
  const weights = pseudoRandom(9 * 1024 * 1024 + 5, 11);
  let location: ArchiveIndexLocation | undefined;
  const bytes = await collect(
    createArchive(
      { files: [{ path: "weights.bin", body: streamOf(weights, 1 << 20), size: weights.length }, { path: "vocab.txt", body: text("token\n".repeat(100_000)) }, { path: "config.json", body: text("{}") }] },
      { onIndex: (found) => (location = found) },
    ),
  );
  const backend = memoryBackend();
  await backend.put(KEY, bytes);
  const metadata = { archive: { size: bytes.length, sha256: sha256(bytes), index: location } } as unknown as ModelMetadata;
  const index = await readIndex(zlibEngine, async (offset, length) => backend.get(KEY, { range: { offset, length } }), location!, bytes.length, WHAT);
  return { backend, bytes, metadata, index };
}

const read = (built: Awaited<ReturnType<typeof stored>>, index: ArchiveIndex, options = {}) => collect(parallelTarStream(built.backend, KEY, built.metadata, index, WHAT, options));

describe("parallel whole-archive reads", () => {
  test("give exactly the tar bytes one gunzip of the archive gives, whatever the concurrency and group size", async () => {
    const built = await stored();
    expect(built.index.members.length).toBeGreaterThan(3);
    const tar = sha256(gunzipSync(built.bytes));
    // One group, a member per group, and groups of a few members on fewer connections than groups.
    for (const options of [{ concurrency: 1 }, { concurrency: 3 }, { concurrency: 3, groupBytes: 1 }, { concurrency: 2, groupBytes: 5 << 20 }]) {
      expect(sha256(await read(built, built.index, options))).toBe(tar);
    }
  });

  // In one group, and in a group per member.
  const groupings = [{ concurrency: 3 }, { concurrency: 3, groupBytes: 1 }];

  test.each(groupings)("a member whose index says it inflates to fewer bytes than it does is refused (%o)", async (options) => {
    const built = await stored();
    const index = structuredClone(built.index);
    index.members[1].usize -= 1;
    await expect(read(built, index, options)).rejects.toMatchObject({ code: "INTEGRITY" });
  });

  test.each(groupings)("a member whose index says it inflates to more bytes than it does is refused (%o)", async (options) => {
    const built = await stored();
    const index = structuredClone(built.index);
    index.members.at(-1)!.usize += 1;
    await expect(read(built, index, options)).rejects.toMatchObject({ code: "INTEGRITY" });
  });

  test.each(groupings)("a corrupted member fails through its CRC-32 or the archive's sha256, never as tar bytes (%o)", async (options) => {
    const built = await stored();
    const member = built.index.members[0];
    const bytes = built.bytes.slice();
    bytes[member.offset + member.size - 100] ^= 0xff;
    await built.backend.put(KEY, bytes);
    await expect(read(built, built.index, options)).rejects.toMatchObject({ code: expect.stringMatching(/^(INVALID_ARCHIVE|INTEGRITY)$/) });
  });

  test.each(groupings)("an archive cut short fails, and no tar bytes past the cut come out (%o)", async (options) => {
    const built = await stored();
    const cut = built.index.members[2].offset + 10;
    await built.backend.put(KEY, built.bytes.subarray(0, cut));
    const tar = gunzipSync(built.bytes);
    const got: Uint8Array[] = [];
    const reader = parallelTarStream(built.backend, KEY, built.metadata, built.index, WHAT, options).getReader();
    const failure = await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return undefined;
        got.push(value);
      }
    })().catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: expect.stringMatching(/^(INVALID_ARCHIVE|INTEGRITY)$/) });
    const served = got.reduce((n, chunk) => n + chunk.length, 0);
    expect(served).toBeLessThanOrEqual(built.index.members[0].usize + built.index.members[1].usize);
    expect(sha256(Buffer.concat(got))).toBe(sha256(tar.subarray(0, served)));
  });
});

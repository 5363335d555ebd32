/**
 * Whole-archive reads through the table of contents: the gzip members are
 * fetched in groups on several connections at once and inflated as they
 * arrive (the runtime's zlib inflates on its thread pool, so groups use every
 * core), and the tar bytes are handed out in order. The compressed bytes are
 * hashed in order too, so the archive's size and sha256 are still verified.
 */
import type { Backend } from "../backends/backend.ts";
import type { ArchiveIndex } from "../archive/index/archive-index.ts";
import { inflateWhole } from "../archive/gzip/inflate-whole.ts";
import { createSha256 } from "../digest/sha256.ts";
import { IntegrityError, InvalidArchiveError, throwIfAborted } from "../util/errors.ts";
import type { ModelMetadata } from "../metadata/document.ts";
import { readExactly } from "../archive/index/read-entry.ts";

/** Options for a parallel read. */
export interface ParallelReadOptions {
  /** Groups of members fetched and inflated at once. @default 3 */
  concurrency?: number;
  /**
   * Compressed bytes per group: members are added to a group until it holds
   * this much, so a group is one member of weights (our writer cuts them at
   * 4 MiB) or several small ones. Measured on a 1 GiB download (2 cores, 3 at
   * once): one member per group 0.70× the time of one stream at 143 MiB peak
   * RSS, 4 MiB groups 0.70× at 173 MiB, 8 MiB 0.77× at 191 MiB.
   * @default 1 MiB
   */
  groupBytes?: number;
  signal?: AbortSignal;
}

interface Group {
  offset: number;
  length: number;
  /** Decompressed bytes of its members, as the index gives them. */
  usize: number;
}

/**
 * The archive's tar bytes (decompressed), read as groups of members on
 * `concurrency` connections at once. Memory: about `concurrency` groups,
 * compressed and inflated. The stream errors with `IntegrityError` when the
 * archive's size or sha256 differs from the metadata's.
 */
export function parallelTarStream(backend: Backend, key: string, metadata: ModelMetadata, index: ArchiveIndex, what: string, options: ParallelReadOptions = {}): ReadableStream<Uint8Array> {
  const { concurrency = 3, groupBytes = 1 << 20, signal } = options;
  const archive = metadata.archive!;
  const groups: Group[] = [];
  for (const member of index.members) {
    const last = groups.at(-1);
    if (last && last.length < groupBytes) {
      last.length += member.size;
      last.usize += member.usize;
    } else groups.push({ offset: member.offset, length: member.size, usize: member.usize });
  }
  const location = archive.index!;
  groups.push({ offset: location.offset, length: location.length, usize: 0 }); // hashed, not inflated: it decompresses to nothing
  // Compressed buffers go back here once hashed and are read into again: fresh
  // ones for every group cost a page fault per 4 KiB, a fifth of a download's time.
  const spare: Uint8Array[] = [];
  const largest = Math.max(...groups.map((group) => group.length));
  const fetchGroup = async (group: Group) => {
    throwIfAborted(signal);
    const body = await backend.get(key, { range: { offset: group.offset, length: group.length }, signal });
    if (!body) throw new InvalidArchiveError(`${what}: the archive is missing.`);
    const compressed = await readExactly(body, group.length, what, spare.pop() ?? new Uint8Array(largest));
    return { compressed, tar: await inflateWhole(compressed, group.usize, what) };
  };
  // Groups fetched or being fetched, oldest first; each leaves the queue when handed out, so
  // memory holds about `concurrency` groups whatever the archive's size.
  const inFlight: Promise<{ compressed: Uint8Array; tar: Uint8Array[] }>[] = [];
  let started = 0;
  const startNext = () => {
    if (started < groups.length) {
      const job = fetchGroup(groups[started++]);
      job.catch(() => {}); // surfaced in order, when its turn comes
      inFlight.push(job);
    }
  };
  for (let i = 0; i < concurrency; i++) startNext();
  const hash = createSha256();
  let next = 0;
  let size = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { compressed, tar } = await inFlight.shift()!;
        next++;
        startNext();
        hash.update(compressed);
        size += compressed.length;
        spare.push(new Uint8Array(compressed.buffer));
        if (next === groups.length - 1) {
          // The last tar bytes wait for the index group, whose hash completes the archive's:
          // a reader that stops at the tar's end still gets nothing unverified past this point.
          const last = await inFlight.shift()!;
          next++;
          hash.update(last.compressed);
          size += last.compressed.length;
          if (size !== archive.size || hash.hexDigest() !== archive.sha256) {
            throw new IntegrityError(`${what} does not match its metadata (${size} bytes, expected ${archive.size}, or a different sha256). Upload it again.`);
          }
          for (const chunk of tar) controller.enqueue(chunk);
          controller.close();
          return;
        }
        for (const chunk of tar) controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
}

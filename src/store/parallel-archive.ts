/**
 * Whole-archive reads through the table of contents: the gzip members are
 * fetched in groups on several connections at once and inflated as they
 * arrive (the runtime's zlib inflates on its thread pool, so groups use every
 * core), and the tar bytes are handed out in order. The compressed bytes are
 * hashed in order too, so the archive's size and sha256 are still verified.
 */
import type { Backend } from "../backends/backend.ts";
import type { ArchiveIndex } from "../archive/index/archive-index.ts";
import { createGunzipStream } from "../archive/gzip/gunzip.ts";
import { createSha256 } from "../digest/sha256.ts";
import { IntegrityError, InvalidArchiveError, throwIfAborted } from "../util/errors.ts";
import type { ModelMetadata } from "../metadata/document.ts";

/** Options for a parallel read. */
export interface ParallelReadOptions {
  /** Groups of members fetched and inflated at once. @default 3 */
  concurrency?: number;
  /** Compressed bytes per group (whole members: a group may be larger). @default 8 MiB */
  groupBytes?: number;
  signal?: AbortSignal;
}

interface Group {
  offset: number;
  length: number;
}

async function readAll(stream: ReadableStream<Uint8Array>, length: number, what: string): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let filled = 0;
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    if (filled + chunk.length > length) throw new IntegrityError(`${what}: a range returned more bytes than asked for. The archive was changed after upload.`);
    out.set(chunk, filled);
    filled += chunk.length;
  }
  if (filled !== length) throw new IntegrityError(`${what}: a range returned ${filled} of ${length} bytes. The archive was changed after upload.`);
  return out;
}

async function inflate(bytes: Uint8Array): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const source = new ReadableStream<Uint8Array>({ start: (c) => (c.enqueue(bytes), c.close()) });
  for await (const chunk of source.pipeThrough(createGunzipStream()) as unknown as AsyncIterable<Uint8Array>) out.push(chunk);
  return out;
}

/**
 * The archive's tar bytes (decompressed), read as groups of members on
 * `concurrency` connections at once. Memory: about `concurrency` groups,
 * compressed and inflated. The stream errors with `IntegrityError` when the
 * archive's size or sha256 differs from the metadata's.
 */
export function parallelTarStream(backend: Backend, key: string, metadata: ModelMetadata, index: ArchiveIndex, what: string, options: ParallelReadOptions = {}): ReadableStream<Uint8Array> {
  const { concurrency = 3, groupBytes = 8 << 20, signal } = options;
  const archive = metadata.archive!;
  const groups: Group[] = [];
  for (const member of index.members) {
    const last = groups.at(-1);
    if (last && last.length < groupBytes) last.length += member.size;
    else groups.push({ offset: member.offset, length: member.size });
  }
  const location = archive.index!;
  groups.push({ offset: location.offset, length: location.length }); // hashed, not inflated: it decompresses to nothing
  const fetchGroup = async (group: Group) => {
    throwIfAborted(signal);
    const body = await backend.get(key, { range: group, signal });
    if (!body) throw new InvalidArchiveError(`${what}: the archive is missing.`);
    const compressed = await readAll(body, group.length, what);
    return { compressed, tar: await inflate(compressed) };
  };
  const started: Promise<{ compressed: Uint8Array; tar: Uint8Array[] }>[] = [];
  const startNext = () => {
    if (started.length < groups.length) {
      const job = fetchGroup(groups[started.length]);
      job.catch(() => {}); // surfaced in order, when its turn comes
      started.push(job);
    }
  };
  for (let i = 0; i < concurrency; i++) startNext();
  const hash = createSha256();
  let next = 0;
  let size = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { compressed, tar } = await started[next++];
        startNext();
        hash.update(compressed);
        size += compressed.length;
        if (next === groups.length - 1) {
          // The last tar bytes wait for the index group, whose hash completes the archive's:
          // a reader that stops at the tar's end still gets nothing unverified past this point.
          const last = await started[next++];
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

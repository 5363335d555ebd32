/**
 * Random access through the table of contents: the index with one ranged
 * read, and one file with one more, inflated from the members that hold it
 * and verified against the size and SHA-256 the index records.
 */
import { IntegrityError, InvalidArchiveError, InvalidArgumentError } from "../../util/errors.ts";
import { readWhole } from "../../util/byob.ts";
import type { AsyncSha256Hasher } from "../../digest/sha256-compact.ts";
import { concatBytes } from "../../util/bytes.ts";
import { decodeIndexMembers, entryRange, MAX_INDEX_BYTES, type ArchiveIndex, type ArchiveIndexLocation, type IndexEntry, type IndexMember } from "./archive-index.ts";

/**
 * What reading through the index needs from the runtime: a hash and an
 * inflater. Passed in, so that a small read-only bundle can bring small ones
 * (engine-web.ts: DecompressionStream, a compact SHA-256) and the store fast
 * ones (engine-zlib.ts).
 */
export interface IndexReadEngine {
  /** A fresh streaming SHA-256. */
  sha256(): AsyncSha256Hasher;
  /** `members` held whole in `bytes`, inflated to exactly `usize` bytes, each member's CRC-32 checked. */
  inflateWhole(bytes: Uint8Array, members: readonly IndexMember[], usize: number, what: string): Promise<Uint8Array[]>;
  /** A stream of whole `members`, inflated, each member's CRC-32 checked. */
  inflateStream(body: ReadableStream<Uint8Array>, members: readonly IndexMember[], what: string): ReadableStream<Uint8Array>;
}

/** Reads `length` bytes of the archive from `offset`; `null` when the archive is missing. */
export type RangeReader = (offset: number, length: number) => Promise<ReadableStream<Uint8Array> | null>;

/** A range's body, read whole; `IntegrityError` unless it is exactly `length` bytes. `onRead`: see readWhole. */
export async function readExactly(stream: ReadableStream<Uint8Array>, length: number, what: string, into?: Uint8Array, onRead?: (filled: number) => void): Promise<Uint8Array> {
  const { bytes, more } = await readWhole(stream, length, into, onRead);
  if (more || bytes.length !== length) {
    throw new IntegrityError(`${what}: a range returned ${more ? "more than" : `${bytes.length} of`} ${length} bytes. The archive was changed after upload.`);
  }
  return bytes;
}

/**
 * Ranges up to this many compressed bytes, inflating to at most SMALL_OUTPUT,
 * are read whole and inflated in one call instead of streamed: for a small
 * file, setting up streams cost more than reading it.
 */
const SMALL_RANGE = 1 << 20;
const SMALL_OUTPUT = 1 << 20;

/** Reads the index at `location`, checks its SHA-256 and its shape against the archive; `INVALID_ARCHIVE` or `INTEGRITY` when they fail. */
export async function readIndex(engine: IndexReadEngine, read: RangeReader, location: ArchiveIndexLocation, archiveSize: number, what: string): Promise<ArchiveIndex> {
  if (!Number.isSafeInteger(location.offset) || !Number.isSafeInteger(location.length) || location.offset < 0 || location.length < 26 || location.length > MAX_INDEX_BYTES) {
    throw new InvalidArchiveError(`${what}: its metadata places the index at an impossible range. Read it without the index (store.openArchive) or upload it again.`);
  }
  if (location.offset + location.length !== archiveSize) {
    throw new InvalidArchiveError(`${what}: its index does not end where the archive ends. Read it without the index (store.openArchive) or upload it again.`);
  }
  const body = await read(location.offset, location.length);
  if (!body) return Promise.reject(new InvalidArchiveError(`${what}: the archive is missing.`));
  const bytes = await readExactly(body, location.length, `${what}: its index`);
  const hash = engine.sha256();
  hash.update(bytes);
  if ((await hash.hexDigest()) !== location.sha256) {
    throw new IntegrityError(`${what}: its index does not match the sha256 in its metadata. The archive was changed after upload; download it whole to check it (store.getArchive).`);
  }
  return decodeIndexMembers(bytes, location, archiveSize, what);
}

/** Part of a file: `length` bytes (to the end when omitted) from `offset`. */
export interface FileRange {
  offset: number;
  length?: number;
}

/**
 * Streams `entry`'s data with one ranged read of the members holding it. The
 * stream errors with `IntegrityError` (never ending cleanly) when the bytes are
 * fewer than, or hash differently from, what the index records. With `part`,
 * only those bytes: the file's sha256 cannot be checked then, so the members
 * read are inflated to their ends and each one's CRC-32 is checked instead.
 */
export async function readEntry(engine: IndexReadEngine, read: RangeReader, index: ArchiveIndex, entry: IndexEntry, what: string, part?: FileRange): Promise<ReadableStream<Uint8Array>> {
  const start = part?.offset ?? 0;
  const end = part?.length === undefined ? entry.size : Math.min(entry.size, start + part.length);
  if (!Number.isSafeInteger(start) || start < 0 || start > entry.size || end < start) {
    throw new InvalidArgumentError(`Cannot read bytes ${start}-${end} of "${entry.path}": it has ${entry.size} bytes.`);
  }
  const whole = start === 0 && end === entry.size;
  if (!whole && start === end) return new ReadableStream({ start: (controller) => controller.close() });
  const range = entryRange(index, entry, start, end);
  const members = index.members.slice(range.first, range.last + 1);
  const hash = engine.sha256();
  const refuse = (why: string) => new IntegrityError(`${what}: "${entry.path}" ${why} (its index says ${entry.size} bytes, sha256 ${entry.sha256}). The archive or its index was changed after upload.`);
  if (entry.size === 0) {
    if ((await hash.hexDigest()) !== entry.sha256) throw refuse("is empty but its hash is not that of nothing");
    return new ReadableStream({ start: (controller) => controller.close() });
  }
  const body = await read(range.offset, range.length);
  if (!body) throw new InvalidArchiveError(`${what}: the archive is missing.`);
  if (range.length <= SMALL_RANGE && range.usize <= SMALL_OUTPUT) {
    const inflated = await engine.inflateWhole(await readExactly(body, range.length, what), members, range.usize, what);
    const bytes = (inflated.length === 1 ? inflated[0] : concatBytes(inflated)).subarray(range.skip, range.skip + (end - start));
    if (whole) {
      hash.update(bytes);
      if ((await hash.hexDigest()) !== entry.sha256) throw refuse("does not match its sha256");
    }
    // Every member read was inflated whole, so their CRC-32s vouch for a part too.
    // A byte stream, as the backends' are: BYOB readers can read it, and `new Response(stream)`
    // reads one faster. Enqueueing takes over the chunk's whole buffer, which may be the
    // inflater's own (zlib's chunks are views of its output buffer), hence a copy of the file's bytes.
    return new ReadableStream({ type: "bytes", start: (controller) => (controller.enqueue(bytes.slice()), controller.close()) });
  }
  const reader = engine.inflateStream(body, members, what).getReader();
  let skip = range.skip;
  let remaining = end - start;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) throw refuse(`ended ${remaining} bytes early`);
          let chunk = value;
          if (skip > 0) {
            const n = Math.min(skip, chunk.length);
            skip -= n;
            chunk = chunk.subarray(n);
          }
          if (chunk.length === 0) continue;
          if (chunk.length > remaining) chunk = chunk.subarray(0, remaining);
          remaining -= chunk.length;
          if (remaining === 0 && !whole) {
            // Inflate the rest of the last member, so its CRC-32 vouches for what was served.
            while (!(await reader.read()).done);
            controller.enqueue(chunk);
            controller.close();
            return;
          }
          hash.update(chunk);
          if (remaining === 0) {
            // The last bytes are held back until the hash is known: a lying index errors instead of ending cleanly.
            if ((await hash.hexDigest()) !== entry.sha256) throw refuse("does not match its sha256");
            controller.enqueue(chunk);
            controller.close();
            await reader.cancel().catch(() => undefined);
            return;
          }
          controller.enqueue(chunk);
          return;
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

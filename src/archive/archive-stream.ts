/**
 * The gzip half of `createArchive`: tar chunks in, a readable byte stream of
 * block-parallel gzip out (see gzip.ts for the format), built so that a
 * streaming upload allocates nothing per chunk once it runs.
 *
 * Why: V8 frees spent `ArrayBuffer`s late. In Node 20 it lets 32 MiB of them
 * pile up before collecting, so a pipeline that takes fresh memory for every
 * chunk peaks ~32 MiB above what it holds live. Here, instead:
 * - bodies that are byte streams are read into one scratch buffer (tar-pack's
 *   {@link ReadScratch}) and copied into the current block;
 * - blocks live in pooled 4 MiB buffers, and zlib deflates them into pooled
 *   output buffers (deflate-native.ts); both are taken back once the gzip
 *   member has been read out;
 * - a reader with its own buffer (a BYOB reader) gets the member copied into
 *   it; a default reader gets fresh copies, as any stream would give it.
 */
import { BLOCK_BYTES, GzipBlock } from "./gzip/gzip-block.ts";
import { BlockCompressor, NATIVE_HELD, NATIVE_IN_FLIGHT, resolveOptions, type GzipOptions, type Member } from "./gzip/gzip.ts";
import { SMALL_MEMBER_BYTES } from "./index/archive-index.ts";
import { CUT_AFTER_BYTES, OWN_MEMBER_BYTES, type IndexRecorder } from "./index/index-recorder.ts";

/** Bytes per chunk handed to a default (non-BYOB) reader. */
const DEFAULT_READ = 256 << 10;

/** A finished gzip member being read out, and the pooled block buffer its parts point into, if they do. */
class PendingMember {
  private part = 0;
  private offset = 0;
  constructor(
    readonly member: Member,
    readonly buffer: Uint8Array | undefined,
  ) {}

  get drained(): boolean {
    return this.part >= this.member.parts.length;
  }

  /** Copies as much as fits into `out`; returns the byte count. */
  copyInto(out: Uint8Array): number {
    let filled = 0;
    while (filled < out.length && this.part < this.member.parts.length) {
      const source = this.member.parts[this.part];
      const n = Math.min(source.length - this.offset, out.length - filled);
      out.set(source.subarray(this.offset, this.offset + n), filled);
      filled += n;
      this.offset += n;
      if (this.offset === source.length) {
        this.part++;
        this.offset = 0;
      }
    }
    return filled;
  }
}

/** A block submitted to the compressor and not yet handed out. */
interface Held {
  job: Promise<Member>;
  /** Compressed (or failed). */
  settled: boolean;
  /** The pooled block buffer, until a deflated member gives it back; stored members keep it, as their parts are views of it. */
  buffer: Uint8Array | undefined;
  /** Input bytes of the block. */
  usize: number;
}

/**
 * Gzips the tar bytes of `chunks` into a readable byte stream. Chunks are
 * copied before the generator is resumed, so they may be views of a buffer
 * the generator reuses. `cancel` stops the source. With a `recorder`, members
 * are cut at entry boundaries where that is cheap (see index-recorder.ts) and
 * the table of contents is appended after the last member.
 */
export function gzipByteStream(
  chunks: AsyncGenerator<Uint8Array, void, undefined>,
  options: GzipOptions,
  cancel: (reason: unknown) => Promise<void>,
  recorder?: IndexRecorder,
): ReadableStream<Uint8Array> {
  const settings = resolveOptions(options);
  const compressor = new BlockCompressor(settings);
  const maxInFlight = settings.engine === "native" ? NATIVE_IN_FLIGHT : 1;
  const maxHeld = settings.engine === "native" ? NATIVE_HELD : 1;
  const held: Held[] = [];
  const compressing = () => held.filter((entry) => !entry.settled);
  let indexWritten = false;
  const pool: Uint8Array[] = [];
  let pending: Uint8Array | undefined; // the rest of a chunk that did not fit the last block
  let sourceDone = false;
  let ready: { block: GzipBlock; buffer: Uint8Array } | undefined;
  let filling: Promise<{ block: GzipBlock; buffer: Uint8Array } | undefined> | undefined;
  let current: PendingMember | undefined;
  let submitted = 0;

  /** Fills the next block from the source; `undefined` once the source is exhausted. */
  async function fill(): Promise<{ block: GzipBlock; buffer: Uint8Array } | undefined> {
    const buffer = pool.pop() ?? new Uint8Array(BLOCK_BYTES);
    const block = new GzipBlock();
    let filled = 0;
    while (filled < BLOCK_BYTES) {
      if (!pending || pending.length === 0) {
        const next = await chunks.next();
        if (next.done) {
          sourceDone = true;
          break;
        }
        pending = next.value;
        const entry = recorder?.startsEntry;
        // A cut here costs one member header and a fresh deflate window; see CUT_AFTER_BYTES.
        if (entry && filled > 0 && (filled >= CUT_AFTER_BYTES || entry.size >= OWN_MEMBER_BYTES)) break;
      }
      const n = Math.min(pending.length, BLOCK_BYTES - filled);
      buffer.set(pending.subarray(0, n), filled);
      block.add(buffer.subarray(filled, filled + n));
      filled += n;
      pending = pending.subarray(n);
    }
    if (filled > 0) return { block, buffer };
    pool.push(buffer);
    return undefined;
  }

  function submit(next: { block: GzipBlock; buffer: Uint8Array }): void {
    // A small member of an indexed archive is stored (see SMALL_MEMBER_BYTES), unless it is the
    // whole archive: a tiny model's only member, read whole anyway, is deflated as any other.
    const store = recorder !== undefined && next.block.length <= SMALL_MEMBER_BYTES && (submitted > 0 || !sourceDone);
    submitted++;
    const entry: Held = { job: compressor.compress(next.block, store), settled: false, buffer: next.buffer, usize: next.block.length };
    entry.job.then(
      (made) => {
        entry.settled = true;
        // A deflated member no longer needs its input: the block buffer can take the next block
        // now, not only once the member is handed out (up to `maxHeld` members wait for that).
        if (made.holdsInput) return;
        pool.push(entry.buffer!);
        entry.buffer = undefined;
      },
      () => void (entry.settled = true), // surfaced when awaited in nextMember, in order
    );
    held.push(entry);
  }

  /**
   * The next member in order, once compressed; `undefined` at the end. Up to
   * `maxInFlight` blocks compress at once and up to `maxHeld` are held, so a
   * slow level-6 block does not leave a core idle behind it: younger blocks
   * keep compressing while it finishes. The block after the one handed out is
   * read while the consumer drains it, so compression, reading and the
   * consumer all overlap.
   */
  async function nextMember(): Promise<PendingMember | undefined> {
    for (;;) {
      if (!ready && (filling || !sourceDone)) {
        ready = await (filling ?? fill());
        filling = undefined;
      }
      if (ready && compressing().length < maxInFlight && held.length < maxHeld) {
        submit(ready);
        ready = undefined;
        continue;
      }
      if (held.length === 0) {
        if (!recorder || indexWritten) return undefined;
        indexWritten = true;
        return new PendingMember({ parts: [recorder.finish()], pooled: false, holdsInput: false, release() {} }, undefined);
      }
      // A block is waiting for a compressor and there is room to hold it: wait for any to finish.
      if (ready && !held[0].settled && held.length < maxHeld) {
        await Promise.race(compressing().map((entry) => entry.job)).catch(() => {}); // surfaced in order below
        continue;
      }
      const oldest = held.shift()!;
      const made = await oldest.job;
      recorder?.addMember(made.parts.reduce((n, part) => n + part.length, 0), oldest.usize);
      const member = new PendingMember(made, oldest.buffer);
      if (ready && compressing().length < maxInFlight) {
        submit(ready);
        ready = undefined;
      }
      // Read the next block while the consumer drains this member: stored
      // blocks (weights) need no compressing, so without this, reading the
      // files and the consumer's work (hashing, writing) would take turns.
      if (!sourceDone && !ready) {
        filling = fill();
        filling.catch(() => {}); // surfaced when awaited above
      }
      return member;
    }
  }

  return new ReadableStream(
    {
      type: "bytes" as const,
      async pull(controller: ReadableByteStreamController) {
        while (!current || current.drained) {
          if (current) {
            if (current.buffer) pool.push(current.buffer);
            current.member.release();
          }
          current = await nextMember().catch((error: unknown) => {
            compressor.close();
            throw error;
          });
          if (!current) {
            compressor.close();
            controller.close();
            controller.byobRequest?.respond(0);
            return;
          }
        }
        const request = controller.byobRequest;
        if (request?.view) {
          const view = new Uint8Array(request.view.buffer, request.view.byteOffset, request.view.byteLength);
          return request.respond(current.copyInto(view));
        }
        const out = new Uint8Array(DEFAULT_READ);
        const n = current.copyInto(out);
        controller.enqueue(n === out.length ? out : out.slice(0, n));
      },
      cancel(reason) {
        compressor.close();
        return cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

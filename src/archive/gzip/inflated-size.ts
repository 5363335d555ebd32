/**
 * Holding an inflate to the decompressed size the archive index gives: the
 * check every whole-member inflater (zlib's, fflate's, `DecompressionStream`'s)
 * ends with, so a hostile member can neither inflate without bound nor come up short.
 */
import { IntegrityError } from "../../util/errors.ts";

/** The error for members that inflate to `got` bytes ("more than that" when stopped) where the index gives `usize`. */
export function wrongSize(what: string, got: string, usize: number): IntegrityError {
  return new IntegrityError(`${what}: its gzip members inflate to ${got} bytes where its index gives ${usize}. The archive or its index was changed after upload.`);
}

/** Every chunk of `inflated`, which must come to exactly `usize` bytes; reading stops (and cancels it) at the first byte past. */
export async function collectExactly(inflated: ReadableStream<Uint8Array>, usize: number, what: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of inflated as unknown as AsyncIterable<Uint8Array>) {
    if (total + chunk.length > usize) throw wrongSize(what, "more than that", usize);
    total += chunk.length;
    out.push(chunk);
  }
  if (total !== usize) throw wrongSize(what, String(total), usize);
  return out;
}

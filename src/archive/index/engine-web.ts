/**
 * The small engine for reads through the index (`ModelReader`): the
 * platform's `DecompressionStream`, one per member, and the compact SHA-256.
 * Neither fflate nor the unrolled hash lands in a bundle that uses only this.
 */
import { createCompactSha256 } from "../../digest/sha256-compact.ts";
import { inflateMembers } from "../gzip/inflate-web.ts";
import { collectExactly } from "../gzip/inflated-size.ts";
import type { IndexReadEngine } from "./read-entry.ts";

export const webEngine: IndexReadEngine = {
  sha256: createCompactSha256,
  inflateWhole(bytes, members, usize, what) {
    const source = new ReadableStream<Uint8Array>({ start: (controller) => (controller.enqueue(bytes), controller.close()) });
    return collectExactly(inflateMembers(source, members, what), usize, what);
  },
  inflateStream: inflateMembers,
};

/**
 * The small engine for reads through the index (`ModelReader`): the
 * platform's `DecompressionStream`, one per member, and the compact SHA-256.
 * Neither fflate nor the unrolled hash lands in a bundle that uses only this.
 */
import { createCompactSha256 } from "../../digest/sha256-compact.ts";
import { inflateMembers } from "../gzip/inflate-web.ts";
import { IntegrityError } from "../../util/errors.ts";
import type { IndexReadEngine } from "./read-entry.ts";

export const webEngine: IndexReadEngine = {
  sha256: createCompactSha256,
  async inflateWhole(bytes, members, usize, what) {
    const source = new ReadableStream<Uint8Array>({ start: (controller) => (controller.enqueue(bytes), controller.close()) });
    const out: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of inflateMembers(source, members, what) as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      out.push(chunk);
    }
    if (total !== usize) throw new IntegrityError(`${what}: its gzip members inflate to ${total} bytes where its index gives ${usize}. The archive or its index was changed after upload.`);
    return out;
  },
  inflateStream: inflateMembers,
};

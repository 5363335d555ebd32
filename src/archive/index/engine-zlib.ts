/**
 * The store's engine for reads through the index: the runtime's zlib where it
 * has one, else fflate (gunzip.ts, inflate-whole.ts), fflate too for tiny
 * outputs (inflate-small.ts), and the unrolled SHA-256.
 */
import { createSha256 } from "../../digest/sha256.ts";
import { createGunzipStream } from "../gzip/gunzip.ts";
import { inflateSmall, smallEnough } from "../gzip/inflate-small.ts";
import { inflateWhole } from "../gzip/inflate-whole.ts";
import type { IndexReadEngine } from "./read-entry.ts";

export const zlibEngine: IndexReadEngine = {
  sha256: createSha256,
  inflateWhole: async (bytes, members, usize, what) => (smallEnough(members, usize) ? [inflateSmall(bytes, members, usize, what)] : inflateWhole(bytes, usize, what)),
  inflateStream: (body) => body.pipeThrough(createGunzipStream()),
};

/** Helpers for the archive tests: temp dirs, GNU tar, and reading archives into plain objects. */
import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach } from "vitest";
import { readArchive } from "../../src/archive/read-archive.ts";
import type { ArchiveEntry, ReadArchiveOptions } from "../../src/archive/types.ts";
import { BLOCK_SIZE, encodeUstarHeader, type TarHeader } from "../../src/archive/tar/tar-header.ts";
import { collect } from "../support/bytes.ts";

export { collect, failingStream, sha256, streamOf, text, noise } from "../support/bytes.ts";

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A temp dir removed after the test. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "modelstore-archive-"));
  dirs.push(dir);
  return dir;
}

/** Runs GNU tar (/usr/bin/tar) and returns its stdout. */
export function gnuTar(args: string[], cwd?: string): string {
  return execFileSync("/usr/bin/tar", args, { cwd, encoding: "utf8", env: { ...process.env, LC_ALL: "C.UTF-8" } });
}

/** A file as a web stream, as a backend or fetch would hand it over. */
export function fileStream(path: string): ReadableStream<Uint8Array> {
  return Readable.toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array>;
}

/** An entry read fully: metadata plus its bytes. */
export interface ReadEntry {
  path: string;
  type: ArchiveEntry["type"];
  size: number;
  mode: number;
  mtime: Date;
  linkTarget?: string;
  bytes: Uint8Array;
}

/** Reads every entry of an archive, bodies included. */
export async function readAll(stream: ReadableStream<Uint8Array>, options?: ReadArchiveOptions): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  for await (const entry of readArchive(stream, options)) {
    const { body, skip: _skip, ...meta } = entry;
    out.push({ ...meta, bytes: await collect(body) });
  }
  return out;
}

/** Bytes that follow a fixed pseudo-random sequence (xorshift), so big test files need no fixtures. */
export function pseudoRandom(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A stream that generates `size` bytes of `fill` lazily in `chunk`-sized pieces and counts its pulls. */
export function generatedStream(size: number, chunk = 64 * 1024, fill = 7): { stream: ReadableStream<Uint8Array>; pulls: () => number } {
  let sent = 0;
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        pulls++;
        if (sent >= size) return controller.close();
        const n = Math.min(chunk, size - sent);
        controller.enqueue(new Uint8Array(n).fill(fill));
        sent += n;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulls: () => pulls };
}

/** Bytes as a web stream, the way a fetch body or Blob would hand them over. */
export function blobStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new Blob([bytes as Uint8Array<ArrayBuffer>]).stream();
}

/** A plain file's header fields, for tests that build tar bytes by hand. */
export const baseHeader: TarHeader = { name: "f", mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, typeflag: "0", linkname: "", uname: "", gname: "" };
/** One encoded ustar header block: {@link baseHeader} with `fields` changed. */
export const header = (fields: Partial<TarHeader>) => encodeUstarHeader({ ...baseHeader, ...fields });
/** `bytes` zero-padded to whole 512-byte blocks, as tar stores entry data. */
export function padded(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.length / BLOCK_SIZE) * BLOCK_SIZE);
  out.set(bytes);
  return out;
}

/**
 * A streaming tar reader: uncompressed tar bytes in, one `ArchiveEntry` at a
 * time out. Understands POSIX ustar, PAX `x`/`g` records, GNU long names
 * (`L`/`K`) and old GNU / v7 headers; skips entry types it does not report.
 * Bodies are streamed straight from the input, so memory stays bounded by one
 * input chunk whatever the entry sizes.
 *
 * Specs: POSIX.1-2017 `pax` (https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html),
 * GNU tar formats (https://www.gnu.org/software/tar/manual/html_node/Standard.html).
 */
import { InvalidArchiveError, InvalidArgumentError, throwIfAborted } from "../../util/errors.ts";
import { ChunkReader } from "./chunk-reader.ts";
import { BLOCK_SIZE, decodeTarHeader, paddingFor, TypeFlag, type DecodedTarHeader } from "./tar-header.ts";
import { isMetadataType, sparseError, TarMetadata } from "./tar-metadata.ts";
import type { ArchiveEntry, ArchiveEntryType } from "../types.ts";

/** Options for {@link unpackTar}. */
export interface UnpackTarOptions {
  /** Aborts reading; the iterator and any open body throw `AbortedError`. */
  signal?: AbortSignal;
}

export { MAX_METADATA_SIZE } from "./tar-metadata.ts";

function truncated(what: string, at: number): InvalidArchiveError {
  return new InvalidArchiveError(
    `The archive is truncated: the input ended ${what} (at byte ${at}). Re-download or re-create the archive.`,
  );
}

/** The streamed body of one entry; owns the input cursor until it is read or drained. */
class EntryBody {
  readonly stream: ReadableStream<Uint8Array>;
  readonly path: string;
  readonly #input: ChunkReader;
  #remaining: number;
  #padding: number;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #pulling: Promise<void> = Promise.resolve();
  #draining: Promise<void> | undefined;
  #failure: unknown;

  constructor(path: string, size: number, input: ChunkReader) {
    this.path = path;
    this.#input = input;
    this.#remaining = size;
    this.#padding = paddingFor(size);
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
          if (size === 0) controller.close();
        },
        pull: (controller) => (this.#pulling = this.#pull(controller)),
        // A cancelled body is drained when the reader moves on; nothing to do now.
      },
      // Zero high-water mark: read the input only when the consumer asks.
      { highWaterMark: 0 },
    );
  }

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    if (this.#draining) {
      throw new InvalidArgumentError(
        `The body of "${this.path}" can no longer be read: skip() was called or the reader moved to the next entry. Read each body before advancing.`,
      );
    }
    try {
      const chunk = await this.#input.read(this.#remaining);
      if (!chunk) throw truncated(`inside the data of "${this.path}", ${this.#remaining} bytes short`, this.#input.position);
      this.#remaining -= chunk.length;
      controller.enqueue(chunk);
      if (this.#remaining === 0) controller.close();
    } catch (error) {
      this.#failure = error;
      throw error;
    }
  }

  /** Discards what the consumer did not read, and the padding, without buffering. Idempotent. */
  drain(): Promise<void> {
    this.#draining ??= (async () => {
      await this.#pulling.catch(() => {}); // never read the input while a body read is in flight
      if (this.#failure) throw this.#failure;
      const wanted = this.#remaining + this.#padding;
      const unread = this.#remaining;
      this.#remaining = 0;
      if (unread > 0) {
        // Late reads of this body must fail loudly, not return a silently short file.
        this.#controller.error(
          new InvalidArgumentError(`The body of "${this.path}" was skipped before it was read; read it before advancing.`),
        );
      }
      if ((await this.#input.skip(wanted)) < wanted) {
        throw truncated(`inside the data of "${this.path}"`, this.#input.position);
      }
    })();
    return this.#draining;
  }

  /** Ends the body when the whole reader is closed early. */
  detach(): void {
    this.#draining ??= Promise.resolve();
    if (this.#remaining > 0) {
      this.#controller.error(new InvalidArgumentError(`The archive reader was closed before the body of "${this.path}" was read.`));
    }
  }
}

function entryType(header: DecodedTarHeader, path: string): ArchiveEntryType | undefined {
  switch (header.typeflag) {
    case TypeFlag.file:
    case TypeFlag.oldFile:
      // Pre-POSIX writers mark directories only by a trailing slash.
      return path.endsWith("/") ? "directory" : "file";
    case TypeFlag.contiguous:
      return "file";
    case TypeFlag.directory:
    case TypeFlag.gnuDumpDir:
      return "directory";
    case TypeFlag.symlink:
      return "symlink";
    case TypeFlag.hardlink:
      return "hardlink";
    default:
      return undefined; // devices, FIFOs, volume labels...: skipped
  }
}

// Types whose size field describes no data blocks (as Go's archive/tar and GNU tar read them).
const HEADER_ONLY = new Set(["1", "2", "3", "4", "5", "6"]);

/**
 * Reads entries from an uncompressed tar stream. Advancing the iterator drains
 * the previous entry's unread body; breaking out of the loop cancels the input.
 * Throws `InvalidArchiveError` on truncation, bad checksums or malformed records.
 */
export async function* unpackTar(
  stream: ReadableStream<Uint8Array>,
  options: UnpackTarOptions = {},
): AsyncGenerator<ArchiveEntry, void, undefined> {
  const { signal } = options;
  throwIfAborted(signal);
  const input = new ChunkReader(stream, signal);
  const metadata = new TarMetadata();
  let body: EntryBody | undefined;
  let sawHeader = false;
  let completed = false;
  try {
    for (;;) {
      if (body) await body.drain();
      body = undefined;
      throwIfAborted(signal);
      const at = input.position;
      const block = await input.readExact(BLOCK_SIZE);
      if (block.length === 0) {
        if (!sawHeader) throw new InvalidArchiveError("The archive is empty: the input has no tar header. Pass a .tar or .tar.gz stream.");
        throw truncated("after an entry, without the end-of-archive marker", at);
      }
      if (block.length < BLOCK_SIZE) throw truncated("inside a header", input.position);
      const header = decodeTarHeader(block, at);
      if (!header) {
        await checkEndOfArchive(input, at);
        break;
      }
      sawHeader = true;
      const flag = header.typeflag;
      if (isMetadataType(flag)) {
        await metadata.read(input, header, at);
        continue;
      }
      const { path: rawPath, size, mtime, linkTarget } = metadata.take(header, at);
      // Old GNU sparse data is fragments after extension blocks: read as a file it would
      // misalign every later header, so the rest of the archive would vanish silently.
      if (flag === TypeFlag.gnuSparse) throw sparseError(rawPath);
      const type = entryType(header, rawPath);
      const dataSize = HEADER_ONLY.has(flag) ? 0 : size;
      if (type !== "file") {
        // Not reported with a body: discard its data (if any) right away.
        if ((await input.skip(dataSize + paddingFor(dataSize))) < dataSize + paddingFor(dataSize)) {
          throw truncated(`inside the data of "${rawPath}"`, input.position);
        }
        if (type === undefined) continue;
      }
      const path = type === "directory" ? rawPath.replace(/(.)\/+$/, "$1") : rawPath;
      body = new EntryBody(path, type === "file" ? dataSize : 0, input);
      const current = body;
      yield {
        path,
        type,
        size: type === "file" ? dataSize : 0,
        mode: header.mode & 0o7777,
        mtime: new Date(mtime * 1000),
        ...(type === "symlink" || type === "hardlink" ? { linkTarget } : {}),
        body: current.stream,
        skip: () => current.drain(),
      };
    }
    // Whatever follows the end marker is padding to the record size: drain it so a
    // gzip layer below still verifies its trailer.
    await input.skip(Number.POSITIVE_INFINITY);
    completed = true;
  } finally {
    body?.detach();
    if (completed) input.release();
    else await input.cancel();
  }
}

/**
 * Called after a zero block. POSIX ends an archive with two; GNU tar also
 * accepts one at the end of the input. A valid header after a lone zero block
 * means entries GNU tar would silently drop ("A lone zero block"), so they are
 * refused rather than hidden. Anything else after it is record padding.
 */
async function checkEndOfArchive(input: ChunkReader, at: number): Promise<void> {
  const next = await input.readExact(BLOCK_SIZE);
  if (next.length < BLOCK_SIZE) return;
  let header: DecodedTarHeader | null = null;
  try {
    header = decodeTarHeader(next, at + BLOCK_SIZE);
  } catch {
    return; // not a header: padding, as GNU tar reads it
  }
  if (header) {
    throw new InvalidArchiveError(
      `The archive has a lone zero block at byte ${at} followed by the entry "${header.name}": ` +
        "GNU tar stops at the zero block and drops the rest. The archive is corrupt; re-create it.",
    );
  }
}

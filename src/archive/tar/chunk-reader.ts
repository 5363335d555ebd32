/**
 * A byte cursor over a `ReadableStream<Uint8Array>` for parsers: read up to
 * n bytes, exactly n bytes, or skip n bytes, without buffering more than the
 * one chunk the source last produced.
 */
import { throwIfAborted } from "../../util/errors.ts";

const EMPTY = new Uint8Array(0);

/** Reads a byte stream in caller-sized pieces; tracks the absolute position for error messages. */
export class ChunkReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => void this.#reader.cancel(this.#signal?.reason).catch(() => {});
  #chunk: Uint8Array = EMPTY; // the unread rest of the last chunk
  #position = 0;
  #released = false;

  /** Locks `stream`; an abort of `signal` cancels it and makes pending reads throw `AbortedError`. */
  constructor(stream: ReadableStream<Uint8Array>, signal?: AbortSignal) {
    this.#reader = stream.getReader();
    this.#signal = signal;
    signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** Bytes consumed so far. */
  get position(): number {
    return this.#position;
  }

  /** Up to `max` bytes (a view, not a copy), or `null` at the end of the stream. */
  async read(max: number): Promise<Uint8Array | null> {
    while (this.#chunk.length === 0) {
      if (this.#released) return null;
      const { done, value } = await this.#reader.read();
      throwIfAborted(this.#signal); // a cancelled source reads as done: report the abort instead
      if (done) return null;
      this.#chunk = value;
    }
    const out = this.#chunk.length <= max ? this.#chunk : this.#chunk.subarray(0, max);
    this.#chunk = this.#chunk.subarray(out.length);
    this.#position += out.length;
    return out;
  }

  /** Exactly `n` bytes, or fewer if the stream ends first; copies only when `n` spans chunks. */
  async readExact(n: number): Promise<Uint8Array> {
    const first = await this.read(n);
    if (!first) return EMPTY;
    if (first.length === n) return first;
    const out = new Uint8Array(n);
    out.set(first);
    let filled = first.length;
    while (filled < n) {
      const part = await this.read(n - filled);
      if (!part) return out.subarray(0, filled);
      out.set(part, filled);
      filled += part.length;
    }
    return out;
  }

  /** Discards up to `n` bytes chunk by chunk; returns how many were skipped (fewer at the end). */
  async skip(n: number): Promise<number> {
    let skipped = 0;
    while (skipped < n) {
      const part = await this.read(n - skipped);
      if (!part) break;
      skipped += part.length;
    }
    return skipped;
  }

  /** Cancels the source and releases it; later reads see the end of the stream. */
  async cancel(reason?: unknown): Promise<void> {
    this.#chunk = EMPTY;
    await this.#reader.cancel(reason).catch(() => {});
    this.release();
  }

  /** Releases the source stream's lock and the abort listener. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#chunk = EMPTY;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#reader.releaseLock();
  }
}

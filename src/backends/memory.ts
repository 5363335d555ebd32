/**
 * The in-memory backend: objects live in a `Map` for the life of the process.
 * For tests, examples and ephemeral edge workers that handle small models;
 * stream bodies are collected whole, so do not push gigabytes through it.
 */
import {
  AlreadyExistsError,
  ConflictError,
  IntegrityError,
  InvalidArgumentError,
  throwIfAborted,
} from "../util/errors.ts";
import type { Backend, BaseOptions, GetOptions, ListOptions, ObjectInfo, PutOptions } from "./backend.ts";
import { compareKeys } from "./key-order.ts";
import { concatBytes } from "../util/bytes.ts";
import { forEachChunk } from "../util/streams.ts";

/** Bytes per chunk of a get() body: reads are bounded copies, and an abort is seen between them. */
const READ_CHUNK = 1 << 20;

interface StoredObject {
  bytes: Uint8Array;
  etag: string;
  lastModified: string;
}

/**
 * Creates an empty in-memory {@link Backend} (name `"memory"`) with atomic
 * conditional writes.
 *
 * Why: the store and its tests need a backend with the full contract and no
 * I/O. Puts store a private copy, so mutating a buffer after `put` never
 * changes what was stored; every put gets a fresh etag.
 */
export function memoryBackend(): Backend {
  const objects = new Map<string, StoredObject>();
  // A counter, not a content hash: the etag must change on every put, even of identical bytes.
  let version = 0;

  const info = (key: string, object: StoredObject): ObjectInfo => ({
    key,
    size: object.bytes.byteLength,
    etag: object.etag,
    lastModified: object.lastModified,
  });

  return {
    name: "memory",
    capabilities: { conditionalWrites: true },

    async get(key: string, options: GetOptions = {}): Promise<ReadableStream<Uint8Array> | null> {
      checkKey(key);
      throwIfAborted(options.signal);
      const object = objects.get(key);
      if (!object) return null;
      const { start, end } = byteRange(options.range, object.bytes.byteLength);
      // Stored bytes are never mutated (each put replaces the entry), so a view is a safe snapshot.
      const view = object.bytes.subarray(start, end);
      let at = 0;
      return new ReadableStream<Uint8Array>(
        {
          pull(controller) {
            throwIfAborted(options.signal);
            if (at >= view.byteLength) return controller.close();
            // Copies, a chunk at a time: the reader owns what it gets and may change it.
            controller.enqueue(view.slice(at, at + READ_CHUNK));
            at += READ_CHUNK;
          },
        },
        { highWaterMark: 0 },
      );
    },

    async put(key: string, body: Uint8Array | ReadableStream<Uint8Array>, options: PutOptions = {}): Promise<ObjectInfo> {
      checkKey(key);
      checkConditions(options);
      throwIfAborted(options.signal);
      const bytes = body instanceof Uint8Array ? body.slice() : await collect(body, options.signal);
      throwIfAborted(options.signal);
      if (options.size !== undefined && options.size !== bytes.byteLength) {
        throw new IntegrityError(
          `Cannot put "${key}": the body has ${bytes.byteLength} bytes but size says ${options.size}. Pass the body's real size or omit size.`,
        );
      }
      // Checked after the body is collected, with no await in between, so the
      // check and the write are one atomic step on the single JS thread.
      const current = objects.get(key);
      if (options.ifNoneMatch === "*" && current) {
        throw new AlreadyExistsError(`Cannot create "${key}": it already exists in the memory backend. Pick a new key or drop ifNoneMatch.`);
      }
      if (options.ifMatch !== undefined && current?.etag !== options.ifMatch) {
        throw new ConflictError(
          current
            ? `Cannot update "${key}": it changed since etag ${options.ifMatch} was read (now ${current.etag}). Read it again and retry.`
            : `Cannot update "${key}": it no longer exists (expected etag ${options.ifMatch}). Read it again and retry.`,
        );
      }
      const object: StoredObject = { bytes, etag: `"${++version}"`, lastModified: new Date().toISOString() };
      objects.set(key, object);
      return info(key, object);
    },

    async head(key: string, options: BaseOptions = {}): Promise<ObjectInfo | null> {
      checkKey(key);
      throwIfAborted(options.signal);
      const object = objects.get(key);
      return object ? info(key, object) : null;
    },

    async delete(key: string, options: BaseOptions = {}): Promise<void> {
      checkKey(key);
      throwIfAborted(options.signal);
      objects.delete(key);
    },

    async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
      const keys = [...objects.keys()].filter((key) => key.startsWith(prefix)).sort(compareKeys);
      let count = 0;
      for (const key of keys) {
        if (options.limit !== undefined && count >= options.limit) return;
        throwIfAborted(options.signal);
        const object = objects.get(key);
        if (!object) continue; // deleted while the caller was consuming the listing
        count++;
        yield info(key, object);
      }
    },

    async *listPrefixes(prefix: string, options: BaseOptions = {}): AsyncIterable<string> {
      const prefixes = new Set<string>();
      for (const key of objects.keys()) {
        if (!key.startsWith(prefix)) continue;
        const slash = key.indexOf("/", prefix.length);
        if (slash >= 0) prefixes.add(key.slice(0, slash + 1));
      }
      for (const p of [...prefixes].sort(compareKeys)) {
        throwIfAborted(options.signal);
        yield p;
      }
    },
  };
}

function checkKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) {
    throw new InvalidArgumentError(`Invalid key ${JSON.stringify(key)}: keys are non-empty strings such as "domain/versions/id.json".`);
  }
}

function checkConditions(options: PutOptions): void {
  if (options.ifNoneMatch !== undefined && options.ifMatch !== undefined) {
    throw new InvalidArgumentError("Pass either ifNoneMatch or ifMatch to put(), not both: a write cannot be create-only and compare-and-swap at once.");
  }
}

/** Turns a `range` option into slice bounds, clamped to the object; a range past the end is empty. */
function byteRange(range: GetOptions["range"], size: number): { start: number; end: number } {
  if (!range) return { start: 0, end: size };
  const { offset, length } = range;
  if (!Number.isSafeInteger(offset) || offset < 0 || (length !== undefined && (!Number.isSafeInteger(length) || length < 0))) {
    throw new InvalidArgumentError(
      `Invalid range ${JSON.stringify(range)}: offset and length must be non-negative integers.`,
    );
  }
  const start = Math.min(offset, size);
  const end = length === undefined ? size : Math.min(size, offset + length);
  return { start, end };
}

/** Reads a stream whole, cancelling it promptly when `signal` fires. */
async function collect(stream: ReadableStream<Uint8Array>, signal: AbortSignal | undefined): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  // Copy: the producer may reuse its buffer after handing it over.
  await forEachChunk(stream, (chunk) => void chunks.push(chunk.slice()), signal);
  return concatBytes(chunks);
}

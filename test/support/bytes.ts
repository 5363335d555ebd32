/** Test helpers for bytes and streams. */
import { createHash, randomBytes } from "node:crypto";
import { concatBytes } from "../../src/util/bytes.ts";

export const text = (s: string) => new TextEncoder().encode(s);

export async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

export const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

export const noise = (size: number) => new Uint8Array(randomBytes(size));

/** `bytes` of float32 drawn from N(0, 0.02), like trained weights: Huffman coding shrinks them, matching barely does. */
export function normalWeights(bytes: number): Uint8Array {
  const f = new Float32Array(bytes / 4);
  for (let i = 0; i < f.length; i += 2) {
    // Box-Muller: two normal draws per pair of uniforms.
    const r = Math.sqrt(-2 * Math.log(1 - Math.random())) * 0.02;
    const t = 2 * Math.PI * Math.random();
    f[i] = r * Math.cos(t);
    f[i + 1] = r * Math.sin(t);
  }
  return new Uint8Array(f.buffer);
}

/** A stream that yields `before` bytes and then fails, like a disk read error halfway through a file. */
export function failingStream(before: Uint8Array, message = "disk read failed halfway"): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(before);
      } else controller.error(new Error(message));
    },
  });
}

/** A stream over `bytes` in chunks of `chunkSize`. */
export function streamOf(bytes: Uint8Array, chunkSize = 64 * 1024): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

/** A stream of `parts`, one chunk per pull (ReadableStream.from is missing from the DOM typings). */
export function streamOfParts(parts: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < parts.length) controller.enqueue(parts[i++]);
      else controller.close();
    },
  });
}

/** Reads `reader` to its end; resolves the error that ended it, or `undefined` if it ended cleanly. */
export async function readUntilError(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<unknown> {
  try {
    for (;;) if ((await reader.read()).done) return undefined;
  } catch (error) {
    return error;
  }
}

/** A readable byte stream over `bytes`: BYOB readers get it copied into their buffers, default readers in chunks of `chunkSize`. */
export function byteStreamOf(bytes: Uint8Array, chunkSize = 64 * 1024): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    type: "bytes",
    pull(controller: ReadableByteStreamController) {
      const request = controller.byobRequest;
      if (offset >= bytes.byteLength) {
        controller.close();
        request?.respond(0);
        return;
      }
      if (request?.view) {
        const view = new Uint8Array(request.view.buffer, request.view.byteOffset, request.view.byteLength);
        const n = Math.min(view.byteLength, bytes.byteLength - offset);
        view.set(bytes.subarray(offset, offset + n));
        offset += n;
        return request.respond(n);
      }
      controller.enqueue(bytes.slice(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
}

/** Reads `stream` to its end with a BYOB reader into one buffer of `bufferSize`, reused read after read. */
export async function collectOwnBuffer(stream: ReadableStream<Uint8Array>, bufferSize: number): Promise<Uint8Array> {
  const reader = stream.getReader({ mode: "byob" });
  let buffer = new ArrayBuffer(bufferSize);
  const parts: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read(new Uint8Array(buffer));
    if (value) buffer = value.buffer as ArrayBuffer;
    if (done) break;
    parts.push(value.slice()); // the next read overwrites the buffer
  }
  return concatBytes(parts);
}

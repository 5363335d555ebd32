/** Byte helpers shared by the core. */

/** Joins byte arrays into one new array (for small, bounded data only: headers, documents, test bodies). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/**
 * The buffer a BYOB read returned `view` in, if it is the whole buffer that was
 * lent (`length` bytes); else a new one of that length. The Streams standard
 * moves the lent buffer into the result, but a runtime may hand back a buffer
 * of its own instead (workerd does), and reusing a short one would shrink every
 * later read.
 */
export function bufferBack(view: Uint8Array | undefined, length: number): ArrayBuffer {
  const buffer = view?.buffer;
  return buffer instanceof ArrayBuffer && buffer.byteLength === length ? buffer : new ArrayBuffer(length);
}

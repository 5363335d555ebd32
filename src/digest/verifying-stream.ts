/** Checking a whole archive against its recorded size and sha256 as it streams. */
import { createSha256 } from "./sha256.ts";
import { IntegrityError } from "../util/errors.ts";

/**
 * Passes bytes through and fails the stream with {@link IntegrityError} if the
 * total size or sha256 differ from what was recorded: a corrupted archive is
 * never delivered as a good one.
 */
export function verifyingStream(expected: { size: number; sha256: string }, what: string): TransformStream<Uint8Array, Uint8Array> {
  const hash = createSha256();
  let size = 0;
  return new TransformStream({
    transform(chunk, controller) {
      size += chunk.byteLength;
      if (size > expected.size) {
        throw new IntegrityError(`${what} is longer than the ${expected.size} bytes recorded in its metadata; it was modified or corrupted. Upload the model again.`);
      }
      hash.update(chunk);
      controller.enqueue(chunk);
    },
    flush() {
      if (size !== expected.size) {
        throw new IntegrityError(`${what} has ${size} bytes but its metadata records ${expected.size}; it is truncated or corrupted. Upload the model again.`);
      }
      const actual = hash.hexDigest();
      if (actual !== expected.sha256) {
        throw new IntegrityError(`${what} has sha256 ${actual} but its metadata records ${expected.sha256}; it is corrupted. Upload the model again.`);
      }
    },
  });
}

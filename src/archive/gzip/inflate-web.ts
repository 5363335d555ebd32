/**
 * Inflating an archive's gzip members with the platform's `DecompressionStream`,
 * for small read-only bundles (no fflate, no zlib). Deno's and workerd's
 * refuse bytes after the end of a member ("Trailing bytes after end of
 * compressed data"), so the members are cut where the archive index says they
 * end and each gets a stream of its own. Each member's CRC-32 and length are
 * checked by the platform, its output size here: a member that inflates past
 * what the index records is stopped there.
 */
import type { IndexMember } from "../index/archive-index.ts";
import { IntegrityError, InvalidArchiveError, ModelStoreError } from "../../util/errors.ts";

/**
 * The decompressed bytes of `body`, which holds `members` back to back (the
 * compressed range of a ranged read). Errors with `IntegrityError` when a
 * member inflates to other than its recorded size or the range ends early,
 * `InvalidArchiveError` when a member is corrupt.
 */
export function inflateMembers(body: ReadableStream<Uint8Array>, members: readonly IndexMember[], what: string): ReadableStream<Uint8Array> {
  const source = body.getReader();
  let carried: Uint8Array | undefined; // bytes read past the end of the member before
  let member = 0;
  let output: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let produced = 0;
  const wrongSize = () =>
    new IntegrityError(`${what}: the gzip member at byte ${members[member].offset} inflates to ${produced} bytes or more where its index gives ${members[member].usize}. The archive or its index was changed after upload.`);

  /** The next `size` bytes of the range, as a stream of their own. */
  const memberBytes = (size: number) =>
    new ReadableStream<Uint8Array>({
      async pull(controller) {
        let chunk = carried;
        carried = undefined;
        if (!chunk) {
          const { done, value } = await source.read();
          if (done) return controller.error(new IntegrityError(`${what}: a range ended ${size} bytes early. The archive was changed after upload.`));
          chunk = value;
        }
        if (chunk.length > size) {
          carried = chunk.subarray(size);
          chunk = chunk.subarray(0, size);
        }
        size -= chunk.length;
        controller.enqueue(chunk);
        if (size === 0) controller.close();
      },
    });

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          if (!output) {
            if (member === members.length) {
              controller.close();
              await source.cancel().catch(() => undefined);
              return;
            }
            output = memberBytes(members[member].size).pipeThrough(new DecompressionStream("gzip") as ReadableWritablePair<Uint8Array, Uint8Array>).getReader();
            produced = 0;
          }
          let next: ReadableStreamReadResult<Uint8Array>;
          try {
            next = await output.read();
          } catch (error) {
            if (error instanceof ModelStoreError) throw error;
            throw new InvalidArchiveError(`${what}: the gzip member at byte ${members[member].offset} is corrupt (${(error as Error)?.message ?? error}). The archive was changed after upload.`, { cause: error });
          }
          if (next.done) {
            if (produced !== members[member].usize) throw wrongSize();
            output = undefined;
            member++;
            continue;
          }
          produced += next.value.length;
          if (produced > members[member].usize) {
            await output.cancel().catch(() => undefined);
            throw wrongSize();
          }
          controller.enqueue(next.value);
          return;
        }
      },
      async cancel(reason) {
        await output?.cancel(reason).catch(() => undefined);
        await source.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * A transform driven by its reader: input is decoded one bounded step per
 * read of the output, so what one input chunk expands to never piles up in a
 * queue, however large the chunk (a 2 MiB gzip bomb handed over as one chunk
 * held 2.4 GB when a `TransformStream` enqueued all of its output at once).
 *
 * Why not a `TransformStream`: its `transform()` must consume the whole chunk
 * before it returns and cannot wait for the reader in between. This pair has
 * the same shape (`readable` + `writable`, for `pipeThrough`) and the same
 * queueing: the writable side holds one chunk, the readable side none.
 */

/**
 * One decoding step: consumes a prefix of `input`, passing output to `emit`.
 * A step consumes at least one byte or emits; it may be asynchronous (the
 * native engine waits for zlib), and the next step starts once it settled.
 */
export interface PullTransformer {
  /** Returns how many bytes of `input` it consumed. */
  step(input: Uint8Array, emit: (chunk: Uint8Array) => void): number | Promise<number>;
  /**
   * Called once the input has ended; may emit the last bytes or throw if the
   * input was cut short. Returning `true` means it emitted part of what is
   * left: it is called again on the next read, so the rest waits for the reader.
   */
  finish(emit: (chunk: Uint8Array) => void): void | boolean | Promise<void | boolean>;
}

interface Pending {
  resolve(): void;
  reject(reason: unknown): void;
}

/**
 * Wraps `transformer` as a readable/writable pair. Each read of `readable`
 * runs steps until one emits output (or the input ends), and the write of an
 * input chunk resolves once every byte of it went through a step. An error of
 * a step errors both sides; cancelling `readable` fails later writes.
 */
export function pullTransform(transformer: PullTransformer): TransformStream<Uint8Array, Uint8Array> {
  let input: Uint8Array | undefined;
  let write: Pending | undefined;
  let closing: Pending | undefined;
  let failure: { reason: unknown } | undefined;
  let wake: (() => void) | undefined;
  let readableController!: ReadableStreamDefaultController<Uint8Array>;

  const fail = (reason: unknown): void => {
    failure ??= { reason };
    write?.reject(reason);
    closing?.reject(reason);
    write = closing = undefined;
    input = undefined;
    wake?.();
  };

  /** For after an await: the stream may have been cancelled or aborted meanwhile. */
  const throwIfFailed = (): void => {
    if (failure) throw failure.reason;
  };

  const readable = new ReadableStream<Uint8Array>(
    {
      start: (controller) => void (readableController = controller),
      async pull(controller) {
        let emitted = false;
        const emit = (chunk: Uint8Array): void => {
          if (chunk.length === 0 || failure) return; // cancelled while an asynchronous step ran
          emitted = true;
          controller.enqueue(chunk);
        };
        try {
          while (!emitted) {
            throwIfFailed();
            if (input) {
              const result = transformer.step(input, emit);
              // Synchronous steps (fflate) are not awaited: a tick per step would cost.
              const used = typeof result === "number" ? result : await result;
              throwIfFailed();
              input = input!.subarray(used);
              if (input.length === 0) {
                input = undefined;
                write!.resolve();
                write = undefined;
              }
            } else if (closing) {
              const result = transformer.finish(emit);
              const more = result instanceof Promise ? await result : result;
              throwIfFailed();
              if (more === true) continue;
              controller.close();
              closing!.resolve();
              closing = undefined;
              return;
            } else {
              await new Promise<void>((resolve) => (wake = resolve));
              wake = undefined;
            }
          }
        } catch (error) {
          fail(error);
          throw error;
        }
      },
      cancel: (reason) => fail(reason),
    },
    { highWaterMark: 0 },
  );

  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      if (failure) throw failure.reason;
      if (chunk.length === 0) return;
      return new Promise<void>((resolve, reject) => {
        input = chunk;
        write = { resolve, reject };
        wake?.();
      });
    },
    close() {
      if (failure) throw failure.reason;
      return new Promise<void>((resolve, reject) => {
        closing = { resolve, reject };
        wake?.();
      });
    },
    abort(reason) {
      fail(reason);
      readableController.error(reason);
    },
  });

  // Structurally a TransformStream: pipeThrough and callers need only these two sides.
  return { readable, writable };
}

/**
 * The body of a GetObject answer, made to survive a dropped connection.
 *
 * Retrying a GET is only simple before its first byte; a model archive is
 * hundreds of megabytes, so a connection lost in the middle is the likelier
 * failure. When the body fails part-way, the rest is asked for with a ranged
 * GET pinned to the same object by `If-Match: <etag>`, so a model replaced in
 * the meantime fails the read instead of splicing two versions together.
 * Whatever cannot be resumed ends the stream with a `BackendError` (or an
 * `AbortedError`), never with the runtime's bare `TypeError`.
 * @see https://www.rfc-editor.org/rfc/rfc9110#name-range-requests
 */
import { AbortedError, BackendError } from "../../util/errors.ts";

/** What {@link resumableBody} needs to know and to do. */
export interface ResumeOptions {
  /** First byte of the object that `response` starts at (the requested range's offset). */
  start: number;
  /** How many times to resume after a failure. */
  retries: number;
  /** Asks for the object from byte `from` on, with `If-Match: etag`; resolves a 206 answer or throws a `BackendError`. */
  fetchFrom: (from: number, etag: string) => Promise<Response>;
  /** The error to end with when the body fails and cannot be resumed. */
  cutOff: (cause: unknown, received: number) => BackendError;
  /**
   * A body that sends nothing for this long is given up and resumed, as if it
   * had broken off: a half-open connection would otherwise hang the read for ever.
   */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
}

/** The error a silent body is given up with (then resumed like any break). */
class BodyStalled extends Error {
  constructor(ms: number) {
    super(`no data for ${ms} ms`);
  }
}

/**
 * Gives up a body that sends nothing for `ms` while a read waits on it: it
 * cancels the reader, and the read that was waiting reports the stall. One
 * timer per body, re-armed only when it fires early, instead of one timer and
 * one race per read (measured: that cost 20-30 ms per 256 MiB in 16 KiB
 * chunks, a few per cent of a local download). Time when nobody is reading
 * (the consumer is busy) does not count, and no timer runs then.
 */
class IdleWatch {
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  private since = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Set when the waiting read was given up. */
  private stalled: BodyStalled | undefined;

  constructor(private readonly ms: number | undefined) {}

  /** `reader.read()`, failed with {@link BodyStalled} (and the reader cancelled) if nothing arrives within `ms`. */
  async read(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<ReadableStreamReadResult<Uint8Array>> {
    if (this.ms === undefined) return reader.read();
    this.reader = reader;
    this.since = Date.now();
    this.stalled = undefined;
    this.timer ??= setTimeout(() => this.check(), this.ms);
    try {
      const result = await reader.read();
      // Cancelling ends the pending read as if the body were done: that is no end.
      if (this.stalled) throw this.stalled;
      return result;
    } finally {
      this.reader = undefined;
    }
  }

  private check(): void {
    this.timer = undefined;
    if (!this.reader) return; // nobody waits: the next read arms it again
    const idle = Date.now() - this.since;
    if (idle < this.ms!) {
      this.timer = setTimeout(() => this.check(), this.ms! - idle);
      return;
    }
    this.stalled = new BodyStalled(this.ms!);
    this.reader.cancel(this.stalled).catch(() => {}); // closes the silent connection
  }

  /** Stops the timer (the body ended or was cancelled). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** The first byte a `Content-Range: bytes first-last/size` answer covers. */
function rangeStart(response: Response): number | undefined {
  const match = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(response.headers.get("content-range") ?? "");
  return match ? Number(match[1]) : undefined;
}

/**
 * Streams `response.body`, resuming from where it broke off up to `retries`
 * times when the answer carried an ETag. Pull-based: nothing is read ahead.
 */
export function resumableBody(response: Response, options: ResumeOptions): ReadableStream<Uint8Array> {
  const etag = response.headers.get("etag");
  let reader = response.body!.getReader();
  let received = 0;
  let resumes = 0;
  const watch = new IdleWatch(options.idleTimeoutMs);

  async function resume(cause: unknown): Promise<void> {
    if (options.signal?.aborted) {
      throw new AbortedError("The download was aborted by its AbortSignal.", { cause: options.signal.reason });
    }
    if (!etag || resumes >= options.retries) throw options.cutOff(cause, received);
    resumes++;
    const from = options.start + received;
    const rest = await options.fetchFrom(from, etag);
    // A server that ignored the range would send bytes we already passed on.
    if (rest.status !== 206 || rangeStart(rest) !== from) {
      await rest.body?.cancel().catch(() => {});
      throw options.cutOff(new Error(`the resumed read answered ${rest.status} from byte ${rangeStart(rest) ?? "?"}, not 206 from ${from}`), received);
    }
    reader = rest.body!.getReader();
  }

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          let result: ReadableStreamReadResult<Uint8Array>;
          try {
            result = await watch.read(reader);
          } catch (error) {
            try {
              await resume(error);
            } catch (failure) {
              watch.stop();
              throw failure;
            }
            continue;
          }
          if (result.done) {
            watch.stop();
            return controller.close();
          }
          received += result.value.byteLength;
          return controller.enqueue(result.value);
        }
      },
      cancel(reason) {
        watch.stop();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

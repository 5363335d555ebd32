/**
 * File writes that run while the archive is read on: extracting, each small
 * file costs some ten file-system calls, each a round trip to the thread
 * pool, and one after the other they took longer than the bytes did (200
 * config files of 1-20 KiB: 265 ms, where GNU tar takes 20). A few at once
 * keep the thread pool busy instead of waiting on each in turn.
 *
 * Order is kept where it matters: an entry waits for the writes of its own
 * path and of every folder above it, so a later entry of the same name still
 * replaces an earlier one, and a file named like a later entry's folder is
 * there before that folder is checked.
 */
export class PendingWrites {
  private readonly byPath = new Map<string, Promise<void>>();
  private failure: { error: unknown } | undefined;

  /** @param limit writes running at once; `add` waits while that many run */
  constructor(private readonly limit: number) {}

  /**
   * Starts `write` for `path` once fewer than `limit` writes run (and after any
   * earlier write of the same path). Throws the first failure of an earlier write.
   */
  async add(path: string, write: () => Promise<void>): Promise<void> {
    await this.waitFor([path]);
    while (this.byPath.size >= this.limit) await Promise.race(this.byPath.values());
    this.throwIfFailed();
    const running = write().then(
      () => {},
      (error: unknown) => {
        this.failure ??= { error };
      },
    );
    const tracked = running.finally(() => {
      if (this.byPath.get(path) === tracked) this.byPath.delete(path);
    });
    this.byPath.set(path, tracked);
  }

  /** Waits for the running writes of these paths; throws the first failure of any write. */
  async waitFor(paths: Iterable<string>): Promise<void> {
    for (const path of paths) {
      const running = this.byPath.get(path);
      if (running) await running;
    }
    this.throwIfFailed();
  }

  /** Waits for every running write; throws the first failure of any. */
  async drain(): Promise<void> {
    await this.settle();
    this.throwIfFailed();
  }

  /** Waits for every running write, whatever its outcome (after a failure elsewhere, so no write outlives the call). */
  async settle(): Promise<void> {
    while (this.byPath.size > 0) await Promise.all(this.byPath.values());
  }

  /** Throws the first failure of any write so far, if one failed. */
  throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}

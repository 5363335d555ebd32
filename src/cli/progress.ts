/** A one-line progress display on stderr, shown only when stderr is a terminal. */

const MIB = 1024 * 1024;

/** Prints `label  12.3 MiB  45% 80.1 MB/s` in place; a no-op when not a TTY or with `--json`. */
export class ProgressLine {
  #started = Date.now();
  #lastDraw = 0;
  #last: [number, number | undefined] = [0, undefined];
  readonly #enabled: boolean;

  constructor(private readonly label: string, enabled = Boolean(process.stderr.isTTY)) {
    this.#enabled = enabled;
  }

  /** `bytes` done so far, of `total` when it is known (then a percentage is shown). */
  update(bytes: number, total?: number): void {
    if (!this.#enabled) return;
    this.#last = [bytes, total];
    const now = Date.now();
    if (now - this.#lastDraw < 100) return; // redraw at most ten times a second
    this.#lastDraw = now;
    this.#draw(now);
  }

  /** Draws the last state, so the line ends on what was done (100% after a whole upload), and ends the line. */
  done(): void {
    if (!this.#enabled || this.#lastDraw === 0) return;
    this.#draw(Date.now());
    process.stderr.write("\n");
  }

  #draw(now: number): void {
    const [bytes, total] = this.#last;
    const seconds = Math.max((now - this.#started) / 1000, 0.001);
    const rate = bytes / 1e6 / seconds;
    const share = total ? ` ${Math.min(100, Math.floor((bytes / total) * 100))}%` : "";
    process.stderr.write(`\r${this.label} ${(bytes / MIB).toFixed(1)} MiB${share} ${rate.toFixed(1)} MB/s   `);
  }
}

/**
 * Ctrl-C and `kill` for the CLI: the first SIGINT or SIGTERM aborts the
 * running command through the library's `signal`, so an upload removes its
 * multipart upload and archive slot before the process exits; a second one
 * exits at once, cleanup or not.
 */
import { AbortedError } from "../util/errors.ts";

/** Exit codes of a process ended by a signal, as shells report them: 128 + the signal's number. */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

type HandledSignal = keyof typeof SIGNAL_EXIT_CODES;

/** The abort signal a command runs under, and what stopped it. */
export interface Interrupts {
  /** Fires on the first SIGINT or SIGTERM. */
  readonly signal: AbortSignal;
  /** The exit code owed to the signal received (130 or 143), or undefined when none came. */
  exitCode(): number | undefined;
  /** Restores the default handlers. */
  dispose(): void;
}

/** Installs the SIGINT and SIGTERM handlers; `notice` is told once, on the first signal. */
export function interruptOnSignals(notice: (signal: HandledSignal) => void): Interrupts {
  const controller = new AbortController();
  let received: HandledSignal | undefined;
  const handlers = new Map<HandledSignal, () => void>();
  for (const name of Object.keys(SIGNAL_EXIT_CODES) as HandledSignal[]) {
    const handler = () => {
      // The second signal: the user will not wait for the cleanup.
      if (received) process.exit(SIGNAL_EXIT_CODES[name]);
      received = name;
      notice(name);
      controller.abort(new AbortedError(`Interrupted by ${name}.`));
    };
    handlers.set(name, handler);
    process.on(name, handler);
  }
  return {
    signal: controller.signal,
    exitCode: () => (received ? SIGNAL_EXIT_CODES[received] : undefined),
    dispose: () => handlers.forEach((handler, name) => process.off(name, handler)),
  };
}

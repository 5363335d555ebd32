/**
 * A backend whose conditional writes are emulated the way S3 servers without
 * them (Swift answers 501) force us to: check with a HEAD, then write. The
 * pause between the check and the write stands for a loaded machine or a slow
 * network, where a racing writer's check lands in between; tests choose it.
 */
import type { Backend, PutOptions } from "../../src/backends/backend.ts";
import { checkPrecondition } from "../../src/backends/s3/s3-conditional.ts";

/** Options of {@link emulatedConditionalBackend}. */
export interface EmulatedOptions {
  /** Milliseconds between the check and the write of each conditional put. */
  checkToWriteMs: () => number;
}

/** Wraps `inner` so that `ifNoneMatch`/`ifMatch` are a check followed by a plain write, with `capabilities.conditionalWrites` false. */
export function emulatedConditionalBackend(inner: Backend, options: EmulatedOptions): Backend {
  return {
    name: inner.name,
    capabilities: { conditionalWrites: false },
    get: (key, opts) => inner.get(key, opts),
    head: (key, opts) => inner.head(key, opts),
    delete: (key, opts) => inner.delete(key, opts),
    list: (prefix, opts) => inner.list(prefix, opts),
    listPrefixes: (prefix, opts) => inner.listPrefixes(prefix, opts),
    async put(key, body, opts: PutOptions = {}) {
      const { ifNoneMatch, ifMatch, ...plain } = opts;
      if (ifNoneMatch !== undefined || ifMatch !== undefined) {
        checkPrecondition(key, await inner.head(key, { signal: opts.signal }), opts);
        await new Promise((resolve) => setTimeout(resolve, options.checkToWriteMs()));
      }
      return inner.put(key, body, plain);
    },
  };
}

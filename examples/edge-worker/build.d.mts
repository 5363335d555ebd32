/** The edge worker's entry point (examples/edge-worker/worker.ts). */
export declare const WORKER_ENTRY: string;
/** Bundles `entry` into one ES module (esbuild, platform neutral); `externalImports` lists what it could not bundle, which must be nothing. */
export declare function bundleWorker(entry?: string, options?: { minify?: boolean }): Promise<{ code: string; externalImports: string[] }>;
/** The smallest read-only worker (examples/edge-worker/read-only-worker.ts). */
export declare const READ_ONLY_ENTRY: string;

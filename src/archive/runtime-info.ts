/**
 * Which runtime produced a model. The only file in the core allowed to sniff
 * the runtime (`Deno`, `Bun`, `process`, `navigator`), and it only reports.
 * The TypeScript counterpart of the Python modelstore's `python-info.json`.
 */
import { DEPENDENCY_VERSIONS, LIBRARY_VERSION } from "../util/version.ts";

/** The runtime that is executing this code. */
export interface RuntimeInfo {
  /** `"node"`, `"deno"`, `"bun"`, `"workerd"` or `"unknown"`. */
  name: string;
  /** The runtime's own version, e.g. `"20.20.2"`. */
  version: string;
  /** `<os>-<arch>` where the runtime tells, e.g. `"linux-x64"`. */
  platform: string;
  /** The runtime label used in metadata, e.g. `"node:20.20.2"`. */
  label: string;
  /**
   * The user, from LOGNAME, USER, LNAME or USERNAME (the first set), as
   * Python's `getpass.getuser()` reads them; the OS account is looked up by the
   * Node-only `currentUser()` of `modelstore-js/fs`, not here.
   */
  user?: string;
}

/** The document stored as `runtime-info.json` in every archive. */
export interface RuntimeInfoDocument {
  runtime: { name: string; version: string; platform: string };
  modelstore: string;
  dependencies: Record<string, string>;
}

// Runtime globals are read through an untyped view of globalThis so the core
// compiles without Node, Deno or Bun type definitions.
type Loose = Record<string, any>;
const global = globalThis as unknown as Loose;

function safe<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined; // permission prompts (Deno) or sandboxed envs: report less, never fail
  }
}

/** Where Python's `getpass.getuser()` looks for the user name, in its order. */
const USER_VARIABLES = ["LOGNAME", "USER", "LNAME", "USERNAME"] as const;

/** The first of {@link USER_VARIABLES} that `read` finds set and not empty. */
function userFromEnv(read: (name: string) => string | undefined): string | undefined {
  for (const name of USER_VARIABLES) {
    const value = safe(() => read(name));
    if (value) return value;
  }
  return undefined;
}

// Deno names OS and CPU the Rust way (`x86_64`, `aarch64`, `windows`); report
// Node's names so one platform reads the same whichever runtime wrote the model.
const NODE_OS_NAMES: Record<string, string> = { windows: "win32" };
const NODE_ARCH_NAMES: Record<string, string> = { x86_64: "x64", aarch64: "arm64" };

/** Detects the current runtime. */
export function detectRuntime(): RuntimeInfo {
  let name = "unknown";
  let version = "";
  let platform = "";
  let user: string | undefined;
  if (global.Deno?.version?.deno) {
    name = "deno";
    version = global.Deno.version.deno;
    platform = `${NODE_OS_NAMES[global.Deno.build?.os] ?? global.Deno.build?.os ?? ""}-${NODE_ARCH_NAMES[global.Deno.build?.arch] ?? global.Deno.build?.arch ?? ""}`;
    user = userFromEnv((name) => global.Deno.env.get(name));
  } else if (global.Bun?.version) {
    name = "bun";
    version = global.Bun.version;
    platform = `${global.process?.platform ?? ""}-${global.process?.arch ?? ""}`;
    user = userFromEnv((name) => global.process?.env?.[name]);
  } else if (global.navigator?.userAgent === "Cloudflare-Workers") {
    // workerd exposes no version of its own (its `process.versions.node` under
    // nodejs_compat is the Node API level it emulates), so the label is plain "workerd".
    name = "workerd";
    platform = "workerd";
  } else if (global.process?.versions?.node) {
    name = "node";
    version = global.process.versions.node;
    platform = `${global.process.platform}-${global.process.arch}`;
    user = userFromEnv((name) => global.process.env?.[name]);
  }
  return { name, version, platform, label: version ? `${name}:${version}` : name, user };
}

/** Builds the `runtime-info.json` document, adding the caller's dependency versions. */
export function runtimeInfoDocument(extraDependencies: Record<string, string> = {}): RuntimeInfoDocument {
  const runtime = detectRuntime();
  return {
    runtime: { name: runtime.name, version: runtime.version, platform: runtime.platform },
    modelstore: LIBRARY_VERSION,
    dependencies: { ...DEPENDENCY_VERSIONS, ...extraDependencies },
  };
}

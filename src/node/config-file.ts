/**
 * The JSON config file that points a CLI or a service at a store, e.g.
 * PostgreSQL metadata + S3 artifacts:
 *
 * ```json
 * { "metadata": { "type": "postgres", "url": "${DATABASE_URL}" },
 *   "artifacts": { "type": "s3", "bucket": "models", "endpoint": "https://s3.example.com" },
 *   "rootPrefix": "operatorai-model-store" }
 * ```
 * `${NAME}` in any string is replaced by that environment variable, so secrets
 * stay out of the file.
 */
import { readFile } from "node:fs/promises";
import type { EnvVars } from "../backends/s3/s3-env.ts";
import { InvalidArgumentError } from "../util/errors.ts";
import type { ModelStore } from "../store/model-store.ts";
import { custom, defaultEnv, type ArtifactsSpec, type MetadataSpec } from "./store-factories.ts";

/** The shape of a config file. */
export interface StoreConfig {
  /** @default "bucket" */
  metadata?: MetadataSpec;
  /** @default "local" */
  artifacts?: ArtifactsSpec;
  /** @default "operatorai-model-store" */
  rootPrefix?: string;
}

/** Replaces `${NAME}` in every string of `value`; an unset variable is an error, not an empty string. */
function expand(value: unknown, env: EnvVars, path: string): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const found = env[name];
      if (found === undefined) throw new InvalidArgumentError(`The config file ${path} uses \${${name}}, which is not set. Set it, or write the value into the file.`);
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((item) => expand(item, env, path));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v, env, path)]));
  return value;
}

/** Parses and checks a config document. @throws InvalidArgumentError naming the file and the problem */
export function parseStoreConfig(text: string, path: string, env: EnvVars = defaultEnv()): StoreConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new InvalidArgumentError(`The config file ${path} is not valid JSON. Fix it; see the README's "Projects, tasks and metadata repositories".`, { cause });
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new InvalidArgumentError(`The config file ${path} must hold a JSON object with "metadata" and "artifacts".`);
  const unknown = Object.keys(doc).filter((key) => !["metadata", "artifacts", "rootPrefix", "$schema", "//"].includes(key));
  if (unknown.length) throw new InvalidArgumentError(`The config file ${path} has unknown field(s) ${unknown.join(", ")}. Use "metadata", "artifacts" and "rootPrefix".`);
  return expand(doc, env, path) as StoreConfig;
}

/** Builds the store a config file describes. */
export async function storeFromConfigFile(path: string, env: EnvVars = defaultEnv()): Promise<ModelStore> {
  const text = await readFile(path, "utf8").catch((cause) => {
    throw new InvalidArgumentError(`Cannot read the config file ${path}: ${cause.code ?? cause.message}. Check the path (--config or MODEL_STORE_CONFIG).`, { cause });
  });
  const config = parseStoreConfig(text, path, env);
  return custom({ ...config, env });
}

/**
 * Validation of the names that become object keys and file paths: domains
 * (tasks), projects, model ids and the root prefix. Checked before any key is built, so a hostile
 * or mistyped name can never address another domain or escape a directory.
 */
import { InvalidArgumentError } from "./errors.js";

/**
 * Names reserved by the bucket layout: a domain, project or id with these would
 * collide with it. `.projects` holds the project documents (see layout.ts).
 */
export const RESERVED_NAMES: readonly string[] = ["versions", "latest.json", "artifacts.tar.gz", ".projects"];

const MAX_NAME_LENGTH = 255; // one path segment on every common file system
// C0 controls, DEL and C1 controls: invisible in listings and unsafe in terminals.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

function problemWith(name: string): string | undefined {
  if (name.length === 0) return "it is empty";
  if (name.length > MAX_NAME_LENGTH) return `it is ${name.length} characters long (at most ${MAX_NAME_LENGTH})`;
  if (name.includes("/") || name.includes("\\")) return "it contains a slash";
  if (name === "." || name.includes("..")) return 'it contains ".."';
  if (CONTROL_CHARACTERS.test(name)) return "it contains a control character";
  if (name.trim() !== name) return "it starts or ends with white space";
  if (RESERVED_NAMES.includes(name)) return `"${name}" is reserved by the bucket layout`;
  return undefined;
}

/** Throws {@link InvalidArgumentError} unless `domain` can safely become one key segment. */
export function validateDomain(domain: unknown): string {
  if (typeof domain !== "string") {
    throw new InvalidArgumentError(`A domain must be a string, got ${typeof domain}. Pass a name such as "customer-refunds".`);
  }
  const problem = problemWith(domain);
  if (problem) {
    throw new InvalidArgumentError(
      `Invalid domain ${JSON.stringify(domain)}: ${problem}. Use a single name such as "customer-refunds" (letters, digits, "-", "_", ".").`,
    );
  }
  return domain;
}

/** Throws {@link InvalidArgumentError} unless `project` can safely become one key segment. */
export function validateProject(project: unknown): string {
  if (typeof project !== "string") {
    throw new InvalidArgumentError(`A project must be a string, got ${typeof project}. Pass a name such as "payments", or omit it for the default project.`);
  }
  const problem = problemWith(project);
  if (problem) {
    throw new InvalidArgumentError(
      `Invalid project ${JSON.stringify(project)}: ${problem}. Use a single name such as "payments" (letters, digits, "-", "_", ".").`,
    );
  }
  return project;
}

/** Throws {@link InvalidArgumentError} unless `id` can safely become a file name (`versions/<id>.json`). */
export function validateModelId(id: unknown): string {
  if (typeof id !== "string") {
    throw new InvalidArgumentError(`A model id must be a string, got ${typeof id}. Omit it to get a UUID4.`);
  }
  const problem = problemWith(id);
  if (problem) {
    throw new InvalidArgumentError(
      `Invalid model id ${JSON.stringify(id)}: ${problem}. Omit the id to get a UUID4, or use a single name such as "v1.2.0".`,
    );
  }
  return id;
}

/** Normalises and validates a root prefix: `/`-separated segments, each a valid name; no leading or trailing `/`. */
export function validateRootPrefix(prefix: unknown): string {
  if (typeof prefix !== "string") {
    throw new InvalidArgumentError(`rootPrefix must be a string, got ${typeof prefix}.`);
  }
  const trimmed = prefix.replace(/^\/+|\/+$/g, "");
  const segments = trimmed.split("/");
  for (const segment of segments) {
    const problem = problemWith(segment);
    if (problem && !problem.startsWith('"')) {
      throw new InvalidArgumentError(
        `Invalid rootPrefix ${JSON.stringify(prefix)}: segment ${JSON.stringify(segment)} is unusable because ${problem}. Use something like "operatorai-model-store" or "team/models".`,
      );
    }
  }
  return trimmed;
}

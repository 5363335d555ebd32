/**
 * Validation of the names that become object keys and file paths: domains
 * (tasks), projects, model ids and the root prefix. Checked before any key is built, so a hostile
 * or mistyped name can never address another domain or escape a directory.
 */
import { InvalidArgumentError } from "../util/errors.ts";
import { hasLoneSurrogate } from "../util/text.ts";

/**
 * Names reserved by the bucket layout: a domain, project or id with these would
 * collide with it. `.projects` holds the project documents (see layout.ts);
 * `model_states` the model states (Python's too) and `.state-history` their history (see bucket-states.ts);
 * `domains` the Python modelstore's latest pointers (`domains/<domain>.json`).
 */
export const RESERVED_NAMES: readonly string[] = ["versions", "latest.json", "artifacts.tar.gz", ".projects", "model_states", ".state-history", "domains"];

// A path segment may be 255 bytes on every common file system; names become
// segments with suffixes (".json", the file-system backend's ".<name>.<hex>.tmp").
const MAX_NAME_BYTES = 200;
// C0 controls, DEL and C1 controls: invisible in listings and unsafe in terminals.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
// Format characters (bidi overrides, zero-width spaces) and line/paragraph separators:
// they make two names that look the same, or one that reads backwards.
const INVISIBLE_CHARACTERS = /[\p{Cf}\p{Zl}\p{Zp}]/u;
// The file-system backend's own lock and temp files, which it hides from listings.
const INTERNAL_FILE = /^\..+\.(lock|[0-9a-f]{16}\.tmp)$/;
const utf8Bytes = (name: string) => new TextEncoder().encode(name).length;

function problemWith(name: string): string | undefined {
  if (name.length === 0) return "it is empty";
  if (hasLoneSurrogate(name)) return "it is not well-formed Unicode (a lone surrogate)";
  const bytes = utf8Bytes(name);
  if (bytes > MAX_NAME_BYTES) return `it is ${bytes} bytes long in UTF-8 (at most ${MAX_NAME_BYTES})`;
  if (name.normalize("NFC") !== name) return 'it is not in Unicode NFC form (pass name.normalize("NFC"), so that one name has one spelling)';
  const invisible = INVISIBLE_CHARACTERS.exec(name);
  if (invisible) return `it contains the invisible character U+${invisible[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
  if (INTERNAL_FILE.test(name)) return 'names shaped like ".<name>.lock" are reserved for the file-system backend\'s own files';
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
  const problem = problemWith(project) ?? (project.endsWith(".json") ? 'it ends in ".json", like the documents that describe projects' : undefined);
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

/**
 * The CLI's commands and options in one table: `parseArgs` takes its options
 * from it, each command accepts only the options it lists, and the usage text
 * and `modelstore <command> --help` are printed from it.
 */
import { parseArgs } from "node:util";
import { InvalidArgumentError } from "../util/errors.ts";
import { LIBRARY_VERSION } from "../util/version.ts";
import { METADATA_NAMES, STORAGE_NAMES } from "./config.ts";

/** One option as `parseArgs` takes it, with its value's name (none for a switch) and what it does. */
interface OptionSpec {
  type: "string" | "boolean";
  value?: string;
  multiple?: true;
  short?: string;
  help: string;
}

/** Every option of every command. */
export const OPTIONS = {
  extra: { type: "string", value: "FILE", multiple: true, help: "also store FILE (a folder: its files) under extras/; repeatable" },
  meta: { type: "string", value: "JSON", help: "your own metadata, a JSON object, stored as \"extra\"" },
  id: { type: "string", value: "ID", help: "the model's id (default: a new UUID4)" },
  project: { type: "string", value: "P", help: "the project of the task (upload), or the project to list" },
  dependency: { type: "string", value: "NAME", multiple: true, help: "also record the installed version of package NAME (frameworks such as onnxruntime-node are found by themselves); repeatable" },
  dereference: { type: "boolean", help: "store the contents of symlinks that point outside the folder (a Hugging Face cache snapshot links into ../../blobs)" },
  to: { type: "string", value: "DIR", help: "the directory to download into (default ./<domain>/<id>)" },
  overwrite: { type: "boolean", help: "replace what a non-empty DIR holds (swapped in whole once the download checked out)" },
  cascade: { type: "boolean", help: "also delete what the task or project holds" },
  state: { type: "string", value: "S", help: "only the models in model state S (models), or the newest of them (info, files, download)" },
  limit: { type: "string", value: "N", help: "at most N models, newest first (default 100)" },
  cursor: { type: "string", value: "C", help: "continue a listing after the page that printed this cursor" },
  all: { type: "boolean", help: "every model, fetched a page at a time" },
  jsonl: { type: "boolean", help: "one JSON document per line, printed as each page arrives" },
  "older-than": { type: "string", value: "AGE", help: "only leftovers older than AGE, e.g. 30m, 6h, 2d (default 24h: running uploads are younger)" },
  "dry-run": { type: "boolean", help: "list what would be removed, remove nothing" },
  output: { type: "string", value: "FILE", short: "o", help: "the archive to write (default artifacts.tar.gz)" },
  json: { type: "boolean", help: "machine-readable output; errors as {\"error\": {code, message}} on stderr" },
  config: { type: "string", value: "FILE", help: "a JSON config naming metadata and artifacts, e.g. PostgreSQL + S3 (env MODEL_STORE_CONFIG)" },
  storage: { type: "string", value: "NAME", help: `where archives live: ${STORAGE_NAMES.join(" or ")} (env MODEL_STORE_STORAGE, default filesystem)` },
  metadata: { type: "string", value: "NAME", help: `where metadata lives: ${METADATA_NAMES.join(", ")} (env MODEL_STORE_METADATA, default bucket)` },
  root: { type: "string", value: "DIR", help: "the filesystem store's directory (env MODEL_STORE_ROOT, else MODEL_STORE_ROOT_PREFIX, default ./.modelstore)" },
  prefix: { type: "string", value: "P", help: "key prefix replacing operatorai-model-store" },
  bucket: { type: "string", value: "NAME", help: "the S3 bucket (env MODEL_STORE_AWS_BUCKET); implies --storage aws-s3" },
  endpoint: { type: "string", value: "URL", help: "an S3-compatible server (env AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL); implies --storage aws-s3" },
  region: { type: "string", value: "NAME", help: "the S3 region (env AWS_REGION, AWS_DEFAULT_REGION, default us-east-1); implies --storage aws-s3" },
  help: { type: "boolean", short: "h", help: "this text" },
  version: { type: "boolean", short: "v", help: "the version" },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** Options that choose the store, accepted by every command that opens one. */
export const STORE_OPTIONS: OptionName[] = ["config", "storage", "metadata", "root", "prefix", "bucket", "endpoint", "region"];

/** Options every command accepts. */
const COMMON_OPTIONS: OptionName[] = ["json", "help", "version"];

/** One command: its arguments, how many are required, a one-line summary and the options it takes. */
export interface CommandSpec {
  args: string;
  required: number;
  summary: string;
  /** More than the summary says, for `modelstore <command> --help`. */
  details?: string;
  options: OptionName[];
  /** False for commands that work without a store (archive). */
  store: boolean;
}

/** The commands, in the order the usage lists them. */
export const COMMANDS: Record<string, CommandSpec> = {
  upload: {
    args: "<domain> <paths...>",
    required: 2,
    summary: "archive files and folders and store them as a new model",
    details:
      "A folder contributes its files, with paths relative to it; a file goes in under its own name. " +
      "Records this library's version and the exact installed versions of ML frameworks found from the working directory " +
      "(@huggingface/transformers, @tensorflow/tfjs, onnxruntime-node...). " +
      "Interrupting (Ctrl-C) removes what was written; a second Ctrl-C exits at once.",
    options: ["extra", "meta", "id", "project", "dependency", "dereference"],
    store: true,
  },
  domains: { args: "", required: 0, summary: "list the domains (tasks) that hold models", options: ["project"], store: true },
  models: {
    args: "<domain>",
    required: 1,
    summary: "list a domain's models, newest first, 100 at a time",
    details: "A listing that stops before the oldest model ends with the command that prints the next page (on stderr). --all prints every model; --jsonl streams them.",
    options: ["project", "state", "limit", "cursor", "all", "jsonl"],
    store: true,
  },
  info: { args: "<domain> [id]", required: 1, summary: "print a model's metadata (the latest when id is omitted)", options: ["state"], store: true },
  files: { args: "<domain> [id]", required: 1, summary: "list a model's files and their sizes (the latest when id is omitted)", options: ["state"], store: true },
  download: {
    args: "<domain> [id]",
    required: 1,
    summary: "verify and extract a model into a directory",
    details: "Refuses a non-empty directory unless --overwrite is given. Nothing is written into DIR unless the whole archive checked out.",
    options: ["to", "overwrite", "state"],
    store: true,
  },
  cat: { args: "<domain> <id|latest> <path>", required: 3, summary: "write one file of a model to stdout", options: [], store: true },
  delete: { args: "<domain> <id>", required: 2, summary: "delete a model (metadata, then archive)", options: [], store: true },
  gc: {
    args: "",
    required: 0,
    summary: "remove what interrupted uploads left behind",
    details:
      "Temp files and dead locks (filesystem), incomplete multipart uploads (aws-s3), and archives or slot placeholders no model points at, " +
      "once older than --older-than. Models and whatever they point at are never touched; a domain with an unreadable document is skipped and named.",
    options: ["older-than", "dry-run"],
    store: true,
  },
  states: { args: "", required: 0, summary: "list the model states (shared with the Python modelstore)", options: [], store: true },
  state: {
    args: "<create|delete> <name>",
    required: 2,
    summary: "create or delete a model state",
    details:
      'Names have at least 3 characters, as the Python modelstore requires; "modelstore-deleted" is reserved. ' +
      "Deleting a state that still holds models is refused unless --cascade, which first takes every model out of it.",
    options: ["cascade"],
    store: true,
  },
  "set-state": { args: "<domain> <id> <state>", required: 3, summary: "put a model in a model state (recorded in the state history)", options: [], store: true },
  "unset-state": { args: "<domain> <id> <state>", required: 3, summary: "take a model out of a model state (recorded in the state history)", options: [], store: true },
  "state-history": { args: "<domain>", required: 1, summary: "list every state change of a domain's models, oldest first", options: [], store: true },
  projects: { args: "", required: 0, summary: "list the projects", options: [], store: true },
  tasks: { args: "[project]", required: 0, summary: "list the tasks, with their projects when no project is given", options: ["project"], store: true },
  "delete-task": { args: "<task>", required: 1, summary: "delete a task (refused when it holds models, unless --cascade)", options: ["cascade"], store: true },
  "delete-project": { args: "<project>", required: 1, summary: "delete a project (refused when it holds tasks, unless --cascade)", options: ["cascade"], store: true },
  archive: { args: "<paths...>", required: 1, summary: "write a model archive without storing it", options: ["output", "dereference"], store: false },
  help: { args: "[command]", required: 0, summary: "this text, or a command's", options: [], store: false },
};

/** The options `command` accepts. */
export function optionsOf(command: string): Set<string> {
  const spec = COMMANDS[command];
  return new Set([...(spec?.options ?? []), ...(spec?.store ? STORE_OPTIONS : []), ...COMMON_OPTIONS]);
}

function optionLines(names: OptionName[]): string {
  const labels = names.map((name) => {
    const spec: OptionSpec = OPTIONS[name];
    return `${spec.short ? `-${spec.short}, ` : ""}--${name}${spec.value ? ` ${spec.value}` : ""}`;
  });
  const width = Math.max(...labels.map((label) => label.length)) + 2;
  return names.map((name, i) => `  ${labels[i].padEnd(width)}${OPTIONS[name].help}`).join("\n");
}

/** Where each storage finds its settings, as the Python library reads them. */
const STORAGE_HELP = `Storage (--storage or MODEL_STORE_STORAGE):
  filesystem  MODEL_STORE_ROOT (default ./.modelstore); MODEL_STORE_ROOT_PREFIX as the Python library reads it
  aws-s3      MODEL_STORE_AWS_BUCKET, AWS_REGION / AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL,
              MODEL_STORE_AWS_ROOT_PREFIX (or MODEL_STORE_ROOT_PREFIX, in front of operatorai-model-store);
              credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, else as the AWS CLI
              finds them (AWS_PROFILE, ~/.aws/credentials and config, SSO, web identity, container and instance
              roles) when the package @aws-sdk/credential-providers is installed
  azure-container  MODEL_STORE_AZURE_CONTAINER, MODEL_STORE_AZURE_ROOT_PREFIX; credentials from
              AZURE_STORAGE_CONNECTION_STRING (UseDevelopmentStorage=true for Azurite), else AZURE_STORAGE_ACCOUNT
              with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN
  google-cloud-storage  MODEL_STORE_GCP_BUCKET, MODEL_STORE_GCP_PROJECT, MODEL_STORE_GCP_ROOT_PREFIX; an HMAC key
              from MODEL_STORE_GCP_HMAC_KEY_ID and MODEL_STORE_GCP_HMAC_SECRET (the XML API, signed with SigV4)
  http        MODEL_STORE_HTTP_URL: a public bucket, CDN or static host, read-only, no credentials
  (Cloudflare R2: aws-s3 with AWS_ENDPOINT_URL_S3=https://<account>.r2.cloudflarestorage.com, AWS_REGION=auto;
              its Worker binding, modelstore-js/r2, exists only inside a Worker)
Metadata (--metadata or MODEL_STORE_METADATA): bucket (in the storage), local (metadata.json in the root),
  postgres (MODEL_STORE_POSTGRES_URL, else DATABASE_URL, else the PG* variables)`;

const EXIT_CODES_HELP = "Exit codes: 0 ok, 1 failure, 2 bad usage or input, 3 not found, 4 already exists or conflict,\n  5 integrity or archive error, 130 interrupted (SIGINT), 143 terminated (SIGTERM).";

/** The overview printed by `modelstore --help` (and, with exit code 2, by a bare `modelstore`). */
export function usage(): string {
  const width = Math.max(...Object.entries(COMMANDS).map(([name, spec]) => `${name} ${spec.args}`.length)) + 2;
  const commands = Object.entries(COMMANDS)
    .map(([name, spec]) => `  ${`${name} ${spec.args}`.padEnd(width)}${spec.summary}`)
    .join("\n");
  return `modelstore ${LIBRARY_VERSION}: store and fetch trained models

Usage: modelstore <command> [arguments] [options]

Commands:
${commands}

Run "modelstore <command> --help" for a command's options.

Examples:
  modelstore upload refunds ./model --meta '{"accuracy": 0.93}'
  modelstore files refunds
  modelstore download refunds --to ./model-latest --overwrite
  modelstore state create production && modelstore set-state refunds <id> production
  modelstore download refunds --state production --to ./model-prod
  MODEL_STORE_STORAGE=aws-s3 AWS_PROFILE=ml modelstore models refunds --bucket models

Options (the store options: every command but archive):
${optionLines([...STORE_OPTIONS, ...COMMON_OPTIONS])}

${STORAGE_HELP}

${EXIT_CODES_HELP}`;
}

/** The help of one command. */
export function commandHelp(command: string): string {
  const spec = COMMANDS[command];
  const store = spec.store ? `\n\nStore options:\n${optionLines(STORE_OPTIONS)}\n\n${STORAGE_HELP}` : "";
  return `Usage: modelstore ${command}${spec.args ? ` ${spec.args}` : ""} [options]

${spec.summary[0].toUpperCase()}${spec.summary.slice(1)}.${spec.details ? ` ${spec.details}` : ""}

Options:
${optionLines([...spec.options, ...COMMON_OPTIONS])}${store}

${EXIT_CODES_HELP}`;
}

/** The parsed options, by name; `undefined` where not given. */
export type Flags = ReturnType<typeof parse>["values"];

export function parse(argv: string[]) {
  return parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
}

/** Refuses options the command does not take, rather than ignoring them. */
export function checkOptions(command: string, flags: Flags): void {
  const accepted = optionsOf(command);
  const stray = Object.keys(flags).filter((name) => flags[name as keyof Flags] !== undefined && !accepted.has(name));
  if (stray.length) {
    throw new InvalidArgumentError(`modelstore ${command} does not take --${stray[0]}. See modelstore ${command} --help.`);
  }
}

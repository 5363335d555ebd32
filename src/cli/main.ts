#!/usr/bin/env node
/**
 * The `modelstore` command: upload, list, inspect, download and delete models,
 * and list projects and tasks, from the shell. Storage is chosen like the
 * Python modelstore's, by `MODEL_STORE_STORAGE` (default `filesystem`) and
 * `MODEL_STORE_ROOT` (default `./.modelstore`), metadata by
 * `MODEL_STORE_METADATA`, or everything by a config file (`--config`,
 * `MODEL_STORE_CONFIG`); flags override the environment.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { parseArgs } from "node:util";
import { createArchive, LIBRARY_VERSION, ModelStoreError, readArchive, type ModelMetadata, type ModelStore, type JsonValue } from "../index.js";
import { InvalidArgumentError } from "../errors.js";
import { downloadModel } from "../fs.js";
import { storeFromSettings } from "./config.js";
import { entriesFromPaths } from "./inputs.js";
import { ProgressLine } from "./progress.js";

const USAGE = `modelstore ${LIBRARY_VERSION}: store and fetch trained models

Usage:
  modelstore upload <domain> <paths...> [--extra FILE]... [--meta JSON] [--id ID] [--project P]
  modelstore domains [--project P]
  modelstore models <domain> [--project P]
  modelstore projects
  modelstore tasks [project]                 (every task with its project when omitted)
  modelstore delete-task <task> [--cascade]
  modelstore delete-project <project> [--cascade]
  modelstore info <domain> [id]              (latest when id is omitted)
  modelstore download <domain> [id] [--to DIR]      (DIR defaults to ./<domain>/<id>)
  modelstore cat <domain> <id|latest> <path>
  modelstore delete <domain> <id>
  modelstore archive <paths...> [-o artifacts.tar.gz]

Options:
  --config FILE    JSON config: metadata + artifacts, e.g. PostgreSQL + S3 (env MODEL_STORE_CONFIG)
  --storage NAME   backend (env MODEL_STORE_STORAGE, default "filesystem")
  --metadata NAME  bucket, local or postgres (env MODEL_STORE_METADATA, default "bucket";
                   postgres reads MODEL_STORE_POSTGRES_URL or DATABASE_URL)
  --project P      the project of an uploaded task, or the project to list
  --cascade        also delete what a task or project holds
  --root DIR       file-system root (env MODEL_STORE_ROOT, else MODEL_STORE_ROOT_PREFIX as the
                   Python library reads it, default ./.modelstore)
  --prefix P       key prefix replacing operatorai-model-store (default operatorai-model-store)
  --json           machine-readable output
  -h, --help       this text
  -v, --version    the version

Exit codes: 0 ok, 1 failure, 2 bad usage or input, 3 not found, 4 already exists or conflict, 5 integrity or archive error.`;

const EXIT_CODES: Record<string, number> = {
  INVALID_ARGUMENT: 2,
  NOT_FOUND: 3,
  ALREADY_EXISTS: 4,
  CONFLICT: 4,
  INTEGRITY: 5,
  INVALID_ARCHIVE: 5,
};

type Flags = ReturnType<typeof parse>["values"];

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string" },
      storage: { type: "string" },
      metadata: { type: "string" },
      project: { type: "string" },
      cascade: { type: "boolean", default: false },
      root: { type: "string" },
      prefix: { type: "string" },
      json: { type: "boolean", default: false },
      extra: { type: "string", multiple: true },
      meta: { type: "string" },
      id: { type: "string" },
      to: { type: "string" },
      output: { type: "string", short: "o" },
      help: { type: "boolean", short: "h", default: false },
      version: { type: "boolean", short: "v", default: false },
    },
  });
}

function need(args: string[], count: number, usage: string): void {
  if (args.length < count) throw new InvalidArgumentError(`Missing arguments. Usage: modelstore ${usage}`);
}

function print(flags: Flags, value: unknown, human: () => string): void {
  process.stdout.write((flags.json ? JSON.stringify(value, null, 2) : human()) + "\n");
}

function parseMeta(text: string | undefined): JsonValue | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as JsonValue;
  } catch (cause) {
    throw new InvalidArgumentError(`--meta must be JSON, e.g. --meta '{"accuracy": 0.93}'.`, { cause });
  }
}

const summary = (m: ModelMetadata) => `${m.model.model_id}  ${m.code.created}  ${m.archive ? `${m.archive.size} bytes` : "size unknown"}  ${m.storage.prefix ?? m.storage.path ?? ""}`;

async function run(argv: string[]): Promise<void> {
  const { values: flags, positionals } = parse(argv);
  const [command, ...args] = positionals;
  if (flags.version) return void process.stdout.write(`${LIBRARY_VERSION}\n`);
  if (flags.help || !command) return void process.stdout.write(`${USAGE}\n`);
  if (command === "archive") {
    need(args, 1, "archive <paths...> [-o artifacts.tar.gz]");
    const output = flags.output ?? "artifacts.tar.gz";
    const archive = createArchive({ files: entriesFromPaths(args) });
    await archive.pipeTo(Writable.toWeb(createWriteStream(output)) as WritableStream<Uint8Array>);
    const entries: string[] = [];
    const written = Readable.toWeb(createReadStream(output)) as unknown as ReadableStream<Uint8Array>;
    for await (const entry of readArchive(written)) entries.push(entry.path);
    return print(flags, { output, entries }, () => `${output}\n${entries.map((e) => `  ${e}`).join("\n")}`);
  }
  const store = await storeFromSettings(
    { config: flags.config, storage: flags.storage, metadata: flags.metadata, root: flags.root, rootPrefix: flags.prefix },
    process.env,
  );
  try {
    await runStoreCommand(store, command, args, flags);
  } finally {
    // A PostgreSQL pool would keep the process alive.
    await store.close();
  }
}

/** Checks that `domain` belongs to `--project` when one is given. */
async function checkProject(store: ModelStore, domain: string, project: string | undefined): Promise<void> {
  if (project === undefined) return;
  const task = await store.getTask(domain);
  if (task.project !== project) {
    throw new InvalidArgumentError(`Domain "${domain}" belongs to project "${task.project}", not "${project}". Drop --project or pass --project ${task.project}.`);
  }
}

async function runStoreCommand(store: ModelStore, command: string, args: string[], flags: Flags): Promise<void> {
  switch (command) {
    case "upload": {
      need(args, 2, "upload <domain> <paths...>");
      const [domain, ...paths] = args;
      const progress = new ProgressLine("uploading", !flags.json && Boolean(process.stderr.isTTY));
      const metadata = await store.upload(domain, {
        files: entriesFromPaths(paths),
        extras: flags.extra ? entriesFromPaths(flags.extra) : undefined,
        extraMetadata: parseMeta(flags.meta),
        modelId: flags.id,
        project: flags.project,
        onProgress: ({ bytes }) => progress.update(bytes),
      });
      progress.done();
      return print(flags, metadata, () => JSON.stringify(metadata, null, 2));
    }
    case "domains": {
      const domains = flags.project === undefined ? await store.listDomains() : (await store.listTasks({ project: flags.project })).map((t) => t.name);
      return print(flags, domains, () => domains.join("\n"));
    }
    case "projects": {
      const projects = await store.listProjects();
      return print(flags, projects, () => projects.map((p) => p.name).join("\n"));
    }
    case "tasks": {
      const project = args[0] ?? flags.project;
      const tasks = await store.listTasks({ project });
      return print(flags, tasks, () => tasks.map((t) => (project === undefined ? `${t.name}  ${t.project}` : t.name)).join("\n"));
    }
    case "delete-task": {
      need(args, 1, "delete-task <task> [--cascade]");
      await store.deleteTask(args[0], { cascade: flags.cascade });
      return print(flags, { deleted: args[0] }, () => `deleted task ${args[0]}`);
    }
    case "delete-project": {
      need(args, 1, "delete-project <project> [--cascade]");
      await store.deleteProject(args[0], { cascade: flags.cascade });
      return print(flags, { deleted: args[0] }, () => `deleted project ${args[0]}`);
    }
    case "models": {
      need(args, 1, "models <domain>");
      await checkProject(store, args[0], flags.project);
      const models = await store.listModels(args[0]);
      return print(flags, models, () => models.map(summary).join("\n"));
    }
    case "info": {
      need(args, 1, "info <domain> [id]");
      const metadata = args[1] && args[1] !== "latest" ? await store.getModelInfo(args[0], args[1]) : await store.getLatest(args[0]);
      return print(flags, metadata, () => JSON.stringify(metadata, null, 2));
    }
    case "download": {
      need(args, 1, "download <domain> [id] [--to DIR]");
      // Without --to, a directory of the model's own: extracting into the working
      // directory would replace any of its folders that share a name with the model's.
      const id = args[1] && args[1] !== "latest" ? args[1] : (await store.getLatest(args[0])).model.model_id;
      const progress = new ProgressLine("downloading", !flags.json && Boolean(process.stderr.isTTY));
      const result = await downloadModel(store, args[0], id, flags.to ?? join(args[0], id), { onProgress: ({ bytes, total }) => progress.update(bytes, total) });
      progress.done();
      const report = { model_id: result.metadata.model.model_id, dir: result.dir, files: result.files, bytes: result.bytes };
      return print(flags, report, () => `${report.model_id} -> ${report.dir} (${report.files} files, ${report.bytes} bytes)`);
    }
    case "cat": {
      need(args, 3, "cat <domain> <id|latest> <path>");
      const id = args[1] === "latest" ? undefined : args[1];
      const body = await store.readFile(args[0], id, args[2]);
      if (!body) throw new ModelStoreError("NOT_FOUND", `The model has no file "${args[2]}". List its files with: modelstore download ${args[0]} ${args[1]} --to DIR`);
      await body.pipeTo(Writable.toWeb(process.stdout) as WritableStream<Uint8Array>);
      return;
    }
    case "delete": {
      need(args, 2, "delete <domain> <id>");
      await store.deleteModel(args[0], args[1]);
      return print(flags, { deleted: args[1], domain: args[0] }, () => `deleted ${args[1]} from ${args[0]}`);
    }
    default:
      throw new InvalidArgumentError(`Unknown command "${command}". Run modelstore --help for the list.`);
  }
}

/** The library's advice in its messages, as the commands that do the same. */
const COMMAND_HINTS: [RegExp, (...groups: string[]) => string][] = [
  [/store\.listDomains\(\)/g, () => "modelstore domains"],
  [/store\.listModels\("([^"]*)"\)/g, (domain) => `modelstore models ${domain}`],
  [/store\.upload\("([^"]*)", \.\.\.\)/g, (domain) => `modelstore upload ${domain} <paths...>`],
  [/store\.deleteModel\("([^"]*)", "([^"]*)"\)/g, (domain, id) => `modelstore delete ${domain} ${id}`],
  [/store\.listProjects\(\)/g, () => "modelstore projects"],
  [/store\.listTasks\(\)/g, () => "modelstore tasks"],
  [/store\.ensureProject\("([^"]*)"\)/g, (name) => `modelstore upload <domain> <paths...> --project ${name}`],
  [/store\.ensureTask\("([^"]*)"\)/g, (name) => `modelstore upload ${name} <paths...>`],
  [/store\.deleteTask\(name, \{ cascade: true \}\)/g, () => "modelstore delete-task <task> --cascade"],
];

/** `message` with the library's API advice rewritten as CLI commands. */
function asCommandAdvice(message: string): string {
  return COMMAND_HINTS.reduce((text, [pattern, command]) => text.replace(pattern, (_, ...groups: string[]) => command(...groups)), message);
}

/** Runs the CLI and returns its exit code. */
async function main(argv: string[]): Promise<number> {
  try {
    await run(argv);
    return 0;
  } catch (error) {
    const code = error instanceof ModelStoreError ? error.code : (error as { code?: string }).code;
    const message = asCommandAdvice(error instanceof Error ? error.message : String(error));
    // With --json, errors are JSON too (on stderr, so stdout holds only results).
    if (argv.includes("--json")) process.stderr.write(JSON.stringify({ error: { code: code ?? "ERROR", message } }) + "\n");
    else process.stderr.write(`modelstore: ${message}\n`);
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" || code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") return 2;
    return (code ? EXIT_CODES[code] : undefined) ?? 1;
  }
}

process.exitCode = await main(process.argv.slice(2));

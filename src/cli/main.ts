#!/usr/bin/env node
/**
 * The `modelstore` command: upload, list, inspect, download and delete models
 * from the shell. Storage is chosen like the Python modelstore's, by
 * `MODEL_STORE_STORAGE` (default `filesystem`) and `MODEL_STORE_ROOT`
 * (default `./.modelstore`); flags override both.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { Readable, Writable } from "node:stream";
import { parseArgs } from "node:util";
import { createArchive, LIBRARY_VERSION, ModelStoreError, readArchive, type ModelMetadata, type JsonValue } from "../index.js";
import { InvalidArgumentError } from "../errors.js";
import { downloadModel } from "../fs.js";
import { storeFromSettings } from "./config.js";
import { entriesFromPaths } from "./inputs.js";
import { ProgressLine } from "./progress.js";

const USAGE = `modelstore ${LIBRARY_VERSION}: store and fetch trained models

Usage:
  modelstore upload <domain> <paths...> [--extra FILE]... [--meta JSON] [--id ID]
  modelstore domains
  modelstore models <domain>
  modelstore info <domain> [id]              (latest when id is omitted)
  modelstore download <domain> [id] [--to DIR]
  modelstore cat <domain> <id|latest> <path>
  modelstore delete <domain> <id>
  modelstore archive <paths...> [-o artifacts.tar.gz]

Options:
  --storage NAME   backend (env MODEL_STORE_STORAGE, default "filesystem")
  --root DIR       file-system root (env MODEL_STORE_ROOT, default ./.modelstore)
  --prefix P       root prefix (env MODEL_STORE_ROOT_PREFIX, default operatorai-model-store)
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
      storage: { type: "string" },
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

const summary = (m: ModelMetadata) => `${m.model.model_id}  ${m.code.created}  ${m.archive.size} bytes  ${m.storage.prefix ?? m.storage.path ?? ""}`;

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
  const store = storeFromSettings({ storage: flags.storage, root: flags.root, rootPrefix: flags.prefix }, process.env);
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
        onProgress: ({ bytes }) => progress.update(bytes),
      });
      progress.done();
      return print(flags, metadata, () => JSON.stringify(metadata, null, 2));
    }
    case "domains": {
      const domains = await store.listDomains();
      return print(flags, domains, () => domains.join("\n"));
    }
    case "models": {
      need(args, 1, "models <domain>");
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
      const id = args[1] && args[1] !== "latest" ? args[1] : undefined;
      const progress = new ProgressLine("downloading", !flags.json && Boolean(process.stderr.isTTY));
      const result = await downloadModel(store, args[0], id, flags.to ?? ".", { onProgress: ({ bytes, total }) => progress.update(bytes, total) });
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

/** Runs the CLI and returns its exit code. */
async function main(argv: string[]): Promise<number> {
  try {
    await run(argv);
    return 0;
  } catch (error) {
    const code = error instanceof ModelStoreError ? error.code : (error as { code?: string }).code;
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`modelstore: ${message}\n`);
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" || code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") return 2;
    return (code ? EXIT_CODES[code] : undefined) ?? 1;
  }
}

process.exitCode = await main(process.argv.slice(2));

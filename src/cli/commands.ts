/** What each `modelstore` command does, once main.ts has parsed and checked its arguments. */
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createArchive, ModelStoreError, readArchive, type ModelMetadata, type ModelStore, type JsonValue } from "../index.ts";
import { InvalidArgumentError, NotFoundError } from "../util/errors.ts";
import { downloadModel, gitInfo, installedVersions } from "../fs.ts";
import { storeFromSettings } from "./config.ts";
import { collectInputs } from "./inputs.ts";
import type { Flags } from "./help.ts";
import { ProgressLine } from "./progress.ts";

function print(flags: Flags, value: unknown, human: () => string): void {
  process.stdout.write((flags.json ? JSON.stringify(value, null, 2) : human()) + "\n");
}

/** `--meta`: a JSON object, stored as the model's `extra` (the Python library's `extra_metadata` is a dict too). */
export function parseMeta(text: string | undefined): { [key: string]: JsonValue } | undefined {
  if (text === undefined) return undefined;
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (cause) {
    throw new InvalidArgumentError(`--meta must be a JSON object, e.g. --meta '{"accuracy": 0.93}'; ${JSON.stringify(text)} is not JSON.`, { cause });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(
      `--meta must be a JSON object, e.g. --meta '{"accuracy": 0.93}', not ${Array.isArray(value) ? "an array" : JSON.stringify(value)}. Give the value a name: --meta '{"value": ${JSON.stringify(value)}}'.`,
    );
  }
  return value;
}

const summary = (m: ModelMetadata) => `${m.model.model_id}  ${m.code.created}  ${m.archive ? `${m.archive.size} bytes` : "size unknown"}  ${m.storage.prefix ?? m.storage.path ?? ""}`;

/** Runs `command`; `signal` fires on Ctrl-C or SIGTERM. */
export async function runCommand(command: string, args: string[], flags: Flags, signal: AbortSignal): Promise<void> {
  if (command === "archive") return writeArchive(args, flags, signal);
  const store = await storeFromSettings(
    {
      config: flags.config,
      storage: flags.storage,
      metadata: flags.metadata,
      root: flags.root,
      rootPrefix: flags.prefix,
      bucket: flags.bucket,
      endpoint: flags.endpoint,
      region: flags.region,
    },
    process.env,
  );
  try {
    await runStoreCommand(store, command, args, flags, signal);
  } finally {
    // A PostgreSQL pool would keep the process alive.
    await store.close();
  }
}

async function writeArchive(paths: string[], flags: Flags, signal: AbortSignal): Promise<void> {
  const output = flags.output ?? "artifacts.tar.gz";
  const { entries } = await collectInputs(paths, { dereference: flags.dereference, signal });
  const archive = createArchive({ files: entries }, { signal });
  await archive.pipeTo(Writable.toWeb(createWriteStream(output)) as WritableStream<Uint8Array>, { signal });
  return print(flags, { output, entries: entries.map((e) => e.path) }, () => `${output}\n${entries.map((e) => `  ${e.path}`).join("\n")}`);
}

/** `models`: one page (or `--all`), as a table, a JSON array, or JSON lines streamed page by page. */
async function listModels(store: ModelStore, domain: string, flags: Flags, signal: AbortSignal): Promise<void> {
  if (flags.all && (flags.limit !== undefined || flags.cursor !== undefined)) throw new InvalidArgumentError("--all lists every model; leave out --limit and --cursor.");
  const limit = flags.limit === undefined ? undefined : Number(flags.limit);
  const write = (models: ModelMetadata[]) => {
    if (models.length === 0) return;
    process.stdout.write((flags.jsonl ? models.map((m) => JSON.stringify(m)).join("\n") : models.map(summary).join("\n")) + "\n");
  };
  const listed: ModelMetadata[] = [];
  let cursor = flags.cursor;
  let count = 0;
  do {
    const page = await store.listModelsPage(domain, { signal, state: flags.state, limit: flags.all ? 1000 : limit, cursor });
    count += page.items.length;
    if (flags.json) listed.push(...page.items);
    else write(page.items);
    cursor = page.cursor;
  } while (flags.all && cursor !== undefined);
  // An unknown domain lists nothing in the library; here it is an error, as for info.
  if (count === 0 || flags.project !== undefined) await checkDomain(store, domain, flags.project, signal);
  if (flags.json) process.stdout.write(JSON.stringify(listed, null, 2) + "\n");
  if (cursor !== undefined) process.stderr.write(`More models: modelstore models ${domain} --cursor ${cursor} (or --all)\n`);
}

/** Checks that `domain` exists, and belongs to `project` when one is given. */
async function checkDomain(store: ModelStore, domain: string, project: string | undefined, signal: AbortSignal): Promise<void> {
  const task = await store.metadata.getTask(domain, { signal });
  if (!task) throw new NotFoundError(`Domain "${domain}" does not exist. List the domains with modelstore domains.`);
  if (project !== undefined && task.project !== project) {
    throw new InvalidArgumentError(`Domain "${domain}" belongs to project "${task.project}", not "${project}". Drop --project or pass --project ${task.project}.`);
  }
}

/** The model named by `id`: the latest (in `state`, when given) when it is omitted or "latest". */
function modelOf(store: ModelStore, domain: string, id: string | undefined, signal: AbortSignal, state?: string): Promise<ModelMetadata> {
  const named = id && id !== "latest";
  if (named && state !== undefined) throw new InvalidArgumentError(`Give a model id or --state, not both: --state ${state} picks the newest model in that state.`);
  return named ? store.getModelInfo(domain, id, { signal }) : store.getLatest(domain, { signal, state });
}

async function runStoreCommand(store: ModelStore, command: string, args: string[], flags: Flags, signal: AbortSignal): Promise<void> {
  const showProgress = !flags.json && Boolean(process.stderr.isTTY);
  switch (command) {
    case "upload": {
      const [domain, ...paths] = args;
      const extraMetadata = parseMeta(flags.meta);
      const dependencies = await installedVersions({ packages: flags.dependency });
      const progress = new ProgressLine("uploading", showProgress);
      let read = 0;
      // Counting costs a stream per file: only where the count is shown.
      const onRead = showProgress ? (bytes: number) => progress.update((read += bytes), total) : undefined;
      const files = await collectInputs(paths, { dereference: flags.dereference, signal, onRead });
      const extras = flags.extra ? await collectInputs(flags.extra, { dereference: flags.dereference, signal, onRead }) : undefined;
      // The file sizes are known before a byte is read, so progress is a share of the model's bytes.
      const total = files.size + (extras?.size ?? 0);
      const metadata = await store.upload(domain, {
        files: files.entries,
        extras: extras?.entries,
        extraMetadata,
        dependencies,
        modelId: flags.id,
        project: flags.project,
        git: await gitInfo(),
        signal,
      });
      progress.done();
      return print(flags, metadata, () => JSON.stringify(metadata, null, 2));
    }
    case "domains": {
      const domains = flags.project === undefined ? await store.listDomains({ signal }) : (await store.listTasks({ project: flags.project, signal })).map((t) => t.name);
      return print(flags, domains, () => domains.join("\n"));
    }
    case "projects": {
      const projects = await store.listProjects({ signal });
      return print(flags, projects, () => projects.map((p) => p.name).join("\n"));
    }
    case "tasks": {
      const project = args[0] ?? flags.project;
      const tasks = await store.listTasks({ project, signal });
      return print(flags, tasks, () => tasks.map((t) => (project === undefined ? `${t.name}  ${t.project}` : t.name)).join("\n"));
    }
    case "delete-task": {
      await store.deleteTask(args[0], { cascade: flags.cascade, signal });
      return print(flags, { deleted: args[0] }, () => `deleted task ${args[0]}`);
    }
    case "delete-project": {
      await store.deleteProject(args[0], { cascade: flags.cascade, signal });
      return print(flags, { deleted: args[0] }, () => `deleted project ${args[0]}`);
    }
    case "models":
      return listModels(store, args[0], flags, signal);
    case "info": {
      const metadata = await modelOf(store, args[0], args[1], signal, flags.state);
      return print(flags, metadata, () => JSON.stringify(metadata, null, 2));
    }
    case "files":
      return listFiles(store, await modelOf(store, args[0], args[1], signal, flags.state), flags, signal);
    case "download": {
      // Without --to, a directory of the model's own: extracting into the working
      // directory would replace any of its folders that share a name with the model's.
      const id = (await modelOf(store, args[0], args[1], signal, flags.state)).model.model_id;
      const progress = new ProgressLine("downloading", showProgress);
      const result = await downloadModel(store, args[0], id, flags.to ?? join(args[0], id), {
        overwrite: flags.overwrite,
        signal,
        onProgress: ({ bytes, total }) => progress.update(bytes, total),
      });
      progress.done();
      const report = { model_id: result.metadata.model.model_id, dir: result.dir, files: result.files, bytes: result.bytes };
      return print(flags, report, () => `${report.model_id} -> ${report.dir} (${report.files} files, ${report.bytes} bytes)`);
    }
    case "cat": {
      const id = args[1] === "latest" ? undefined : args[1];
      const body = await store.readFile(args[0], id, args[2], { signal });
      if (!body) throw new ModelStoreError("NOT_FOUND", `The model has no file "${args[2]}". List its files with: modelstore files ${args[0]} ${args[1]}`);
      await body.pipeTo(Writable.toWeb(process.stdout) as WritableStream<Uint8Array>, { signal });
      return;
    }
    case "states": {
      const states = await store.listModelStates({ signal });
      return print(flags, states, () => states.map((s) => s.name).join("\n"));
    }
    case "state": {
      const [action, name] = args;
      if (action === "create") {
        const state = await store.createModelState(name, { signal });
        return print(flags, state, () => `created state ${name}`);
      }
      if (action === "delete") {
        await store.deleteModelState(name, { cascade: flags.cascade, signal });
        return print(flags, { deleted: name }, () => `deleted state ${name}`);
      }
      throw new InvalidArgumentError(`modelstore state takes create or delete, not "${action}": modelstore state create ${name}.`);
    }
    case "set-state":
    case "unset-state": {
      const [domain, id, state] = args;
      if (command === "set-state") await store.setModelState(domain, id, state, { signal });
      else await store.removeModelState(domain, id, state, { signal });
      const report = { domain, model_id: id, states: await store.getModelStates(domain, id, { signal }) };
      return print(flags, report, () => `${id} in ${domain}: ${report.states.length ? report.states.join(", ") : "no states"}`);
    }
    case "state-history": {
      const events = await store.stateHistory(args[0], { signal });
      return print(flags, events, () => events.map((e) => `${e.at}  ${e.action === "set" ? "set   " : "remove"}  ${e.state}  ${e.modelId}  ${e.user}`).join("\n"));
    }
    case "delete": {
      await store.deleteModel(args[0], args[1], { signal });
      return print(flags, { deleted: args[1], domain: args[0] }, () => `deleted ${args[1]} from ${args[0]}`);
    }
    case "gc": {
      const report = await store.gc({ olderThanMs: parseAge(flags["older-than"]), dryRun: flags["dry-run"], signal });
      const verb = report.dryRun ? "would remove" : "removed";
      return print(flags, report, () =>
        [
          ...report.items.map((item) => `${verb} ${item.kind} ${item.key}${item.size === undefined ? "" : ` (${item.size} bytes)`}`),
          ...report.skipped.map((skip) => `skipped domain ${skip.domain}: ${skip.reason}`),
          `${report.items.length} ${report.items.length === 1 ? "leftover" : "leftovers"} ${verb}`,
        ].join("\n"),
      );
    }
    default:
      throw new InvalidArgumentError(`Unknown command "${command}". Run modelstore --help for the list.`);
  }
}

/**
 * Prints the archive's entries as its headers go by: bodies are skipped, not
 * held, so a model of any size lists in constant memory (the archive is still
 * read to its end, which also verifies its size and sha256).
 */
async function listFiles(store: ModelStore, metadata: ModelMetadata, flags: Flags, signal: AbortSignal): Promise<void> {
  if (metadata.archive?.index) {
    // From the archive's table of contents: one small ranged read, whatever the model's size.
    const files = (await store.listFilesOf(metadata, { signal })).map((file) => ({ ...file, type: "file" }));
    return print(flags, files, () => files.map((file) => `${String(file.size).padStart(12)}  ${file.path}`).join("\n"));
  }
  const listed: { path: string; size: number; type: string; linkTarget?: string }[] = [];
  for await (const entry of readArchive(await store.openArchive(metadata, { signal }), { signal })) {
    if (entry.type === "directory") continue;
    const file = { path: entry.path, size: entry.size, type: entry.type, ...(entry.linkTarget ? { linkTarget: entry.linkTarget } : {}) };
    if (flags.json) listed.push(file);
    else process.stdout.write(`${String(file.size).padStart(12)}  ${file.path}${file.linkTarget ? ` -> ${file.linkTarget}` : ""}\n`);
  }
  if (flags.json) print(flags, listed, () => "");
}

const AGE_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--older-than` as milliseconds: `90s`, `30m`, `6h`, `2d`; undefined keeps the library's default. */
function parseAge(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)([smhd])$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError(`--older-than takes an age such as 30m, 6h or 2d, not "${value}".`);
  return Number(match[1]) * AGE_UNITS[match[2]];
}

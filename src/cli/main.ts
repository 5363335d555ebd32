#!/usr/bin/env node
/**
 * The `modelstore` command: upload, list, inspect, download and delete models,
 * and list projects and tasks, from the shell. Storage is chosen like the
 * Python modelstore's, by `MODEL_STORE_STORAGE` (default `filesystem`) and
 * `MODEL_STORE_ROOT` (default `./.modelstore`), metadata by
 * `MODEL_STORE_METADATA`, or everything by a config file (`--config`,
 * `MODEL_STORE_CONFIG`); flags override the environment.
 */
import { LIBRARY_VERSION, ModelStoreError } from "../index.ts";
import { InvalidArgumentError } from "../util/errors.ts";
import { runCommand } from "./commands.ts";
import { checkOptions, commandHelp, COMMANDS, parse, usage } from "./help.ts";
import { interruptOnSignals } from "./signals.ts";

const EXIT_CODES: Record<string, number> = {
  INVALID_ARGUMENT: 2,
  NOT_FOUND: 3,
  ALREADY_EXISTS: 4,
  CONFLICT: 4,
  INTEGRITY: 5,
  INVALID_ARCHIVE: 5,
};

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
  [/`overwrite: true`/g, () => "--overwrite"],
  [/`dereference: true`/g, () => "--dereference"],
  // The CLI's only AbortSignal is Ctrl-C or SIGTERM, which the notice on stderr already named.
  [/ by its AbortSignal/g, () => ""],
];

/** `message` with the library's API advice rewritten as CLI commands. */
function asCommandAdvice(message: string): string {
  return COMMAND_HINTS.reduce((text, [pattern, command]) => text.replace(pattern, (_, ...groups: string[]) => command(...groups)), message);
}

/** Prints `text` on stdout; the exit code of a command that printed help or the version. */
function write(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

/** Runs the CLI and returns its exit code. */
async function main(argv: string[]): Promise<number> {
  const interrupts = interruptOnSignals((name) => {
    process.stderr.write(`\nmodelstore: ${name === "SIGINT" ? "interrupted" : "terminated"}, cleaning up (Ctrl-C again exits at once)\n`);
  });
  try {
    const { values: flags, positionals } = parse(argv);
    const [command, ...args] = positionals;
    if (flags.version) return write(LIBRARY_VERSION);
    if (command === undefined) {
      // Asked for nothing: show what there is, but a script that forgot its command must not pass.
      process[flags.help ? "stdout" : "stderr"].write(`${usage()}\n`);
      return flags.help ? 0 : 2;
    }
    if (command === "help") {
      const topic = args[0];
      if (topic !== undefined && !COMMANDS[topic]) throw new InvalidArgumentError(`Unknown command "${topic}". Run modelstore --help for the list.`);
      return write(topic ? commandHelp(topic) : usage());
    }
    if (!COMMANDS[command]) throw new InvalidArgumentError(`Unknown command "${command}". Run modelstore --help for the list.`);
    if (flags.help) return write(commandHelp(command));
    checkOptions(command, flags);
    const spec = COMMANDS[command];
    if (args.length < spec.required) {
      throw new InvalidArgumentError(`Missing arguments. Usage: modelstore ${command} ${spec.args} (see modelstore ${command} --help).`);
    }
    await runCommand(command, args, flags, interrupts.signal);
    return 0;
  } catch (error) {
    const code = error instanceof ModelStoreError ? error.code : (error as { code?: string }).code;
    const interrupted = interrupts.exitCode();
    const message = asCommandAdvice(error instanceof Error ? error.message : String(error));
    // With --json, errors are JSON too (on stderr, so stdout holds only results).
    if (argv.includes("--json")) process.stderr.write(JSON.stringify({ error: { code: code ?? "ERROR", message } }) + "\n");
    else process.stderr.write(`modelstore: ${message}\n`);
    if (interrupted !== undefined) return interrupted;
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" || code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" || code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") return 2;
    return (code ? EXIT_CODES[code] : undefined) ?? 1;
  } finally {
    interrupts.dispose();
  }
}

const exitCode = await main(process.argv.slice(2));
// An interrupted command may leave sockets or timers behind (a request whose
// answer never came): once cleanup is done, nothing else is worth waiting for.
if (exitCode >= 128) process.exit(exitCode);
process.exitCode = exitCode;

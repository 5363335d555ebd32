/**
 * A real PostgreSQL server for tests: a throwaway cluster (initdb + pg_ctl) in a
 * temp directory, listening on a free 127.0.0.1 port with trust authentication,
 * removed again by `stop()`. As root, initdb refuses to run, so the cluster is
 * created and run as the `postgres` OS user (which the Debian package creates).
 *
 * `usePostgresServer()` reuses a server named by POSTGRES_URL (CI, or a
 * developer's own) and otherwise starts one for the calling test file;
 * `createDatabase(server)` gives each test a fresh, empty database.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { chmod, chown, mkdtemp, rm } from "node:fs/promises";
import { userInfo } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import postgres from "postgres";
import { freePort } from "./s3-server.ts";

const run = promisify(execFile);

/** Where the server is. */
export interface PostgresServer {
  /** `postgres://user@127.0.0.1:port/postgres`: the maintenance database. */
  url: string;
  /** Stops the server and removes its cluster if this process started it. */
  stop(): Promise<void>;
}

/** The directory with initdb and pg_ctl: PG_BIN, pg_config's, or the newest Debian one. */
export function postgresBinDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const debian = "/usr/lib/postgresql";
  if (existsSync(debian)) {
    const versions = readdirSync(debian).filter((v) => existsSync(join(debian, v, "bin", "initdb")));
    versions.sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(debian, versions[0], "bin");
  }
  throw new Error("PostgreSQL's initdb and pg_ctl were not found: install them (bash test/support/install-servers.sh) or set PG_BIN.");
}

/** Runs a PostgreSQL program, as the postgres OS user when this process is root. */
async function asOwner(owner: string | undefined, program: string, args: string[]): Promise<void> {
  const [file, argv] = owner ? ["runuser", ["-u", owner, "--", program, ...args]] : [program, args];
  await run(file, argv, { timeout: 120_000 });
}

/** Starts a fresh cluster; resolves once it accepts connections. */
export async function startPostgresServer(): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const owner = userInfo().uid === 0 ? "postgres" : undefined;
  const base = await mkdtemp(join(tmpdir(), "modelstore-pg-"));
  const data = join(base, "data");
  if (owner) {
    const { stdout } = await run("id", ["-u", owner]).catch(() => {
      throw new Error('Running as root, the tests need the "postgres" OS user to own the cluster: install PostgreSQL from Debian (it creates the user).');
    });
    const { stdout: gid } = await run("id", ["-g", owner]);
    await chown(base, Number(stdout.trim()), Number(gid.trim()));
  }
  await chmod(base, 0o700);
  const user = owner ?? userInfo().username;
  try {
    await asOwner(owner, join(bin, "initdb"), ["-D", data, "-U", user, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
    let lastError: unknown;
    // A port picked free can be taken before the server binds it: try a few.
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      // No Unix socket (only TCP on 127.0.0.1), fsync off: a throwaway cluster needs no durability.
      const options = `-h 127.0.0.1 -p ${port} -k '' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
      try {
        await asOwner(owner, join(bin, "pg_ctl"), ["-D", data, "-l", join(base, "server.log"), "-o", options, "-w", "-t", "60", "start"]);
      } catch (error) {
        lastError = error;
        continue;
      }
      // If the process ends without stop() (a crash, a timeout), the server would outlive it: stop it here.
      const onExit = () => {
        try {
          const [file, argv] = owner ? ["runuser", ["-u", owner, "--", join(bin, "pg_ctl")]] : [join(bin, "pg_ctl"), []];
          execFileSync(file, [...argv, "-D", data, "-m", "immediate", "-w", "stop"], { stdio: "ignore" });
          rmSync(base, { recursive: true, force: true });
        } catch {
          // Exiting anyway.
        }
      };
      process.once("exit", onExit);
      const stop = async () => {
        process.removeListener("exit", onExit);
        await asOwner(owner, join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => undefined);
        await rm(base, { recursive: true, force: true });
      };
      return { url: `postgres://${user}@127.0.0.1:${port}/postgres`, stop };
    }
    throw lastError;
  } catch (error) {
    await rm(base, { recursive: true, force: true });
    throw new Error(`Could not start PostgreSQL for the tests (bin ${bin}): ${String((error as Error)?.message ?? error)}`);
  }
}

/** The server named by POSTGRES_URL, or a fresh one for this test file. */
export async function usePostgresServer(): Promise<PostgresServer> {
  if (process.env.POSTGRES_URL) return { url: process.env.POSTGRES_URL, stop: async () => {} };
  return startPostgresServer();
}

/** Creates an empty database with a unique name and returns its URL. */
export async function createDatabase(server: PostgresServer, label = "t"): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${label}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`.toLowerCase();
  const admin = postgres(server.url, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const sql = postgres(server.url, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await sql.end();
      }
    },
  };
}

let globalServer: PostgresServer | undefined;

/**
 * vitest globalSetup: one cluster for the whole run, published as POSTGRES_URL,
 * unless POSTGRES_URL already names a server. Add this file to `globalSetup` to use it;
 * without it each test file that needs PostgreSQL starts its own cluster.
 */
export async function setup(): Promise<void> {
  if (process.env.POSTGRES_URL) return;
  globalServer = await startPostgresServer();
  process.env.POSTGRES_URL = globalServer.url;
}

/** vitest globalSetup teardown: stops the cluster that {@link setup} started. */
export async function teardown(): Promise<void> {
  await globalServer?.stop();
  globalServer = undefined;
}

/**
 * Metadata in PostgreSQL: projects, tasks and models as rows with foreign keys
 * and uniqueness constraints (see postgres-schema.ts), every change one
 * transaction, and the latest model read from an index rather than kept in a
 * row of its own (so it can never disagree with the models). Model queries
 * resolve the task id in a scalar subquery, not a join, so that the planner
 * walks the `(task_id, created desc, …)` index in order instead of sorting. Uses porsager's
 * `postgres` driver, which runs on Node, Deno and Bun; it is an optional peer
 * dependency, loaded only through `modelstore-js/postgres`.
 */
import { checkPageSize, decodeCursor, encodeCursor, pageKeyOf } from "./model-pages.ts";
import postgres, { type Sql, type TransactionSql } from "postgres";
import { BackendError, ModelStoreError } from "../util/errors.ts";
import { createdInstant, type ModelMetadata } from "./document.ts";
import { defaultProjectUndeletable, modelExists, projectNotEmpty, taskInOtherProject, taskNotEmpty } from "./errors.ts";
import { migrate } from "./postgres-schema.ts";
import { RESERVED_STATES, stateInUse, unknownModel, unknownState, type StateEvent } from "./model-states.ts";
import {
  DEFAULT_PROJECT,
  type AddModelOptions,
  type ListTasksOptions,
  type MetadataRepository,
  type ProjectRecord,
  type TaskRecord,
} from "./repository.ts";

/** Options for {@link postgresMetadata}. */
export interface PostgresMetadataOptions {
  /**
   * A connection URL, `postgres://user:password@host:5432/database`.
   * @default the driver's PG* environment variables (PGHOST, PGUSER, PGDATABASE...)
   */
  url?: string;
  /** A client you already have; the repository then never ends it. Takes precedence over `url`. */
  sql?: Sql;
  /** Connections in the pool the repository opens. @default 10 */
  max?: number;
}

const UNIQUE_VIOLATION = "23505";
const FOREIGN_KEY_VIOLATION = "23503";

type Row = Record<string, unknown>;
const iso = (value: unknown): string | undefined => (value instanceof Date ? value.toISOString() : typeof value === "string" ? new Date(value).toISOString() : undefined);
const projectOf = (row: Row): ProjectRecord => ({ name: row.name as string, created: iso(row.created) });
const taskOf = (row: Row): TaskRecord => ({ name: row.name as string, project: row.project as string, created: iso(row.created) });
// The same location compareNewestFirst breaks ties with.
const locationOf = (m: ModelMetadata) => m.storage.prefix ?? m.storage.path ?? "";
const sqlState = (error: unknown) => (error as { code?: unknown } | null)?.code;

/** A {@link MetadataRepository} in PostgreSQL; migrations run on first use. */
export function postgresMetadata(options: PostgresMetadataOptions = {}): MetadataRepository {
  const owned = !options.sql;
  const sql: Sql =
    options.sql ??
    (options.url === undefined
      ? postgres({ max: options.max ?? 10, onnotice: () => {} })
      : postgres(options.url, { max: options.max ?? 10, onnotice: () => {} }));
  let ready: Promise<number> | undefined;

  /** Runs `action` once the schema is current, turning driver failures into BackendErrors. */
  /**
   * A task's models, newest first: the same order as `compareNewestFirst`, and the
   * order of the (task_id, created, location, model_id) index, so no sort is needed.
   */
  const modelsOfTaskNewestFirst = (task: string) =>
    sql`where m.task_id = (select id from modelstore_tasks where name = ${task}) order by m.created desc, m.location desc, m.model_id desc`;

  async function call<T>(operation: string, action: () => Promise<T>): Promise<T> {
    try {
      // A failed migration is retried by the next call instead of being cached.
      ready ??= migrate(sql).catch((error) => {
        ready = undefined;
        throw error;
      });
      await ready;
      return await action();
    } catch (error) {
      throw toModelStoreError(error, operation);
    }
  }

  async function projectId(tx: TransactionSql, name: string): Promise<number> {
    await tx`insert into modelstore_projects (name) values (${name}) on conflict (name) do nothing`;
    const [row] = await tx`select id from modelstore_projects where name = ${name}`;
    return row.id as number;
  }

  async function taskRow(tx: TransactionSql | Sql, name: string, lock = false): Promise<Row | undefined> {
    const rows = lock
      ? await tx`select t.id, t.name, t.created, p.name as project from modelstore_tasks t join modelstore_projects p on p.id = t.project_id where t.name = ${name} for update of t`
      : await tx`select t.id, t.name, t.created, p.name as project from modelstore_tasks t join modelstore_projects p on p.id = t.project_id where t.name = ${name}`;
    return rows[0];
  }

  /** The task, created in `project` when missing; a task in another project is a conflict. Locks the task row. */
  async function ensureTaskIn(tx: TransactionSql, name: string, project: string | undefined): Promise<Row> {
    let row = await taskRow(tx, name, true);
    if (!row) {
      const pid = await projectId(tx, project ?? DEFAULT_PROJECT);
      // on conflict: a racing transaction created it first; read theirs below. No conflict target:
      // the racing row collides on (project_id, name) as well as on name, and a target of (name)
      // alone let that other unique index raise 23505 whenever it was checked first.
      await tx`insert into modelstore_tasks (project_id, name) values (${pid}, ${name}) on conflict do nothing`;
      row = await taskRow(tx, name, true);
    }
    if (project !== undefined && row!.project !== project) throw taskInOtherProject(name, row!.project as string, project);
    return row!;
  }

  return {
    name: "postgres",

    getProject: (name) =>
      call("read a project", async () => {
        const [row] = await sql`select name, created from modelstore_projects where name = ${name}`;
        return row ? projectOf(row) : null;
      }),

    ensureProject: (name) =>
      call("create a project", async () => {
        await sql`insert into modelstore_projects (name) values (${name}) on conflict (name) do nothing`;
        const [row] = await sql`select name, created from modelstore_projects where name = ${name}`;
        return projectOf(row);
      }),

    listProjects: () => call("list projects", async () => (await sql`select name, created from modelstore_projects order by name`).map(projectOf)),

    deleteProject: (name) =>
      call("delete a project", () =>
        sql.begin(async (tx) => {
          if (name === DEFAULT_PROJECT) throw defaultProjectUndeletable();
          const [project] = await tx`select id from modelstore_projects where name = ${name} for update`;
          if (!project) return false;
          const [{ count }] = await tx`select count(*)::int as count from modelstore_tasks where project_id = ${project.id as number}`;
          if (count > 0) throw projectNotEmpty(name, count);
          await tx`delete from modelstore_projects where id = ${project.id as number}`;
          return true;
        }),
      ),

    getTask: (name) =>
      call("read a task", async () => {
        const row = await taskRow(sql, name);
        return row ? taskOf(row) : null;
      }),

    ensureTask: (name, project) => call("create a task", () => sql.begin(async (tx) => taskOf(await ensureTaskIn(tx, name, project)))),

    listTasks: (options: ListTasksOptions = {}) =>
      call("list tasks", async () => {
        const rows =
          options.project === undefined
            ? await sql`select t.name, t.created, p.name as project from modelstore_tasks t join modelstore_projects p on p.id = t.project_id order by t.name`
            : await sql`select t.name, t.created, p.name as project from modelstore_tasks t join modelstore_projects p on p.id = t.project_id where p.name = ${options.project} order by t.name`;
        return rows.map(taskOf);
      }),

    deleteTask: (name) =>
      call("delete a task", () =>
        sql.begin(async (tx) => {
          const task = await taskRow(tx, name, true);
          if (!task) return false;
          const [{ count }] = await tx`select count(*)::int as count from modelstore_models where task_id = ${task.id as number}`;
          if (count > 0) throw taskNotEmpty(name, count);
          await tx`delete from modelstore_tasks where id = ${task.id as number}`;
          return true;
        }),
      ),

    addModel: (metadata: ModelMetadata, options: AddModelOptions = {}) =>
      call("add a model", async () => {
        const { domain: task, model_id: id } = metadata.model;
        await sql.begin(async (tx) => {
          const row = await ensureTaskIn(tx, task, options.project);
          const inserted = await tx`
            insert into modelstore_models (task_id, model_id, created, location, metadata)
            -- ::text first: a parameter typed json would be JSON-encoded again by the driver
            values (${row.id as number}, ${id}, ${new Date(createdInstant(metadata)).toISOString()}, ${locationOf(metadata)}, ${JSON.stringify(metadata)}::text::json)
            on conflict (task_id, model_id) do nothing returning id`;
          if (inserted.length === 0) throw modelExists(task, id);
        });
      }),

    getModel: (task, id) =>
      call("read a model", async () => {
        const [row] = await sql`
          select m.metadata from modelstore_models m
          where m.task_id = (select id from modelstore_tasks where name = ${task}) and m.model_id = ${id}`;
        return row ? (row.metadata as ModelMetadata) : null;
      }),

    listModelIds: (task) =>
      call("list model ids", async () => {
        const rows = await sql`
          select m.model_id from modelstore_models m
          ${modelsOfTaskNewestFirst(task)}`;
        return rows.map((row) => row.model_id as string);
      }),

    listModels: (task) =>
      call("list models", async () => {
        const rows = await sql`
          select m.metadata from modelstore_models m
          ${modelsOfTaskNewestFirst(task)}`;
        return rows.map((row) => row.metadata as ModelMetadata);
      }),

    listModelsPage: async (task, options = {}) => {
      const limit = checkPageSize(options.limit);
      const after = decodeCursor(options.cursor);
      return call("list a page of models", async () => {
        // A keyset page on the (task_id, created, location, model_id) index: the cursor is the last row's key.
        const rows = await sql`
          select m.metadata from modelstore_models m
          where m.task_id = (select id from modelstore_tasks where name = ${task})
          ${after ? sql`and (m.created, m.location, m.model_id) < (${new Date(after[0]).toISOString()}, ${after[1]}, ${after[2]})` : sql``}
          order by m.created desc, m.location desc, m.model_id desc limit ${limit + 1}`;
        const items = rows.slice(0, limit).map((row) => row.metadata as ModelMetadata);
        const last = items[items.length - 1];
        return { items, cursor: rows.length > limit && last ? encodeCursor(pageKeyOf(last)) : undefined };
      });
    },

    latestModel: (task) =>
      call("read the latest model", async () => {
        const [row] = await sql`
          select m.metadata from modelstore_models m
          ${modelsOfTaskNewestFirst(task)} limit 1`;
        return row ? (row.metadata as ModelMetadata) : null;
      }),

    deleteModel: (task, id, options = {}) =>
      call("delete a model", () =>
        sql.begin(async (tx) => {
          // The model leaves its states with its row (on delete cascade): record that first.
          await tx`
            insert into modelstore_state_events (task, model_id, state, action, user_name)
            select ${task}, ${id}, s.name, 'remove', ${options.user ?? "unknown"}
            from modelstore_model_states ms
            join modelstore_states s on s.id = ms.state_id
            join modelstore_models m on m.id = ms.model_id
            where m.task_id = (select id from modelstore_tasks where name = ${task}) and m.model_id = ${id}
            order by s.name`;
          const rows = await tx`
            delete from modelstore_models m
            where m.task_id = (select id from modelstore_tasks where name = ${task}) and m.model_id = ${id} returning m.id`;
          return rows.length > 0;
        }),
      ),

    createModelState: (name) =>
      call("create a model state", async () => {
        await sql`insert into modelstore_states (name) values (${name}) on conflict (name) do nothing`;
        const [row] = await sql`select name, created from modelstore_states where name = ${name}`;
        return { name, created: iso(row.created) };
      }),

    listModelStates: () =>
      call("list model states", async () =>
        (await sql`select name, created from modelstore_states order by name`)
          .map((row) => ({ name: row.name as string, created: iso(row.created) }))
          .filter((s) => !RESERVED_STATES.includes(s.name)),
      ),

    deleteModelState: (name) =>
      call("delete a model state", () =>
        sql.begin(async (tx) => {
          const [state] = await tx`select id from modelstore_states where name = ${name} for update`;
          if (!state) return false;
          const [{ count }] = await tx`select count(*)::int as count from modelstore_model_states where state_id = ${state.id as number}`;
          if (count > 0) throw stateInUse(name, count);
          await tx`delete from modelstore_states where id = ${state.id as number}`;
          return true;
        }),
      ),

    setModelState: (task, id, state, options = {}) =>
      call("set a model state", () =>
        sql.begin(async (tx) => {
          const [s] = await tx`select id from modelstore_states where name = ${state} for share`;
          if (!s) throw unknownState(state);
          const [m] = await tx`select m.id from modelstore_models m where m.task_id = (select id from modelstore_tasks where name = ${task}) and m.model_id = ${id} for share`;
          if (!m) throw unknownModel(task, id);
          await tx`insert into modelstore_model_states (model_id, state_id) values (${m.id as number}, ${s.id as number}) on conflict do nothing`;
          await tx`insert into modelstore_state_events (task, model_id, state, action, user_name) values (${task}, ${id}, ${state}, 'set', ${options.user ?? "unknown"})`;
        }),
      ),

    removeModelState: (task, id, state, options = {}) =>
      call("remove a model state", () =>
        sql.begin(async (tx) => {
          const [s] = await tx`select id from modelstore_states where name = ${state} for share`;
          if (!s) throw unknownState(state);
          const removed = await tx`
            delete from modelstore_model_states ms using modelstore_models m
            where ms.model_id = m.id and ms.state_id = ${s.id as number}
              and m.task_id = (select id from modelstore_tasks where name = ${task}) and m.model_id = ${id}
            returning ms.model_id`;
          if (removed.length === 0) return false;
          await tx`insert into modelstore_state_events (task, model_id, state, action, user_name) values (${task}, ${id}, ${state}, 'remove', ${options.user ?? "unknown"})`;
          return true;
        }),
      ),

    getModelStates: (task, id) =>
      call("read a model's states", async () => {
        const rows = await sql`
          select s.name from modelstore_model_states ms
          join modelstore_states s on s.id = ms.state_id
          join modelstore_models m on m.id = ms.model_id
          where m.task_id = (select id from modelstore_tasks where name = ${task}) and m.model_id = ${id}
          order by s.name`;
        return rows.map((row) => row.name as string).filter((name) => !RESERVED_STATES.includes(name));
      }),

    listModelsInState: (task, state) =>
      call("list the models in a state", async () => {
        const [s] = await sql`select id from modelstore_states where name = ${state}`;
        if (!s) {
          if (RESERVED_STATES.includes(state)) return [];
          throw unknownState(state);
        }
        const rows = await sql`
          select m.metadata from modelstore_models m
          where m.task_id = (select id from modelstore_tasks where name = ${task})
            and exists (select 1 from modelstore_model_states ms where ms.model_id = m.id and ms.state_id = ${s.id as number})
          order by m.created desc, m.location desc, m.model_id desc`;
        return rows.map((row) => row.metadata as ModelMetadata);
      }),

    stateHistory: (task) =>
      call("read the state history", async () => {
        const rows = await sql`select model_id, state, action, at, user_name from modelstore_state_events where task = ${task} order by id`;
        return rows.map(
          (row): StateEvent => ({ domain: task, modelId: row.model_id as string, state: row.state as string, action: row.action as StateEvent["action"], at: iso(row.at)!, user: row.user_name as string }),
        );
      }),

    async close() {
      if (owned) await sql.end({ timeout: 5 });
    },
  };
}

/** Keeps typed errors; wraps driver and network failures in a BackendError that says what to check. */
function toModelStoreError(error: unknown, operation: string): unknown {
  if (error instanceof ModelStoreError) return error;
  const code = sqlState(error);
  const detail = error instanceof Error ? error.message : String(error);
  const hint =
    code === UNIQUE_VIOLATION || code === FOREIGN_KEY_VIOLATION
      ? "Another process changed the same task or project at the same time; retry."
      : typeof code === "string" && /^E[A-Z]+$/.test(code)
        ? "Check that the PostgreSQL server is running and reachable, and the connection URL (host, port, database)."
        : code === "28P01" || code === "28000"
          ? "Check the user name and password in the connection URL."
          : "Check the PostgreSQL server's log.";
  return new BackendError(
    `PostgreSQL metadata could not ${operation}: ${detail}${typeof code === "string" ? ` (${code})` : ""}. ${hint}`,
    { backend: "postgres", operation, serverCode: typeof code === "string" ? code : undefined },
    { cause: error },
  );
}

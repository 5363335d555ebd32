/** PostgreSQL specifics: migrations, constraints, indexes, failures. */
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATIONS, postgresMetadata } from "../../src/postgres.ts";
import { freePort } from "../support/s3-server.ts";
import { createDatabase, usePostgresServer, type PostgresServer } from "../support/postgres-server.ts";
import { fakeModel } from "./contract.ts";

let server: PostgresServer;
beforeAll(async () => {
  server = await usePostgresServer();
}, 120_000);
afterAll(() => server?.stop());

describe("PostgreSQL metadata", () => {
  it("applies the migrations once, even when many clients start at the same moment", async () => {
    const db = await createDatabase(server, "migrate");
    const repos = Array.from({ length: 6 }, () => postgresMetadata({ url: db.url, max: 2 }));
    try {
      await Promise.all(repos.map((repo, i) => repo.ensureTask(`task-${i}`, "payments")));
      const sql = postgres(db.url, { max: 1 });
      try {
        const rows = await sql`select version from modelstore_migrations order by version`;
        expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
        const [{ count }] = await sql`select count(*)::int as count from modelstore_tasks`;
        expect(count).toBe(6);
      } finally {
        await sql.end();
      }
    } finally {
      await Promise.all(repos.map((repo) => repo.close?.()));
      await db.drop();
    }
  });

  it("has the foreign keys, uniqueness constraints and the newest-first index", async () => {
    const db = await createDatabase(server, "schema");
    const repo = postgresMetadata({ url: db.url });
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      await repo.addModel(fakeModel("refunds", "m1"));
      const indexes = (await sql`select indexname, indexdef from pg_indexes where tablename like 'modelstore_%'`).map((r) => r.indexdef as string);
      expect(indexes.some((d) => /modelstore_models .*\(task_id, created DESC/.test(d))).toBe(true);
      expect(indexes.some((d) => /UNIQUE INDEX .* ON public\.modelstore_models .*\(task_id, model_id\)/.test(d))).toBe(true);
      expect(indexes.some((d) => /UNIQUE INDEX .* ON public\.modelstore_tasks .*\(name\)/.test(d))).toBe(true);
      // The database itself refuses what the repository must never do.
      await expect(sql`delete from modelstore_tasks where name = 'refunds'`).rejects.toMatchObject({ code: "23503" });
      await expect(sql`insert into modelstore_models (task_id, model_id, created, location, metadata) select task_id, model_id, created, location, metadata from modelstore_models`).rejects.toMatchObject({ code: "23505" });
      await expect(sql`insert into modelstore_tasks (project_id, name) values (999999, 'orphan')`).rejects.toMatchObject({ code: "23503" });
      // With many models, the latest is one index scan, not a sort of the task's rows
      const [{ id: taskId }] = await sql`select id from modelstore_tasks where name = 'refunds'`;
      await sql`insert into modelstore_models (task_id, model_id, created, location, metadata)
        select ${taskId}, 'bulk-' || g, now() - g * interval '1 second', '', '{}'::jsonb from generate_series(1, 20000) g`;
      await sql`analyze modelstore_models`;
      // Explain the very query the repository sends for latestModel(), captured from the driver.
      const queries: { query: string; params: unknown[] }[] = [];
      const traced = postgres(db.url, { max: 1, onnotice: () => {}, debug: (_c, query, params) => void queries.push({ query, params: params as unknown[] }) });
      const tracedRepo = postgresMetadata({ sql: traced });
      expect((await tracedRepo.latestModel("refunds"))?.model.model_id).toBe("m1");
      const latest = queries.find((q) => /limit 1/.test(q.query))!;
      const plan = (await sql.unsafe(`explain ${latest.query}`, latest.params as never[])).map((r) => Object.values(r)[0]).join("\n");
      await traced.end();
      expect(plan).toMatch(/Index Scan using modelstore_models_newest/);
      expect(plan).not.toMatch(/Sort/);
    } finally {
      await sql.end();
      await repo.close?.();
      await db.drop();
    }
  });

  it("many clients adding the first models of a new task at once all land: none trips over the task the others create", async () => {
    const db = await createDatabase(server, "race");
    const repos = Array.from({ length: 8 }, () => postgresMetadata({ url: db.url, max: 1 }));
    try {
      await repos[0].ensureTask("warm-up", "payments"); // migrated once, so the rounds race only on the task
      for (let round = 0; round < 12; round++) {
        const task = `new-task-${round}`;
        await Promise.all(repos.map((repo, i) => (i % 2 === 0 ? repo.addModel(fakeModel(task, `m${i}`), { project: "payments" }) : repo.ensureTask(task, "payments"))));
        expect((await repos[0].listModels(task)).map((m) => m.model.model_id).sort()).toEqual(["m0", "m2", "m4", "m6"]);
        expect((await repos[0].getTask(task))?.project).toBe("payments");
      }
    } finally {
      await Promise.all(repos.map((repo) => repo.close?.()));
      await db.drop();
    }
  });

  it("a transaction that fails leaves nothing: a conflicting add creates neither task nor project", async () => {
    const db = await createDatabase(server, "tx");
    const repo = postgresMetadata({ url: db.url });
    try {
      await repo.addModel(fakeModel("refunds", "m1"), { project: "payments" });
      await expect(repo.addModel(fakeModel("refunds", "m1"), { project: "payments" })).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
      await expect(repo.addModel(fakeModel("refunds", "m2"), { project: "analytics" })).rejects.toMatchObject({ code: "CONFLICT" });
      expect(await repo.getProject("analytics")).toBeNull();
      expect((await repo.listModels("refunds")).map((m) => m.model.model_id)).toEqual(["m1"]);
    } finally {
      await repo.close?.();
      await db.drop();
    }
  });

  it("an unreachable server fails with a BackendError that says what to check and shows no password", async () => {
    const port = await freePort();
    const repo = postgresMetadata({ url: `postgres://someone:s3cret-pass@127.0.0.1:${port}/nowhere`, max: 1 });
    try {
      const error = await repo.listProjects().catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "BACKEND", backend: "postgres", message: expect.stringContaining("reachable") });
      expect(String((error as Error).message)).not.toContain("s3cret-pass");
    } finally {
      await repo.close?.();
    }
  });
});

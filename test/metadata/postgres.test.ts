import { afterAll, beforeAll } from "vitest";
import { postgresMetadata } from "../../src/postgres.ts";
import { createDatabase, usePostgresServer, type PostgresServer } from "../support/postgres-server.ts";
import { runMetadataContract } from "./contract.ts";

let server: PostgresServer;
beforeAll(async () => {
  server = await usePostgresServer();
}, 120_000);
afterAll(() => server?.stop());

// A database per test: every contract test starts from an empty schema, migrated on first use.
runMetadataContract("PostgreSQL", async () => {
  const db = await createDatabase(server, "contract");
  return { repository: postgresMetadata({ url: db.url }), cleanup: db.drop };
});

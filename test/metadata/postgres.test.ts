import { afterAll, beforeAll } from "vitest";
import { postgresMetadata } from "../../src/postgres.js";
import { createDatabase, usePostgresServer, type PostgresServer } from "../support/postgres-server.js";
import { runMetadataContract } from "./contract.js";

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

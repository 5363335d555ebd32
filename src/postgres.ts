/**
 * `modelstore-js/postgres`: model metadata, tasks and projects in PostgreSQL.
 * Kept out of the core entry point because it loads the `postgres` driver (an
 * optional peer dependency: `npm install postgres`).
 */
export { postgresMetadata, type PostgresMetadataOptions } from "./metadata/postgres.ts";
export { MIGRATIONS, type Migration } from "./metadata/postgres-schema.ts";

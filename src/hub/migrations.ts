/**
 * Versioned schema migrations, kept in code (no migration files to ship or
 * lose) and run by Kysely's Migrator at every hub start. The Migrator records
 * applied names in `kysely_migration` and, on PostgreSQL, takes a lock so
 * replicas starting together migrate once.
 *
 * Rules: never edit a migration that has shipped; add the next one
 * ("0002_…") instead. Only portable DDL (Kysely's schema builder, types that
 * mean the same in SQLite and PostgreSQL — see hubDatabase.ts).
 */
import { Migrator, type Kysely, type Migration, type MigrationProvider } from "kysely";
import { PalisadeError } from "../core/errors.js";

// Migrations must not depend on the current HubTables type (it changes later).
type AnyDb = Kysely<unknown>;

const m0001: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable("orgs")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("name", "text", (c) => c.notNull().unique())
      .addColumn("operator", "integer", (c) => c.notNull().defaultTo(0))
      .addColumn("generation", "integer", (c) => c.notNull().defaultTo(1))
      .addColumn("created_at", "text", (c) => c.notNull())
      .execute();

    await db.schema
      .createTable("api_tokens")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("org_id", "text", (c) => c.notNull().references("orgs.id"))
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("role", "text", (c) => c.notNull())
      .addColumn("publisher_id", "text")
      .addColumn("secret_hash", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("created_by", "text", (c) => c.notNull())
      .addColumn("expires_at", "text")
      .addColumn("revoked_at", "text")
      .execute();
    await db.schema.createIndex("api_tokens_org").on("api_tokens").column("org_id").execute();

    await db.schema
      .createTable("enrollment_tokens")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("org_id", "text", (c) => c.notNull().references("orgs.id"))
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("secret_hash", "text", (c) => c.notNull())
      .addColumn("max_uses", "integer", (c) => c.notNull())
      .addColumn("uses", "integer", (c) => c.notNull().defaultTo(0))
      .addColumn("labels", "text", (c) => c.notNull())
      .addColumn("expires_at", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("created_by", "text", (c) => c.notNull())
      .addColumn("revoked_at", "text")
      .execute();
    await db.schema.createIndex("enrollment_tokens_org").on("enrollment_tokens").column("org_id").execute();

    await db.schema
      .createTable("nodes")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("org_id", "text", (c) => c.notNull().references("orgs.id"))
      .addColumn("public_key", "text", (c) => c.notNull().unique())
      .addColumn("labels", "text", (c) => c.notNull())
      .addColumn("agent_version", "text", (c) => c.notNull())
      .addColumn("hostname", "text", (c) => c.notNull())
      .addColumn("enrollment_token_id", "text", (c) => c.notNull())
      .addColumn("enrolled_at", "text", (c) => c.notNull())
      .addColumn("last_seen_at", "text")
      .addColumn("revoked_at", "text")
      .addColumn("revoke_reason", "text")
      .addColumn("workloads", "text", (c) => c.notNull().defaultTo("[]"))
      .addColumn("status_at", "text")
      .execute();
    await db.schema.createIndex("nodes_org").on("nodes").column("org_id").execute();

    await db.schema
      .createTable("publishers")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("org_id", "text", (c) => c.notNull().references("orgs.id"))
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .addUniqueConstraint("publishers_org_name", ["org_id", "name"])
      .execute();

    await db.schema
      .createTable("publisher_keys")
      .addColumn("key_id", "text", (c) => c.primaryKey())
      .addColumn("org_id", "text", (c) => c.notNull().references("orgs.id"))
      .addColumn("publisher_id", "text", (c) => c.notNull().references("publishers.id"))
      .addColumn("public_key", "text", (c) => c.notNull())
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("revoked_at", "text")
      .execute();
    await db.schema.createIndex("publisher_keys_org").on("publisher_keys").column("org_id").execute();

    await db.schema
      .createTable("bundles")
      .addColumn("org_id", "text", (c) => c.notNull().references("orgs.id"))
      .addColumn("digest", "text", (c) => c.notNull())
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("version", "integer", (c) => c.notNull())
      .addColumn("publisher_id", "text", (c) => c.notNull())
      .addColumn("key_id", "text", (c) => c.notNull())
      .addColumn("signature", "text", (c) => c.notNull())
      .addColumn("bytes", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("uploaded_by", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("bundles_pk", ["org_id", "digest"])
      .addUniqueConstraint("bundles_org_name_version", ["org_id", "name", "version"])
      .execute();

    await db.schema
      .createTable("deployments")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("org_id", "text", (c) => c.notNull().references("orgs.id"))
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("bundle_digest", "text", (c) => c.notNull())
      .addColumn("selector", "text", (c) => c.notNull())
      .addColumn("revision", "integer", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("updated_at", "text", (c) => c.notNull())
      .addUniqueConstraint("deployments_org_name", ["org_id", "name"])
      .execute();

    // Telemetry: the primary key (node, item id) is what makes redelivery idempotent.
    for (const table of ["status_reports", "alerts"]) {
      await db.schema
        .createTable(table)
        .addColumn("node_id", "text", (c) => c.notNull())
        .addColumn("item_id", "text", (c) => c.notNull())
        .addColumn("org_id", "text", (c) => c.notNull())
        .addColumn("time", "text", (c) => c.notNull())
        .addColumn("received_at", "text", (c) => c.notNull())
        .addColumn("data", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint(`${table}_pk`, ["node_id", "item_id"])
        .execute();
      await db.schema.createIndex(`${table}_org_received`).on(table).columns(["org_id", "received_at"]).execute();
    }

    await db.schema
      .createTable("audit_log")
      .addColumn("seq", "integer", (c) => c.primaryKey())
      .addColumn("time", "text", (c) => c.notNull())
      .addColumn("org_id", "text")
      .addColumn("actor", "text", (c) => c.notNull())
      .addColumn("action", "text", (c) => c.notNull())
      .addColumn("subject", "text", (c) => c.notNull())
      .addColumn("data", "text", (c) => c.notNull())
      .addColumn("prev_hash", "text", (c) => c.notNull())
      .addColumn("hash", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("audit_log_org_seq").on("audit_log").columns(["org_id", "seq"]).execute();

    // One row; writers lock it first, which serialises appends to the chain.
    await db.schema
      .createTable("audit_head")
      .addColumn("id", "integer", (c) => c.primaryKey())
      .addColumn("seq", "integer", (c) => c.notNull())
      .addColumn("hash", "text", (c) => c.notNull())
      .execute();
    await (db as Kysely<{ audit_head: { id: number; seq: number; hash: string } }>)
      .insertInto("audit_head")
      .values({ id: 1, seq: 0, hash: "0".repeat(64) }) // the chain's genesis prevHash
      .execute();

    await db.schema
      .createTable("node_nonces")
      .addColumn("node_id", "text", (c) => c.notNull())
      .addColumn("nonce", "text", (c) => c.notNull())
      .addColumn("expires_at", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("node_nonces_pk", ["node_id", "nonce"])
      .execute();
    await db.schema.createIndex("node_nonces_expires").on("node_nonces").column("expires_at").execute();
  },
};

/** Every migration, in order. The keys are the names recorded in kysely_migration. */
export const HUB_MIGRATIONS: Readonly<Record<string, Migration>> = {
  "0001_initial": m0001,
};

export const hubMigrationProvider: MigrationProvider = {
  getMigrations: async () => ({ ...HUB_MIGRATIONS }),
};

/** Brings the schema to the latest version; returns the names it applied. */
export async function migrateHubDb(db: Kysely<unknown>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: hubMigrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName ?? "(before any migration ran)";
    throw new PalisadeError("HUB_STORE", `database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`, {
      hint: "the database was left at the last migration that succeeded; fix the cause (permissions, disk space, a newer schema from a newer hub) and restart",
      cause: error,
    });
  }
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { HUB_MIGRATIONS, migrateHubDb } from "../../../src/hub/migrations.js";
import { openHubDb } from "../../../src/hub/openHubDb.js";
import type { TestHub } from "../helpers.js";

export function migrationSuite(t: TestHub): void {
  describe("migrations", () => {
    it("applied every migration at start, recorded by name", async () => {
      const rows = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(t.hub.db);
      expect(rows.rows.map((r) => r.name)).toEqual(Object.keys(HUB_MIGRATIONS));
    });

    it("is idempotent: migrating again (a restart, a second replica) applies nothing", async () => {
      expect(await migrateHubDb(t.hub.db as never)).toEqual([]);
      const again = await openHubDb(t.db.url);
      await again.close();
    });

    it("created every table the hub uses, and the audit chain's genesis head", async () => {
      for (const table of ["orgs", "api_tokens", "enrollment_tokens", "nodes", "publishers", "publisher_keys", "bundles", "deployments", "status_reports", "alerts", "audit_log", "node_nonces"] as const) {
        await expect(t.hub.db.selectFrom(table).select(sql`count(*)`.as("n")).execute()).resolves.toBeDefined();
      }
      const head = await t.hub.db.selectFrom("audit_head").selectAll().executeTakeFirstOrThrow();
      expect(head.seq).toBeGreaterThanOrEqual(2); // bootstrap: org.create + token.create
    });

    it("answers /healthz with the database kind", async () => {
      const r = await t.req("GET", "/healthz", { token: null });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ ok: true, database: t.backend.name });
    });
  });
}

/**
 * Node admission below the HTTP layer. SQLite: the in-memory nonce store's
 * sweep removes only what has expired (replay protection must never end
 * early), whatever order nodes' clocks put the expiry times in. PostgreSQL:
 * requests admitted in one batched statement still spend each nonce once,
 * also when the same nonce is twice in one batch.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HubDb } from "../../src/hub/hubDatabase.js";
import { PostgresNodeAdmission, SqliteNodeAdmission } from "../../src/hub/nodeAdmission.js";
import { openHubDb } from "../../src/hub/openHubDb.js";
import { bootstrapIfEmpty } from "../../src/hub/bootstrap.js";
import { runnableBackends, scratchDb, type ScratchDb } from "./helpers.js";

describe("SqliteNodeAdmission", () => {
  let hub: HubDb;
  beforeAll(async () => {
    hub = await openHubDb("sqlite::memory:");
  });
  afterAll(async () => {
    await hub.close();
  });

  it("refuses a nonce until it expires, then forgets it", async () => {
    const a = new SqliteNodeAdmission(hub);
    // No such node in the database: the nonce is still spent, and the node is reported unknown.
    expect((await a.admit("node_x", "nonce-aaaaaaaaaaaaaaaa", 1000)).kind).toBe("unknown");
    expect((await a.admit("node_x", "nonce-aaaaaaaaaaaaaaaa", 1000)).kind).toBe("replay");
    await a.sweep(999);
    expect((await a.admit("node_x", "nonce-aaaaaaaaaaaaaaaa", 1000)).kind).toBe("replay");
    await a.sweep(1001);
    expect(a.size).toBe(0);
    expect((await a.admit("node_x", "nonce-aaaaaaaaaaaaaaaa", 1000)).kind).toBe("unknown");
  });

  it("never forgets an unexpired nonce, in any order of expiry times", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 110 }), async (untils, now) => {
        const a = new SqliteNodeAdmission(hub);
        for (const [i, until] of untils.entries()) await a.admit("node_p", `nonce-${String(i).padStart(16, "0")}`, until);
        await a.sweep(now);
        for (const [i, until] of untils.entries()) {
          if (until >= now) expect((await a.admit("node_p", `nonce-${String(i).padStart(16, "0")}`, until)).kind).toBe("replay");
        }
        // Once everything has expired, everything is gone (memory stays bounded).
        await a.sweep(1000);
        expect(a.size).toBe(0);
      }),
      { numRuns: 100 },
    );
  });
});

const postgres = runnableBackends().filter((b) => b.name === "postgres");
describe.each(postgres)("PostgresNodeAdmission ($name)", (backend) => {
  let db: ScratchDb;
  let hub: HubDb;
  let nodeId: string;
  beforeAll(async () => {
    db = await scratchDb(backend);
    hub = await openHubDb(db.url);
    const boot = await bootstrapIfEmpty(hub);
    nodeId = "node_admissiontest0001";
    await hub.db
      .insertInto("nodes")
      .values({ id: nodeId, org_id: boot!.org.id, public_key: "k".repeat(43), labels: '{"a":"b"}', agent_version: "t", hostname: "t", enrollment_token_id: "none", enrolled_at: new Date().toISOString(), last_seen_at: null, revoked_at: null, revoke_reason: null, workloads: "[]", status_at: null })
      .execute();
  });
  afterAll(async () => {
    await hub?.close();
    await db?.drop();
  });

  it("admits a nonce once even when its copies share one statement, and reads the node's state with it", async () => {
    const a = new PostgresNodeAdmission(hub);
    const until = Date.now() + 60_000;
    // Synchronous calls: all of them wait for the same setImmediate, i.e. one batch.
    const answers = await Promise.all([
      a.admit(nodeId, "dup-aaaaaaaaaaaaaaaa", until),
      a.admit(nodeId, "dup-aaaaaaaaaaaaaaaa", until),
      a.admit(nodeId, "other-bbbbbbbbbbbbbbbb", until),
      a.admit("node_nosuchnode000000", "dup-aaaaaaaaaaaaaaaa", until),
      a.admit(nodeId, "dup-aaaaaaaaaaaaaaaa", until),
    ]);
    expect(answers.map((x) => x.kind)).toEqual(["fresh", "replay", "fresh", "unknown", "replay"]);
    expect(answers[0]).toMatchObject({ state: { labels: '{"a":"b"}', revokedAt: null } });
    expect(a.batches).toBe(1);
    // Committed: a later batch (or another replica) finds it in the table.
    expect((await new PostgresNodeAdmission(hub).admit(nodeId, "dup-aaaaaaaaaaaaaaaa", until)).kind).toBe("replay");
    await a.sweep(until + 1);
    expect((await a.admit(nodeId, "dup-aaaaaaaaaaaaaaaa", until)).kind).toBe("fresh");
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEntryHash, GENESIS_HASH, verifyAuditChain } from "../../../src/hub/auditChain.js";
import type { AuditLogTable } from "../../../src/hub/hubDatabase.js";
import { envelope, TestHub, unique } from "../helpers.js";

export function auditSuite(shared: TestHub): void {
  describe("hash-chained audit log", () => {
    // Tampering breaks the chain for good, so these tests get a hub of their own.
    const t = new TestHub(shared.backend);
    beforeAll(async () => {
      await t.start();
      const pub = await t.newPublisher(); // publisher.create, publisher-key.add, token.create
      const node = await t.newNode({ a: "b" }); // enrollment-token.create, node.enroll
      const up = await t.upload(pub, envelope(unique("app"), 1)); // bundle.upload
      const dep = await t.req("POST", "/v1/deployments", { body: { name: "d1", bundleDigest: up.json.digest, selector: { matchLabels: { a: "b" } } } });
      await t.req("PATCH", `/v1/deployments/${dep.json.id}`, { body: { selector: { matchLabels: { a: "c" } } } });
      await t.req("DELETE", `/v1/deployments/${dep.json.id}`);
      await t.req("PATCH", `/v1/nodes/${node.id}/labels`, { body: { labels: { a: "c" } } });
      await t.req("POST", `/v1/nodes/${node.id}/revoke`);
      await t.req("POST", `/v1/publishers/${pub.id}/keys/${pub.keyId}/revoke`);
      const tok = await t.req("POST", "/v1/tokens", { body: { name: "x", role: "viewer" } });
      await t.req("POST", `/v1/tokens/${tok.json.id}/revoke`);
      const enr = await t.req("POST", "/v1/enrollment-tokens", { body: {} });
      await t.req("POST", `/v1/enrollment-tokens/${enr.json.id}/revoke`);
      await t.req("POST", "/v1/orgs", { body: { name: unique("org") } });
    });
    afterAll(async () => {
      await t.stop();
    });

    const rows = () => t.hub.db.selectFrom("audit_log").selectAll().orderBy("seq").execute();
    const verify = () => verifyAuditChain(t.hub.db);

    it("records every kind of write, with its actor, in one unbroken chain", async () => {
      const r = await t.req("GET", "/v1/audit?limit=1000");
      const actions = new Set(r.json.map((e: { action: string }) => e.action));
      for (const a of [
        "org.create", "token.create", "token.revoke", "enrollment-token.create", "enrollment-token.revoke", "node.enroll", "node.labels", "node.revoke",
        "publisher.create", "publisher-key.add", "publisher-key.revoke", "bundle.upload", "deployment.create", "deployment.update", "deployment.delete",
      ]) expect(actions, a).toContain(a);
      const enroll = r.json.find((e: { action: string }) => e.action === "node.enroll");
      expect(enroll.actor).toMatch(/^enrollment-token:enr_/);
      expect(r.json.find((e: { action: string }) => e.action === "node.revoke").actor).toMatch(/^token:tok_/);
      // Entries as served re-hash to their hash and link to their predecessor.
      const all = await rows();
      expect(all[0]!.prev_hash).toBe(GENESIS_HASH);
      all.forEach((row, i) => {
        expect(row.seq).toBe(i + 1);
        if (i > 0) expect(row.prev_hash).toBe(all[i - 1]!.hash);
      });
      for (const e of r.json) expect(auditEntryHash(e)).toBe(e.hash);
      // No secret ever reaches the log.
      expect(JSON.stringify(all)).not.toContain(t.adminToken);
      const v = await verify();
      expect(v).toMatchObject({ ok: true, entries: all.length, headSeq: all.length });
    });

    it("detects a changed entry and names its seq", async () => {
      const [third, fifth] = [(await rows())[2] as AuditLogTable, (await rows())[4] as AuditLogTable];
      await t.hub.db.updateTable("audit_log").set({ data: '{"name":"mallory"}' }).where("seq", "=", 3).execute();
      expect(await verify()).toMatchObject({ ok: false, firstBadSeq: 3, reason: expect.stringContaining("changed") });
      await t.hub.db.updateTable("audit_log").set({ data: third.data }).where("seq", "=", 3).execute();
      // Changing who did it (not just what) is caught the same way.
      await t.hub.db.updateTable("audit_log").set({ actor: "token:tok_someoneelse" }).where("seq", "=", 5).execute();
      expect(await verify()).toMatchObject({ ok: false, firstBadSeq: 5 });
      await t.hub.db.updateTable("audit_log").set({ actor: fifth.actor }).where("seq", "=", 5).execute();
      expect((await verify()).ok).toBe(true);
    });

    it("detects a removed entry", async () => {
      const victim = (await rows())[3] as AuditLogTable;
      await t.hub.db.deleteFrom("audit_log").where("seq", "=", 4).execute();
      expect(await verify()).toMatchObject({ ok: false, firstBadSeq: 4, reason: expect.stringContaining("missing") });
      await t.hub.db.insertInto("audit_log").values(victim).execute();
      expect((await verify()).ok).toBe(true);
    });

    it("detects reordered entries", async () => {
      const all = await rows();
      const [a, b] = [all[5] as AuditLogTable, all[6] as AuditLogTable];
      // Swap two entries' positions: each keeps its content but takes the other's seq.
      await t.hub.db.updateTable("audit_log").set({ seq: -1 }).where("seq", "=", a.seq).execute();
      await t.hub.db.updateTable("audit_log").set({ seq: a.seq }).where("seq", "=", b.seq).execute();
      await t.hub.db.updateTable("audit_log").set({ seq: b.seq }).where("seq", "=", -1).execute();
      expect(await verify()).toMatchObject({ ok: false, firstBadSeq: a.seq });
      await t.hub.db.deleteFrom("audit_log").where("seq", "in", [a.seq, b.seq]).execute();
      await t.hub.db.insertInto("audit_log").values([a, b]).execute();
      expect((await verify()).ok).toBe(true);
    });

    it("detects truncation of the newest entries, and a rewritten chain against an anchor", async () => {
      const all = await rows();
      const last = all[all.length - 1] as AuditLogTable;
      await t.hub.db.deleteFrom("audit_log").where("seq", "=", last.seq).execute();
      expect(await verify()).toMatchObject({ ok: false, firstBadSeq: last.seq, reason: expect.stringContaining("truncated") });
      await t.hub.db.insertInto("audit_log").values(last).execute();
      expect(await verifyAuditChain(t.hub.db, { seq: 2, hash: all[1]!.hash })).toMatchObject({ ok: true });
      expect(await verifyAuditChain(t.hub.db, { seq: 2, hash: "f".repeat(64) })).toMatchObject({ ok: false, firstBadSeq: 2 });
      // An entry slipped in before the start of the chain is caught too.
      await t.hub.db.insertInto("audit_log").values({ ...last, seq: 0 }).execute();
      expect(await verify()).toMatchObject({ ok: false, firstBadSeq: 0 });
      await t.hub.db.deleteFrom("audit_log").where("seq", "=", 0).execute();
      expect((await verify()).ok).toBe(true);
    });

  });
}

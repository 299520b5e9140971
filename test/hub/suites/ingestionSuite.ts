import { describe, expect, it } from "vitest";
import type { TestHub } from "../helpers.js";

const workload = (state: string) => ({ name: "cam", state, bundleDigest: `sha256:${"b".repeat(64)}` });

export function ingestionSuite(t: TestHub): void {
  describe("status and alert ingestion", () => {
    it("stores a status batch once however often it is delivered", async () => {
      const node = await t.newNode();
      const batch = {
        items: [
          { id: "s-1", time: "2025-03-01T10:00:00Z", workloads: [workload("pending")] },
          { id: "s-2", time: "2025-03-01T10:00:30Z", agentVersion: "0.2.0", workloads: [workload("running")] },
        ],
      };
      const first = await t.nodeReq(node, "POST", "/v1/node/status", batch);
      expect(first.status).toBe(200);
      expect(first.json).toEqual({ stored: 2, duplicates: [] });
      const again = await t.nodeReq(node, "POST", "/v1/node/status", batch);
      expect(again.json).toEqual({ stored: 0, duplicates: ["s-1", "s-2"] });
      const mixed = await t.nodeReq(node, "POST", "/v1/node/status", { items: [batch.items[1], { id: "s-3", time: "2025-03-01T10:01:00Z", workloads: [workload("failed")] }] });
      expect(mixed.json).toEqual({ stored: 1, duplicates: ["s-2"] });
      const rows = await t.hub.db.selectFrom("status_reports").select("item_id").where("node_id", "=", node.id).execute();
      expect(rows.map((r) => r.item_id).sort()).toEqual(["s-1", "s-2", "s-3"]);
      const shown = await t.req("GET", `/v1/nodes/${node.id}`);
      expect(shown.json).toMatchObject({ workloads: [workload("failed")], statusAt: "2025-03-01T10:01:00.000Z", agentVersion: "0.2.0" });
    });

    it("never lets an older report overwrite a newer one (batches may arrive out of order)", async () => {
      const node = await t.newNode();
      await t.nodeReq(node, "POST", "/v1/node/status", { items: [{ id: "new", time: "2025-03-02T00:00:00Z", workloads: [workload("running")] }] });
      await t.nodeReq(node, "POST", "/v1/node/status", { items: [{ id: "old", time: "2025-03-01T00:00:00Z", workloads: [workload("pending")] }] });
      const shown = await t.req("GET", `/v1/nodes/${node.id}`);
      expect(shown.json.workloads).toEqual([workload("running")]);
    });

    it("de-duplicates alerts by (node, id), also within one batch, and lists them once", async () => {
      const node = await t.newNode();
      const other = await t.newNode();
      const alert = (id: string) => ({ id, time: "2025-03-01T10:00:00Z", alert: { Operation: "File", Resource: "/etc/shadow", Action: "Block", PolicyName: "deny-shadow" } });
      const r = await t.nodeReq(node, "POST", "/v1/node/alerts", { items: [alert("a-1"), alert("a-2"), alert("a-1")] });
      expect(r.json).toEqual({ stored: 2, duplicates: ["a-1"] });
      expect((await t.nodeReq(node, "POST", "/v1/node/alerts", { items: [alert("a-2")] })).json).toEqual({ stored: 0, duplicates: ["a-2"] });
      // Ids are per node: another node's "a-1" is a different alert.
      expect((await t.nodeReq(other, "POST", "/v1/node/alerts", { items: [alert("a-1")] })).json.stored).toBe(1);
      const listed = await t.req("GET", `/v1/alerts?nodeId=${node.id}`);
      expect(listed.json.items.map((a: { id: string }) => a.id).sort()).toEqual(["a-1", "a-2"]);
      expect(listed.json.items[0].alert).toMatchObject({ Action: "Block" });
    });

    it("pages alerts with a cursor", async () => {
      const node = await t.newNode();
      const items = Array.from({ length: 5 }, (_, i) => ({ id: `p-${i}`, time: "2025-03-01T10:00:00Z", alert: { n: i } }));
      await t.nodeReq(node, "POST", "/v1/node/alerts", { items });
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 5; page++) {
        const r: { json: { items: { id: string }[]; nextCursor: string | null } } = await t.req("GET", `/v1/alerts?nodeId=${node.id}&limit=2${cursor ? `&cursor=${cursor}` : ""}`);
        seen.push(...r.json.items.map((a) => a.id));
        cursor = r.json.nextCursor;
        if (!cursor) break;
      }
      expect(seen.sort()).toEqual(items.map((i) => i.id));
      expect((await t.req("GET", "/v1/alerts?cursor=bogus")).json.error.path).toBe("query.cursor");
    });
  });
}

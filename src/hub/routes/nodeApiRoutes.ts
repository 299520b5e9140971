/**
 * The API enrolled nodes call, every request signed with the node key
 * (nodeAuth.ts): desired state, bundle bytes, status and alert batches.
 *
 * Status and alerts are delivered at least once by the agent's offline
 * queue; the table key (node, item id) and INSERT … ON CONFLICT DO NOTHING
 * make redelivery harmless, and the response lists which ids were already
 * stored so the agent can tell a retry from new data.
 */
import * as S from "../apiSchemas.js";
import { etagMatches } from "../desiredState.js";
import { hubError } from "../httpErrors.js";
import type { NodePrincipal } from "../hubContext.js";
import type { HubDb } from "../hubDatabase.js";
import { defineRoute, type HubRoute } from "../hubRoute.js";

export const nodeApiRoutes: HubRoute[] = [
  defineRoute({
    method: "GET",
    url: "/v1/node/desired-state",
    operationId: "getDesiredState",
    tag: "node",
    summary: "What this node should run; send If-None-Match with the last ETag to get 304 when nothing changed",
    auth: "node",
    response: S.DesiredState,
    otherResponses: { 304: "unchanged since the ETag in If-None-Match" },
    errors: ["HUB_NODE_AUTH", "HUB_NODE_CLOCK", "HUB_NODE_REPLAY", "HUB_NODE_REVOKED"],
    async handler({ caller, ctx, req, reply }) {
      const doc = await ctx.desired.get(caller.orgId, caller.generation, caller.labels);
      void reply.header("ETag", doc.etag).header("Cache-Control", "no-cache");
      const inm = req.headers["if-none-match"];
      if (etagMatches(typeof inm === "string" ? inm : undefined, doc.etag)) return reply.status(304).send();
      return reply.type("application/json; charset=utf-8").send(doc.body);
    },
  }),

  defineRoute({
    method: "GET",
    url: "/v1/node/bundles/:digest",
    operationId: "getNodeBundle",
    tag: "node",
    summary: "The canonical envelope bytes of a bundle in this node's desired state (hash them: they must equal the digest)",
    auth: "node",
    params: S.DigestParams,
    responseMediaType: "application/json",
    response: S.BundleEnvelopeSchema,
    errors: ["HUB_NOT_FOUND", "HUB_NODE_AUTH", "HUB_NODE_REVOKED"],
    async handler({ params, caller, ctx, reply }) {
      // Least privilege: a node may fetch only what it is told to run.
      const doc = await ctx.desired.get(caller.orgId, caller.generation, caller.labels);
      const row = doc.digests.has(params.digest)
        ? await ctx.hub.db.selectFrom("bundles").select("bytes").where("org_id", "=", caller.orgId).where("digest", "=", params.digest).executeTakeFirst()
        : undefined;
      if (!row) throw hubError("HUB_NOT_FOUND", `bundle ${params.digest} is not in this node's desired state`, "fetch the desired state again; it may have changed");
      return reply.header("Cache-Control", "private, max-age=31536000, immutable").type("application/json").send(row.bytes);
    },
  }),

  defineRoute({
    method: "POST",
    url: "/v1/node/status",
    operationId: "postNodeStatus",
    tag: "node",
    summary: "Report workload status (batch; redelivered ids are ignored). The newest report becomes the node's workloads",
    auth: "node",
    body: S.StatusBody,
    response: S.IngestResponse,
    async handler({ body, caller, ctx }) {
      const now = new Date().toISOString();
      const items = body.items.map((i) => ({ ...i, time: new Date(i.time).toISOString() }));
      return ctx.hub.db.transaction().execute(async (trx) => {
        const result = await ingest({ db: trx }, "status_reports", caller, items.map((i) => ({ id: i.id, time: i.time, data: { agentVersion: i.agentVersion, workloads: i.workloads } })), now);
        const fresh = items.filter((i) => result.stored.has(i.id)).sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0))[0];
        if (fresh) {
          // Only a report newer than the one shown replaces it: batches may arrive out of order.
          await trx
            .updateTable("nodes")
            .set({ workloads: JSON.stringify(fresh.workloads), status_at: fresh.time, ...(fresh.agentVersion ? { agent_version: fresh.agentVersion } : {}) })
            .where("id", "=", caller.nodeId)
            .where((eb) => eb.or([eb("status_at", "is", null), eb("status_at", "<", fresh.time)]))
            .execute();
        }
        return { stored: result.stored.size, duplicates: result.duplicates };
      });
    },
  }),

  defineRoute({
    method: "POST",
    url: "/v1/node/alerts",
    operationId: "postNodeAlerts",
    tag: "node",
    summary: "Report alerts (batch, KubeArmor JSON shape; redelivered ids are ignored)",
    auth: "node",
    body: S.AlertsBody,
    response: S.IngestResponse,
    async handler({ body, caller, ctx }) {
      const now = new Date().toISOString();
      const items = body.items.map((i) => ({ id: i.id, time: new Date(i.time).toISOString(), data: i.alert }));
      const result = await ingest(ctx.hub, "alerts", caller, items, now);
      return { stored: result.stored.size, duplicates: result.duplicates };
    },
  }),
];

async function ingest(
  hub: Pick<HubDb, "db">,
  table: "status_reports" | "alerts",
  caller: NodePrincipal,
  items: readonly { id: string; time: string; data: unknown }[],
  receivedAt: string,
): Promise<{ stored: Set<string>; duplicates: string[] }> {
  const rows = items.map((i) => ({ node_id: caller.nodeId, item_id: i.id, org_id: caller.orgId, time: i.time, received_at: receivedAt, data: JSON.stringify(i.data) }));
  const inserted = await hub.db
    .insertInto(table)
    .values(rows)
    .onConflict((oc) => oc.columns(["node_id", "item_id"]).doNothing())
    .returning("item_id")
    .execute();
  const stored = new Set(inserted.map((r) => r.item_id));
  // An id repeated inside one batch is stored once; its repeats count as duplicates too.
  const duplicates: string[] = [];
  const seen = new Set<string>();
  for (const i of items) {
    if (stored.has(i.id) && !seen.has(i.id)) seen.add(i.id);
    else duplicates.push(i.id);
  }
  return { stored, duplicates };
}

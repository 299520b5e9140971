/** Nodes as admins and viewers see them: list, inspect, relabel, revoke; and their alerts. */
import { ADMIN, READ_ROLES } from "../apiAuth.js";
import * as S from "../apiSchemas.js";
import { writeTx } from "../auditChain.js";
import { badField, notFound } from "../httpErrors.js";
import { defineRoute, type HubRoute } from "../hubRoute.js";
import { parseSelectorQuery, selectorMatches } from "../labelSelector.js";
import { nodeView } from "../views.js";

export const nodeRoutes: HubRoute[] = [
  defineRoute({
    method: "GET",
    url: "/v1/nodes",
    operationId: "listNodes",
    tag: "nodes",
    summary: "Nodes of the org, optionally filtered by a label selector",
    auth: { roles: READ_ROLES, operation: "read nodes" },
    query: S.ListNodesQuery,
    response: S.Node.array(),
    async handler({ query, caller, ctx }) {
      const selector = query.selector === undefined ? undefined : parseSelectorQuery(query.selector);
      const rows = await ctx.hub.db.selectFrom("nodes").selectAll().where("org_id", "=", caller.orgId).orderBy("enrolled_at").orderBy("id").execute();
      return rows
        .map((r) => nodeView(r, ctx.activity.pendingLastSeen(r.id), ctx.offlineAfterSeconds))
        .filter((n) => selector === undefined || selectorMatches(selector, n.labels));
    },
  }),

  defineRoute({
    method: "GET",
    url: "/v1/nodes/:id",
    operationId: "getNode",
    tag: "nodes",
    summary: "One node",
    auth: { roles: READ_ROLES, operation: "read nodes" },
    params: S.IdParams,
    response: S.Node,
    errors: ["HUB_NOT_FOUND"],
    async handler({ params, caller, ctx }) {
      const r = await ctx.hub.db.selectFrom("nodes").selectAll().where("id", "=", params.id).where("org_id", "=", caller.orgId).executeTakeFirst();
      if (!r) throw notFound("node", params.id);
      return nodeView(r, ctx.activity.pendingLastSeen(r.id), ctx.offlineAfterSeconds);
    },
  }),

  defineRoute({
    method: "PATCH",
    url: "/v1/nodes/:id/labels",
    operationId: "patchNodeLabels",
    tag: "nodes",
    summary: "Set (value) or remove (null) node labels; deployments re-select at the node's next poll",
    auth: { roles: ADMIN, operation: "change node labels" },
    params: S.IdParams,
    body: S.PatchLabelsBody,
    response: S.Node,
    errors: ["HUB_NOT_FOUND"],
    async handler({ params, body, caller, ctx }) {
      return writeTx(ctx.hub, caller.actor, async (tx) => {
        const r = await tx.trx.selectFrom("nodes").selectAll().where("id", "=", params.id).where("org_id", "=", caller.orgId).executeTakeFirst();
        if (!r) throw notFound("node", params.id);
        const labels = JSON.parse(r.labels) as Record<string, string>;
        for (const [k, v] of Object.entries(body.labels)) {
          if (v === null) delete labels[k];
          else labels[k] = v;
        }
        if (Object.keys(labels).length > S.MAX_LABELS) throw badField("body.labels", `a node may have at most ${S.MAX_LABELS} labels`, "remove some labels");
        // Sorted so equal label sets are equal text (they key the desired-state cache via canonical JSON anyway).
        const text = JSON.stringify(Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
        await tx.trx.updateTable("nodes").set({ labels: text }).where("id", "=", r.id).execute();
        await tx.audit({ orgId: caller.orgId, action: "node.labels", subject: `node:${r.id}`, data: { patch: body.labels, labels } });
        return nodeView({ ...r, labels: text }, ctx.activity.pendingLastSeen(r.id), ctx.offlineAfterSeconds);
      });
    },
  }),

  defineRoute({
    method: "POST",
    url: "/v1/nodes/:id/revoke",
    operationId: "revokeNode",
    tag: "nodes",
    summary: "Revoke a node: its signed requests are refused from now on (403 HUB_NODE_REVOKED)",
    auth: { roles: ADMIN, operation: "revoke nodes" },
    params: S.IdParams,
    body: S.RevokeBody,
    response: S.Node,
    errors: ["HUB_NOT_FOUND"],
    async handler({ params, body, caller, ctx }) {
      return writeTx(ctx.hub, caller.actor, async (tx) => {
        const r = await tx.trx.selectFrom("nodes").selectAll().where("id", "=", params.id).where("org_id", "=", caller.orgId).executeTakeFirst();
        if (!r) throw notFound("node", params.id);
        if (r.revoked_at !== null) return nodeView(r, undefined, ctx.offlineAfterSeconds);
        const revokedAt = new Date().toISOString();
        const reason = body.reason ?? "";
        await tx.trx.updateTable("nodes").set({ revoked_at: revokedAt, revoke_reason: reason }).where("id", "=", r.id).execute();
        await tx.audit({ orgId: caller.orgId, action: "node.revoke", subject: `node:${r.id}`, data: { reason, publicKey: r.public_key } });
        return nodeView({ ...r, revoked_at: revokedAt, revoke_reason: reason }, undefined, ctx.offlineAfterSeconds);
      });
    },
  }),

  defineRoute({
    method: "GET",
    url: "/v1/alerts",
    operationId: "listAlerts",
    tag: "nodes",
    summary: "Alerts reported by the org's nodes, oldest received first; page with nextCursor",
    auth: { roles: READ_ROLES, operation: "read alerts" },
    query: S.ListAlertsQuery,
    response: S.AlertPage,
    async handler({ query, caller, ctx }) {
      let q = ctx.hub.db.selectFrom("alerts").selectAll().where("org_id", "=", caller.orgId);
      if (query.nodeId !== undefined) q = q.where("node_id", "=", query.nodeId);
      if (query.cursor !== undefined) {
        const c = decodeCursor(query.cursor);
        // Keyset pagination on (received_at, node_id, item_id): stable while new alerts arrive.
        q = q.where((eb) =>
          eb.or([
            eb("received_at", ">", c[0]),
            eb.and([eb("received_at", "=", c[0]), eb("node_id", ">", c[1])]),
            eb.and([eb("received_at", "=", c[0]), eb("node_id", "=", c[1]), eb("item_id", ">", c[2])]),
          ]),
        );
      }
      const rows = await q.orderBy("received_at").orderBy("node_id").orderBy("item_id").limit(query.limit).execute();
      const last = rows[rows.length - 1];
      return {
        items: rows.map((r) => ({ nodeId: r.node_id, id: r.item_id, time: r.time, receivedAt: r.received_at, alert: JSON.parse(r.data) as Record<string, unknown> })),
        nextCursor: rows.length === query.limit && last ? alertCursor({ receivedAt: last.received_at, nodeId: last.node_id, id: last.item_id }) : null,
      };
    },
  }),
];

/**
 * The page cursor that resumes after `item`: base64url of the JSON array
 * [receivedAt, nodeId, id]. Exported so a follower (`palisade alerts
 * --follow`) can resume after the last alert it saw, also when the hub said
 * there was no next page yet.
 */
export function alertCursor(item: { readonly receivedAt: string; readonly nodeId: string; readonly id: string }): string {
  return Buffer.from(JSON.stringify([item.receivedAt, item.nodeId, item.id])).toString("base64url");
}

function decodeCursor(cursor: string): [string, string, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown;
    if (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === "string")) return v as [string, string, string];
  } catch {
    // fall through
  }
  throw badField("query.cursor", "cursor is not one this hub returned", "pass nextCursor from the previous page unchanged");
}

/** Orgs, API tokens, whoami and the audit log. */
import { ADMIN, READ_ROLES } from "../apiAuth.js";
import * as S from "../apiSchemas.js";
import { auditEntryFromRow, writeTx } from "../auditChain.js";
import { createOrg, issueAdminToken } from "../bootstrap.js";
import { badField, hubError, notFound } from "../httpErrors.js";
import { defineRoute, type HubRoute } from "../hubRoute.js";
import { newSecretToken } from "../secretTokens.js";
import { orgView, tokenView } from "../views.js";

export const orgRoutes: HubRoute[] = [
  defineRoute({
    method: "GET",
    url: "/v1/whoami",
    operationId: "whoami",
    tag: "tokens",
    summary: "The calling token: org, role, publisher",
    auth: { roles: READ_ROLES, operation: "read" },
    response: S.WhoAmI,
    async handler({ caller }) {
      return { tokenId: caller.tokenId, orgId: caller.orgId, orgName: caller.orgName, role: caller.role, publisherId: caller.publisherId, operator: caller.operator };
    },
  }),

  defineRoute({
    method: "GET",
    url: "/v1/orgs",
    operationId: "listOrgs",
    tag: "orgs",
    summary: "Orgs: all of them for operator-org admins, otherwise the caller's own",
    auth: { roles: READ_ROLES, operation: "read orgs" },
    response: S.Org.array(),
    async handler({ caller, ctx }) {
      let q = ctx.hub.db.selectFrom("orgs").selectAll().orderBy("name");
      if (!(caller.operator && caller.role === "admin")) q = q.where("id", "=", caller.orgId);
      return (await q.execute()).map(orgView);
    },
  }),

  defineRoute({
    method: "POST",
    url: "/v1/orgs",
    operationId: "createOrg",
    tag: "orgs",
    summary: "Create an org and its first admin token (operator-org admins only)",
    auth: { roles: ADMIN, operation: "create orgs" },
    body: S.CreateOrgBody,
    status: 201,
    response: S.CreateOrgResponse,
    errors: ["HUB_FORBIDDEN", "HUB_CONFLICT"],
    async handler({ body, caller, ctx }) {
      if (!caller.operator) throw hubError("HUB_FORBIDDEN", "only admins of the operator org may create orgs", "use an admin token of the org created at bootstrap");
      return writeTx(ctx.hub, caller.actor, async (tx) => {
        const org = await createOrg(tx, body.name);
        const t = await issueAdminToken(tx, org, caller.actor, "initial admin");
        const row = await tx.trx.selectFrom("api_tokens").selectAll().where("id", "=", t.id).executeTakeFirstOrThrow();
        return { org: orgView(org), adminToken: { ...tokenView(row), token: t.token } };
      });
    },
  }),

  defineRoute({
    method: "GET",
    url: "/v1/tokens",
    operationId: "listTokens",
    tag: "tokens",
    summary: "API tokens of the org (never their secrets)",
    auth: { roles: ADMIN, operation: "list API tokens" },
    response: S.ApiToken.array(),
    async handler({ caller, ctx }) {
      const rows = await ctx.hub.db.selectFrom("api_tokens").selectAll().where("org_id", "=", caller.orgId).orderBy("created_at").execute();
      return rows.map(tokenView);
    },
  }),

  defineRoute({
    method: "POST",
    url: "/v1/tokens",
    operationId: "createToken",
    tag: "tokens",
    summary: "Create an API token; the secret is in this response only",
    auth: { roles: ADMIN, operation: "create API tokens" },
    body: S.CreateTokenBody,
    status: 201,
    response: S.CreatedApiToken,
    errors: ["HUB_BAD_REQUEST", "HUB_NOT_FOUND"],
    async handler({ body, caller, ctx }) {
      if (body.role === "publisher" && body.publisherId === undefined) {
        throw badField("body.publisherId", "a publisher token needs publisherId", "create the publisher first (POST /v1/publishers) and pass its id");
      }
      if (body.role !== "publisher" && body.publisherId !== undefined) {
        throw badField("body.publisherId", `publisherId is only for role publisher, not ${body.role}`, "remove publisherId");
      }
      if (body.expiresAt !== undefined && Date.parse(body.expiresAt) <= Date.now()) {
        throw badField("body.expiresAt", "expiresAt is in the past", "give a future time, or omit it for a token that does not expire");
      }
      return writeTx(ctx.hub, caller.actor, async (tx) => {
        if (body.publisherId !== undefined) {
          const p = await tx.trx.selectFrom("publishers").select("id").where("id", "=", body.publisherId).where("org_id", "=", caller.orgId).executeTakeFirst();
          if (!p) throw notFound("publisher", body.publisherId);
        }
        const t = newSecretToken("pat");
        const row = {
          id: t.id,
          org_id: caller.orgId,
          name: body.name,
          role: body.role,
          publisher_id: body.publisherId ?? null,
          secret_hash: t.hash,
          created_at: new Date().toISOString(),
          created_by: caller.actor,
          expires_at: body.expiresAt === undefined ? null : new Date(body.expiresAt).toISOString(),
          revoked_at: null,
        };
        await tx.trx.insertInto("api_tokens").values(row).execute();
        await tx.audit({ orgId: caller.orgId, action: "token.create", subject: `token:${t.id}`, data: { name: body.name, role: body.role, publisherId: row.publisher_id, expiresAt: row.expires_at } });
        return { ...tokenView(row), token: t.token };
      });
    },
  }),

  defineRoute({
    method: "POST",
    url: "/v1/tokens/:id/revoke",
    operationId: "revokeToken",
    tag: "tokens",
    summary: "Revoke an API token (takes effect on its next request)",
    auth: { roles: ADMIN, operation: "revoke API tokens" },
    params: S.IdParams,
    response: S.ApiToken,
    errors: ["HUB_NOT_FOUND"],
    async handler({ params, caller, ctx }) {
      return writeTx(ctx.hub, caller.actor, async (tx) => {
        const row = await tx.trx.selectFrom("api_tokens").selectAll().where("id", "=", params.id).where("org_id", "=", caller.orgId).executeTakeFirst();
        if (!row) throw notFound("token", params.id);
        if (row.revoked_at !== null) return tokenView(row);
        const revokedAt = new Date().toISOString();
        await tx.trx.updateTable("api_tokens").set({ revoked_at: revokedAt }).where("id", "=", row.id).execute();
        await tx.audit({ orgId: caller.orgId, action: "token.revoke", subject: `token:${row.id}`, data: { name: row.name, role: row.role } });
        return tokenView({ ...row, revoked_at: revokedAt });
      });
    },
  }),

  defineRoute({
    method: "GET",
    url: "/v1/audit",
    operationId: "listAudit",
    tag: "audit",
    summary: "The org's audit log entries, oldest first, with their chain hashes",
    description: "Entries are one hub-wide hash chain; this lists the caller org's entries (seq has gaps where other orgs' entries are). Verify the whole chain with `palisade audit verify`.",
    auth: { roles: ["admin", "viewer"], operation: "read the audit log" },
    query: S.AuditQuery,
    response: S.AuditEntrySchema.array(),
    async handler({ query, caller, ctx }) {
      const rows = await ctx.hub.db
        .selectFrom("audit_log")
        .selectAll()
        .where("org_id", "=", caller.orgId)
        .where("seq", ">", query.after)
        .orderBy("seq")
        .limit(query.limit)
        .execute();
      return rows.map(auditEntryFromRow);
    },
  }),
];

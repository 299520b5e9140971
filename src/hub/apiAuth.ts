/**
 * Bearer authentication for humans and CI: `Authorization: Bearer pat_…`.
 *
 * Roles (per org):
 *   admin      everything in the org: tokens, enrollment, nodes, publishers, keys,
 *              bundles, deployments, audit. Admins of the operator org (the one
 *              created at bootstrap) may also create orgs.
 *   publisher  acts for one publisher: uploads that publisher's signed bundles and
 *              deploys them; reads like a viewer.
 *   viewer     reads nodes, publishers, bundles, deployments, alerts and the audit log;
 *              never API or enrollment tokens, never writes.
 * Every route names the roles it allows (docs/api.md has the table).
 */
import type { FastifyRequest } from "fastify";
import { hubError } from "./httpErrors.js";
import type { HubDb, Role } from "./hubDatabase.js";
import type { TokenPrincipal } from "./hubContext.js";
import { tokenMatches, tokenRowId } from "./secretTokens.js";

export const READ_ROLES: readonly Role[] = ["admin", "publisher", "viewer"];
export const ADMIN: readonly Role[] = ["admin"];
export const PUBLISH_ROLES: readonly Role[] = ["admin", "publisher"];

const HOW = "send Authorization: Bearer <API token>; `palisade hub init` prints an admin token";

export async function authenticateToken(hub: HubDb, req: FastifyRequest): Promise<TokenPrincipal> {
  const auth = req.headers.authorization;
  if (auth === undefined) throw hubError("HUB_UNAUTHENTICATED", "this route needs an API token", HOW);
  const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
  if (!m) throw hubError("HUB_UNAUTHENTICATED", "the Authorization header is not `Bearer <token>`", HOW);
  const token = m[1] as string;
  const id = tokenRowId(token, "pat");
  const unknown = () => hubError("HUB_UNAUTHENTICATED", "unknown API token", "check the token was copied whole (pat_…); ask an admin for a new one");
  if (id === undefined) {
    if (token.startsWith("pet_")) throw hubError("HUB_UNAUTHENTICATED", "that is an enrollment token, not an API token", "enrollment tokens are only for POST /v1/enroll");
    throw unknown();
  }
  const row = await hub.db
    .selectFrom("api_tokens")
    .innerJoin("orgs", "orgs.id", "api_tokens.org_id")
    .select(["api_tokens.id", "api_tokens.org_id", "api_tokens.role", "api_tokens.publisher_id", "api_tokens.secret_hash", "api_tokens.expires_at", "api_tokens.revoked_at", "orgs.name as org_name", "orgs.operator"])
    .where("api_tokens.id", "=", id)
    .executeTakeFirst();
  // The hash comparison is constant-time; an unknown id answers identically.
  if (row === undefined || !tokenMatches(token, row.secret_hash)) throw unknown();
  if (row.revoked_at !== null) throw hubError("HUB_UNAUTHENTICATED", `API token ${row.id} was revoked at ${row.revoked_at}`, "ask an admin for a new token");
  if (row.expires_at !== null && row.expires_at <= new Date().toISOString()) {
    throw hubError("HUB_UNAUTHENTICATED", `API token ${row.id} expired at ${row.expires_at}`, "ask an admin for a new token");
  }
  return {
    kind: "token",
    tokenId: row.id,
    orgId: row.org_id,
    orgName: row.org_name,
    role: row.role,
    publisherId: row.publisher_id,
    operator: row.operator === 1,
    actor: `token:${row.id}`,
  };
}

export function requireRole(p: TokenPrincipal, roles: readonly Role[], operation: string): void {
  if (!roles.includes(p.role)) {
    throw hubError("HUB_FORBIDDEN", `role ${p.role} may not ${operation}`, `this needs role ${roles.join(" or ")}; ask an admin for such a token`);
  }
}

/**
 * Getting the first credential. A hub with no org creates one named
 * "default" at first start and prints its admin token once; `palisade hub
 * init --org NAME` does the same on demand and is also the recovery path
 * (it always issues a fresh admin token, for a new or an existing org).
 * Both need direct access to the database, which is the hub's trust root.
 */
import { writeTx, type WriteTx } from "./auditChain.js";
import type { HubDb, OrgTable } from "./hubDatabase.js";
import { newId, newSecretToken } from "./secretTokens.js";
import { hubError } from "./httpErrors.js";

export const DEFAULT_ORG = "default";

export interface IssuedAdmin {
  readonly org: OrgTable;
  /** True when the org was created now. */
  readonly created: boolean;
  readonly tokenId: string;
  readonly token: string;
}

/** Creates an org inside `tx` (the first org ever is the operator org). */
export async function createOrg(tx: WriteTx, name: string): Promise<OrgTable> {
  const existing = await tx.trx.selectFrom("orgs").select("id").where("name", "=", name).executeTakeFirst();
  if (existing) throw hubError("HUB_CONFLICT", `org "${name}" already exists`, "choose another name");
  const anyOrg = await tx.trx.selectFrom("orgs").select("id").limit(1).executeTakeFirst();
  const org: OrgTable = { id: newId("org"), name, operator: anyOrg ? 0 : 1, generation: 1, created_at: new Date().toISOString() };
  await tx.trx.insertInto("orgs").values(org).execute();
  await tx.audit({ orgId: org.id, action: "org.create", subject: `org:${org.id}`, data: { name, operator: org.operator === 1 } });
  return org;
}

/** Issues an admin API token for `org` inside `tx`. */
export async function issueAdminToken(tx: WriteTx, org: OrgTable, createdBy: string, name: string): Promise<{ id: string; token: string }> {
  const t = newSecretToken("pat");
  await tx.trx
    .insertInto("api_tokens")
    .values({
      id: t.id,
      org_id: org.id,
      name,
      role: "admin",
      publisher_id: null,
      secret_hash: t.hash,
      created_at: new Date().toISOString(),
      created_by: createdBy,
      expires_at: null,
      revoked_at: null,
    })
    .execute();
  await tx.audit({ orgId: org.id, action: "token.create", subject: `token:${t.id}`, data: { name, role: "admin" } });
  return { id: t.id, token: t.token };
}

/** First start: creates org "default" and its admin token when the hub has no org; otherwise nothing. */
export async function bootstrapIfEmpty(hub: HubDb): Promise<IssuedAdmin | undefined> {
  return writeTx(hub, "local:hub-bootstrap", async (tx) => {
    const anyOrg = await tx.trx.selectFrom("orgs").select("id").limit(1).executeTakeFirst();
    if (anyOrg) return undefined;
    const org = await createOrg(tx, DEFAULT_ORG);
    const t = await issueAdminToken(tx, org, "local:hub-bootstrap", "bootstrap admin");
    return { org, created: true, tokenId: t.id, token: t.token };
  });
}

/** `palisade hub init`: the org (created if missing) and a fresh admin token for it. */
export async function initOrg(hub: HubDb, name: string): Promise<IssuedAdmin> {
  return writeTx(hub, "local:hub-init", async (tx) => {
    const existing = await tx.trx.selectFrom("orgs").selectAll().where("name", "=", name).executeTakeFirst();
    const org = existing ?? (await createOrg(tx, name));
    const t = await issueAdminToken(tx, org, "local:hub-init", "hub init admin");
    return { org, created: existing === undefined, tokenId: t.id, token: t.token };
  });
}

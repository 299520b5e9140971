/**
 * Publishers and their Ed25519 signing keys. Admins register public keys
 * (the private halves never touch the hub); key ids are derived from the key
 * bytes. Revoking a key bumps the org's generation so every node's desired
 * state lists it under revokedKeys at the next poll.
 */
import { ADMIN, READ_ROLES } from "../apiAuth.js";
import * as S from "../apiSchemas.js";
import { writeTx } from "../auditChain.js";
import { isPublicKeyText, keyIdOf } from "../../core/signing/ed25519.js";
import { badField, hubError, notFound } from "../httpErrors.js";
import { defineRoute, type HubRoute } from "../hubRoute.js";
import { newId } from "../secretTokens.js";
import { publisherKeyView } from "../views.js";
import { bumpGeneration } from "./deploymentRoutes.js";

export const publisherRoutes: HubRoute[] = [
  defineRoute({
    method: "GET",
    url: "/v1/publishers",
    operationId: "listPublishers",
    tag: "publishers",
    summary: "Publishers of the org with their keys",
    auth: { roles: READ_ROLES, operation: "read publishers" },
    response: S.Publisher.array(),
    async handler({ caller, ctx }) {
      const pubs = await ctx.hub.db.selectFrom("publishers").selectAll().where("org_id", "=", caller.orgId).orderBy("name").execute();
      const keys = await ctx.hub.db.selectFrom("publisher_keys").selectAll().where("org_id", "=", caller.orgId).orderBy("created_at").execute();
      return pubs.map((p) => ({ id: p.id, name: p.name, createdAt: p.created_at, keys: keys.filter((k) => k.publisher_id === p.id).map(publisherKeyView) }));
    },
  }),

  defineRoute({
    method: "POST",
    url: "/v1/publishers",
    operationId: "createPublisher",
    tag: "publishers",
    summary: "Create a publisher (then add its keys, and publisher tokens for its CI)",
    auth: { roles: ADMIN, operation: "create publishers" },
    body: S.CreatePublisherBody,
    status: 201,
    response: S.Publisher,
    errors: ["HUB_CONFLICT"],
    async handler({ body, caller, ctx }) {
      return writeTx(ctx.hub, caller.actor, async (tx) => {
        const dup = await tx.trx.selectFrom("publishers").select("id").where("org_id", "=", caller.orgId).where("name", "=", body.name).executeTakeFirst();
        if (dup) throw hubError("HUB_CONFLICT", `publisher "${body.name}" already exists (${dup.id})`, "choose another name");
        const row = { id: newId("pub"), org_id: caller.orgId, name: body.name, created_at: new Date().toISOString() };
        await tx.trx.insertInto("publishers").values(row).execute();
        await tx.audit({ orgId: caller.orgId, action: "publisher.create", subject: `publisher:${row.id}`, data: { name: body.name } });
        return { id: row.id, name: row.name, createdAt: row.created_at, keys: [] };
      });
    },
  }),

  defineRoute({
    method: "POST",
    url: "/v1/publishers/:id/keys",
    operationId: "addPublisherKey",
    tag: "publishers",
    summary: "Register a publisher's Ed25519 public key",
    description: "Nodes enrolled from now on pin it. Nodes enrolled earlier do not trust it until they learn it out of band (see docs/hub.md, key rotation).",
    auth: { roles: ADMIN, operation: "register publisher keys" },
    params: S.IdParams,
    body: S.AddKeyBody,
    status: 201,
    response: S.PublisherKey,
    errors: ["HUB_NOT_FOUND", "HUB_CONFLICT"],
    async handler({ params, body, caller, ctx }) {
      if (!isPublicKeyText(body.publicKey)) throw badField("body.publicKey", "publicKey is not a canonical 32-byte Ed25519 key", "send the raw key in unpadded base64url");
      const keyId = keyIdOf(body.publicKey);
      return writeTx(ctx.hub, caller.actor, async (tx) => {
        const pub = await tx.trx.selectFrom("publishers").select("id").where("id", "=", params.id).where("org_id", "=", caller.orgId).executeTakeFirst();
        if (!pub) throw notFound("publisher", params.id);
        const dup = await tx.trx.selectFrom("publisher_keys").select(["publisher_id", "revoked_at"]).where("key_id", "=", keyId).executeTakeFirst();
        if (dup) {
          const state = dup.revoked_at === null ? "" : " and revoked (a revoked key cannot come back)";
          throw hubError("HUB_CONFLICT", `key ${keyId} is already registered${state}`, "generate a new key pair for a new key");
        }
        const row = { key_id: keyId, org_id: caller.orgId, publisher_id: pub.id, public_key: body.publicKey, name: body.name, created_at: new Date().toISOString(), revoked_at: null };
        await tx.trx.insertInto("publisher_keys").values(row).execute();
        await tx.audit({ orgId: caller.orgId, action: "publisher-key.add", subject: `publisher-key:${keyId}`, data: { publisherId: pub.id, publicKey: body.publicKey, name: body.name } });
        return publisherKeyView(row);
      });
    },
  }),

  defineRoute({
    method: "POST",
    url: "/v1/publishers/:id/keys/:keyId/revoke",
    operationId: "revokePublisherKey",
    tag: "publishers",
    summary: "Revoke a publisher key: no new bundles signed by it are accepted, and nodes are told to distrust it",
    auth: { roles: ADMIN, operation: "revoke publisher keys" },
    params: S.KeyParams,
    body: S.RevokeBody,
    response: S.PublisherKey,
    errors: ["HUB_NOT_FOUND"],
    async handler({ params, body, caller, ctx }) {
      return writeTx(ctx.hub, caller.actor, async (tx) => {
        const row = await tx.trx
          .selectFrom("publisher_keys")
          .selectAll()
          .where("key_id", "=", params.keyId)
          .where("publisher_id", "=", params.id)
          .where("org_id", "=", caller.orgId)
          .executeTakeFirst();
        if (!row) throw notFound("publisher key", params.keyId);
        if (row.revoked_at !== null) return publisherKeyView(row);
        const revokedAt = new Date().toISOString();
        await tx.trx.updateTable("publisher_keys").set({ revoked_at: revokedAt }).where("key_id", "=", row.key_id).execute();
        await bumpGeneration(tx, caller.orgId);
        await tx.audit({ orgId: caller.orgId, action: "publisher-key.revoke", subject: `publisher-key:${row.key_id}`, data: { publisherId: row.publisher_id, reason: body.reason ?? "" } });
        return publisherKeyView({ ...row, revoked_at: revokedAt });
      });
    },
  }),
];

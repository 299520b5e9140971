/**
 * Enrollment tokens and zero-touch enrollment.
 *
 * A token may be used `maxUses` times before `expiresAt`. The use count is
 * taken by one conditional UPDATE (`uses = uses + 1 WHERE uses < max_uses
 * AND expires_at > now AND revoked_at IS NULL`), so however many devices
 * enroll at once exactly `maxUses` succeed; the node row is inserted in the
 * same transaction, so a failed enrollment does not consume a use.
 */
import { sql } from "kysely";
import { ADMIN } from "../apiAuth.js";
import * as S from "../apiSchemas.js";
import { writeTx } from "../auditChain.js";
import { isPublicKeyText, verifyEd25519 } from "../../core/signing/ed25519.js";
import { badField, hubError, notFound } from "../httpErrors.js";
import { defineRoute, type HubRoute } from "../hubRoute.js";
import { CLOCK_WINDOW_MS, enrollProofMessage, NODE_SIGNATURE_SCHEME } from "../../core/signing/nodeSigning.js";
import { newId, newSecretToken, tokenMatches, tokenRowId } from "../secretTokens.js";
import { enrollmentTokenView } from "../views.js";

const UNKNOWN_HINT = "ask an admin for a new enrollment token (POST /v1/enrollment-tokens)";

export const enrollmentRoutes: HubRoute[] = [
  defineRoute({
    method: "GET",
    url: "/v1/enrollment-tokens",
    operationId: "listEnrollmentTokens",
    tag: "enrollment",
    summary: "Enrollment tokens of the org (never their secrets)",
    auth: { roles: ADMIN, operation: "list enrollment tokens" },
    response: S.EnrollmentToken.array(),
    async handler({ caller, ctx }) {
      const rows = await ctx.hub.db.selectFrom("enrollment_tokens").selectAll().where("org_id", "=", caller.orgId).orderBy("created_at").execute();
      return rows.map(enrollmentTokenView);
    },
  }),

  defineRoute({
    method: "POST",
    url: "/v1/enrollment-tokens",
    operationId: "createEnrollmentToken",
    tag: "enrollment",
    summary: "Create an enrollment token for N devices; the secret is in this response only",
    auth: { roles: ADMIN, operation: "create enrollment tokens" },
    body: S.CreateEnrollmentTokenBody,
    status: 201,
    response: S.CreatedEnrollmentToken,
    async handler({ body, caller, ctx }) {
      const t = newSecretToken("pet");
      const now = Date.now();
      const row = {
        id: t.id,
        org_id: caller.orgId,
        name: body.name,
        secret_hash: t.hash,
        max_uses: body.maxUses,
        uses: 0,
        labels: JSON.stringify(body.labels),
        expires_at: new Date(now + body.expiresInSeconds * 1000).toISOString(),
        created_at: new Date(now).toISOString(),
        created_by: caller.actor,
        revoked_at: null,
      };
      await writeTx(ctx.hub, caller.actor, async (tx) => {
        await tx.trx.insertInto("enrollment_tokens").values(row).execute();
        await tx.audit({ orgId: caller.orgId, action: "enrollment-token.create", subject: `enrollment-token:${t.id}`, data: { name: body.name, maxUses: body.maxUses, expiresAt: row.expires_at, labels: body.labels } });
      });
      return { ...enrollmentTokenView(row), token: t.token };
    },
  }),

  defineRoute({
    method: "POST",
    url: "/v1/enrollment-tokens/:id/revoke",
    operationId: "revokeEnrollmentToken",
    tag: "enrollment",
    summary: "Revoke an enrollment token (nodes already enrolled stay)",
    auth: { roles: ADMIN, operation: "revoke enrollment tokens" },
    params: S.IdParams,
    response: S.EnrollmentToken,
    errors: ["HUB_NOT_FOUND"],
    async handler({ params, caller, ctx }) {
      return writeTx(ctx.hub, caller.actor, async (tx) => {
        const row = await tx.trx.selectFrom("enrollment_tokens").selectAll().where("id", "=", params.id).where("org_id", "=", caller.orgId).executeTakeFirst();
        if (!row) throw notFound("enrollment-token", params.id);
        if (row.revoked_at !== null) return enrollmentTokenView(row);
        const revokedAt = new Date().toISOString();
        await tx.trx.updateTable("enrollment_tokens").set({ revoked_at: revokedAt }).where("id", "=", row.id).execute();
        await tx.audit({ orgId: caller.orgId, action: "enrollment-token.revoke", subject: `enrollment-token:${row.id}`, data: { name: row.name, uses: row.uses } });
        return enrollmentTokenView({ ...row, revoked_at: revokedAt });
      });
    },
  }),

  defineRoute({
    method: "POST",
    url: "/v1/enroll",
    operationId: "enroll",
    tag: "enrollment",
    summary: "Zero-touch enrollment: a device registers its Ed25519 key with an enrollment token",
    description:
      "No API token: the enrollment token is in the body, and `proof` shows the device holds the key it registers. The response carries the node id and the org's publisher keys, which the agent pins.",
    auth: "public",
    body: S.EnrollBody,
    status: 201,
    response: S.EnrollResponse,
    errors: ["HUB_ENROLLMENT_TOKEN", "HUB_ENROLLMENT_USED_UP", "HUB_ENROLLMENT_EXPIRED", "HUB_NODE_AUTH", "HUB_CONFLICT"],
    async handler({ body, ctx, req }) {
      const tokenId = tokenRowId(body.token, "pet");
      if (tokenId === undefined) {
        throw hubError("HUB_ENROLLMENT_TOKEN", body.token.startsWith("pat_") ? "that is an API token, not an enrollment token" : "not an enrollment token (pet_…)", UNKNOWN_HINT);
      }
      if (!isPublicKeyText(body.publicKey)) throw badField("body.publicKey", "publicKey is not a canonical 32-byte Ed25519 key", "send the raw key in unpadded base64url");
      if (!verifyEd25519(body.publicKey, enrollProofMessage(body.publicKey, body.token), body.proof)) {
        throw hubError("HUB_NODE_AUTH", "enrollment proof does not verify with the given public key", 'sign "palisade-enroll-v1\\n<publicKey>\\n<hex sha256(token)>" with the node key (docs/api.md)');
      }
      const result = await writeTx(ctx.hub, `enrollment-token:${tokenId}`, async (tx) => {
        const token = await tx.trx.selectFrom("enrollment_tokens").selectAll().where("id", "=", tokenId).executeTakeFirst();
        if (!token || !tokenMatches(body.token, token.secret_hash)) throw hubError("HUB_ENROLLMENT_TOKEN", "unknown enrollment token", UNKNOWN_HINT);
        if (token.revoked_at !== null) throw hubError("HUB_ENROLLMENT_TOKEN", `enrollment token ${token.id} was revoked at ${token.revoked_at}`, UNKNOWN_HINT);
        const dup = await tx.trx.selectFrom("nodes").select("id").where("public_key", "=", body.publicKey).executeTakeFirst();
        if (dup) throw hubError("HUB_CONFLICT", `this public key is already enrolled as node ${dup.id}`, "a device enrolls once; to start over, generate a new key");

        const now = new Date().toISOString();
        const taken = await tx.trx
          .updateTable("enrollment_tokens")
          .set({ uses: sql<number>`uses + 1` })
          .where("id", "=", token.id)
          .where("revoked_at", "is", null)
          .where("expires_at", ">", now)
          .where(sql<boolean>`uses < max_uses`)
          .executeTakeFirst();
        if (Number(taken.numUpdatedRows) !== 1) {
          const current = await tx.trx.selectFrom("enrollment_tokens").select(["uses", "max_uses", "expires_at"]).where("id", "=", token.id).executeTakeFirstOrThrow();
          if (current.expires_at <= now) throw hubError("HUB_ENROLLMENT_EXPIRED", `enrollment token ${token.id} expired at ${current.expires_at}`, UNKNOWN_HINT);
          throw hubError("HUB_ENROLLMENT_USED_UP", `enrollment token ${token.id} has been used ${current.uses} of ${current.max_uses} times`, `${UNKNOWN_HINT}, or one with more uses`);
        }
        // The admin's token labels override what the device proposes: selectors must not be steerable by devices.
        const labels = { ...body.labels, ...(JSON.parse(token.labels) as Record<string, string>) };
        if (Object.keys(labels).length > S.MAX_LABELS) throw badField("body.labels", `a node may have at most ${S.MAX_LABELS} labels (with the token's)`, "propose fewer labels");
        const nodeId = newId("node");
        await tx.trx
          .insertInto("nodes")
          .values({
            id: nodeId,
            org_id: token.org_id,
            public_key: body.publicKey,
            labels: JSON.stringify(labels),
            agent_version: body.agentVersion,
            hostname: body.hostname,
            enrollment_token_id: token.id,
            enrolled_at: now,
            last_seen_at: null,
            revoked_at: null,
            revoke_reason: null,
            workloads: "[]",
            status_at: null,
          })
          .execute();
        await tx.audit({
          orgId: token.org_id,
          action: "node.enroll",
          subject: `node:${nodeId}`,
          data: { publicKey: body.publicKey, labels, agentVersion: body.agentVersion, hostname: body.hostname, use: token.uses + 1 },
        });
        const keys = await tx.trx
          .selectFrom("publisher_keys as k")
          .innerJoin("publishers as p", "p.id", "k.publisher_id")
          .select(["k.key_id", "k.publisher_id", "k.public_key", "p.name"])
          .where("k.org_id", "=", token.org_id)
          .where("k.revoked_at", "is", null)
          .orderBy("k.key_id")
          .execute();
        return {
          nodeId,
          orgId: token.org_id,
          labels,
          publisherKeys: keys.map((k) => ({ keyId: k.key_id, publisherId: k.publisher_id, publisherName: k.name, publicKey: k.public_key })),
          requestSigning: { scheme: NODE_SIGNATURE_SCHEME as typeof NODE_SIGNATURE_SCHEME, clockWindowSeconds: CLOCK_WINDOW_MS / 1000 },
        };
      });
      req.log.info({ nodeId: result.nodeId, orgId: result.orgId }, "node enrolled");
      return result;
    },
  }),
];

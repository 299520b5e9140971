/**
 * Signed workload bundles (format: bundleFormat.ts). On upload the hub
 * recomputes the digest from the canonical envelope, checks the detached
 * signature against the org's registered, unrevoked key, checks the
 * workload and policies parse, and refuses a version that is not above the
 * latest of that name. This is defence in depth only: agents repeat the
 * signature check against keys they pinned, because the hub is not trusted
 * to author work.
 */
import { sql } from "kysely";
import { parseDocuments } from "../../policy/index.js";
import { PalisadeError } from "../../core/errors.js";
import { PUBLISH_ROLES, READ_ROLES } from "../apiAuth.js";
import * as S from "../apiSchemas.js";
import { writeTx } from "../auditChain.js";
import { bundleDigest, canonicalBundleBytes, envelopeProblems, verifyBundleSignature, type BundleEnvelope } from "../../core/signing/bundleFormat.js";
import { badField, hubError, notFound } from "../httpErrors.js";
import { defineRoute, type HubRoute } from "../hubRoute.js";
import { bundleView } from "../views.js";

const META = ["org_id", "digest", "name", "version", "publisher_id", "key_id", "signature", "created_at", "uploaded_by"] as const;

export const bundleRoutes: HubRoute[] = [
  defineRoute({
    method: "POST",
    url: "/v1/bundles",
    operationId: "uploadBundle",
    tag: "bundles",
    summary: "Upload a signed bundle (201 new, 200 when that exact bundle is already stored)",
    auth: { roles: PUBLISH_ROLES, operation: "upload bundles" },
    body: S.UploadBundleBody,
    status: 201,
    response: S.Bundle,
    errors: ["HUB_BUNDLE_SIGNATURE", "HUB_KEY_REVOKED", "HUB_BUNDLE_VERSION", "HUB_FORBIDDEN", "HUB_CONFLICT", "POLICY_SCHEMA"],
    async handler({ body, caller, ctx, reply }) {
      const envelope = body.envelope as BundleEnvelope;
      const problem = envelopeProblems(envelope)[0];
      if (problem !== undefined) throw badField(`body.envelope.${problem.split(":")[0]}`, problem, "see docs/hub.md, Bundle envelope");
      checkContent(envelope);
      const digest = bundleDigest(envelope);
      const bytes = canonicalBundleBytes(envelope).toString("utf8");
      const key = await ctx.hub.db
        .selectFrom("publisher_keys")
        .selectAll()
        .where("key_id", "=", body.signature.keyId)
        .where("org_id", "=", caller.orgId)
        .executeTakeFirst();
      if (!key) throw hubError("HUB_BUNDLE_SIGNATURE", `signing key ${body.signature.keyId} is not registered in this org`, "register the publisher's public key first (POST /v1/publishers/:id/keys)");
      if (caller.role === "publisher" && key.publisher_id !== caller.publisherId) {
        throw hubError("HUB_FORBIDDEN", `key ${key.key_id} belongs to another publisher`, "sign with one of your own publisher's keys");
      }
      if (key.revoked_at !== null) throw hubError("HUB_KEY_REVOKED", `signing key ${key.key_id} was revoked at ${key.revoked_at}`, "sign with a current key of the publisher");
      if (!verifyBundleSignature(digest, body.signature, key.public_key)) {
        throw hubError("HUB_BUNDLE_SIGNATURE", `the signature does not verify for bundle ${digest} with key ${key.key_id}`, 'sign "palisade-bundle-signature-v1\\n" + the sha256 digest of the canonical envelope (docs/hub.md); any change to the envelope changes the digest');
      }
      return writeTx(ctx.hub, caller.actor, async (tx) => {
        const same = await tx.trx.selectFrom("bundles").select(META).select(sql<number>`octet_length(bytes)`.as("size")).where("org_id", "=", caller.orgId).where("digest", "=", digest).executeTakeFirst();
        if (same) {
          void reply.status(200);
          return bundleView(same);
        }
        const latest = await tx.trx
          .selectFrom("bundles")
          .select(["version", "publisher_id"])
          .where("org_id", "=", caller.orgId)
          .where("name", "=", envelope.name)
          .orderBy("version", "desc")
          .limit(1)
          .executeTakeFirst();
        if (latest && latest.publisher_id !== key.publisher_id) {
          throw hubError("HUB_CONFLICT", `bundle name "${envelope.name}" belongs to publisher ${latest.publisher_id}`, "choose another bundle name");
        }
        if (latest && envelope.version <= latest.version) {
          throw hubError("HUB_BUNDLE_VERSION", `version ${envelope.version} of "${envelope.name}" is not greater than the latest, ${latest.version}`, `publish it as version ${latest.version + 1} or later`);
        }
        const row = {
          org_id: caller.orgId,
          digest,
          name: envelope.name,
          version: envelope.version,
          publisher_id: key.publisher_id,
          key_id: key.key_id,
          signature: body.signature.signature,
          bytes,
          created_at: new Date().toISOString(),
          uploaded_by: caller.actor,
        };
        await tx.trx.insertInto("bundles").values(row).execute();
        await tx.audit({ orgId: caller.orgId, action: "bundle.upload", subject: `bundle:${digest}`, data: { name: row.name, version: row.version, publisherId: row.publisher_id, keyId: row.key_id } });
        return bundleView({ ...row, size: Buffer.byteLength(bytes) });
      });
    },
  }),

  defineRoute({
    method: "GET",
    url: "/v1/bundles",
    operationId: "listBundles",
    tag: "bundles",
    summary: "Bundles of the org, newest version first",
    auth: { roles: READ_ROLES, operation: "read bundles" },
    query: S.ListBundlesQuery,
    response: S.Bundle.array(),
    async handler({ query, caller, ctx }) {
      let q = ctx.hub.db.selectFrom("bundles").select(META).select(sql<number>`octet_length(bytes)`.as("size")).where("org_id", "=", caller.orgId);
      if (query.name !== undefined) q = q.where("name", "=", query.name);
      return (await q.orderBy("name").orderBy("version", "desc").execute()).map(bundleView);
    },
  }),

  defineRoute({
    method: "GET",
    url: "/v1/bundles/:digest",
    operationId: "getBundle",
    tag: "bundles",
    summary: "One bundle with its envelope and signature",
    auth: { roles: READ_ROLES, operation: "read bundles" },
    params: S.DigestParams,
    response: S.BundleWithEnvelope,
    errors: ["HUB_NOT_FOUND"],
    async handler({ params, caller, ctx }) {
      const r = await ctx.hub.db.selectFrom("bundles").selectAll().where("org_id", "=", caller.orgId).where("digest", "=", params.digest).executeTakeFirst();
      if (!r) throw notFound("bundle", params.digest);
      return { ...bundleView({ ...r, size: Buffer.byteLength(r.bytes) }), envelope: JSON.parse(r.bytes) as BundleEnvelope };
    },
  }),
];

/**
 * The workload must be one valid Workload manifest and the policies valid
 * policies, so a broken bundle fails here, once, instead of on every device.
 */
function checkContent(envelope: BundleEnvelope): void {
  const fail = (field: string, e: PalisadeError) =>
    new PalisadeError(e.code, `envelope.${field}: ${e.where?.line !== undefined ? `line ${e.where.line}: ` : ""}${e.message}`, {
      hint: e.hint ?? "check it with `palisade policy validate`",
      where: { file: "request", path: `body.envelope.${field}${e.where?.path ? ` (${e.where.path})` : ""}` },
    });
  const w = parseDocuments(envelope.workload, "workload.yaml");
  if (w.errors[0]) throw fail("workload", w.errors[0]);
  if (w.workloads.length !== 1 || w.policies.length !== 0) {
    throw badField("body.envelope.workload", `envelope.workload must hold exactly one Workload document (found ${w.workloads.length} workloads, ${w.policies.length} policies)`, "put policies in envelope.policies");
  }
  if (envelope.policies.trim() === "") return;
  const p = parseDocuments(envelope.policies, "policies.yaml");
  if (p.errors[0]) throw fail("policies", p.errors[0]);
  if (p.workloads.length !== 0) throw badField("body.envelope.policies", "envelope.policies must not contain Workload documents", "put the Workload in envelope.workload");
}

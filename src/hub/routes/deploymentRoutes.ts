/**
 * Deployments: "nodes matching this selector run this bundle". Every change
 * bumps the org's generation in the same transaction, which is what makes
 * nodes' desired state (desiredState.ts) change at their next poll.
 */
import { sql } from "kysely";
import { PUBLISH_ROLES, READ_ROLES } from "../apiAuth.js";
import * as S from "../apiSchemas.js";
import { writeTx, type WriteTx } from "../auditChain.js";
import { hubError, notFound } from "../httpErrors.js";
import type { TokenPrincipal } from "../hubContext.js";
import type { DeploymentTable } from "../hubDatabase.js";
import { defineRoute, type HubRoute } from "../hubRoute.js";
import { checkSelector } from "../labelSelector.js";
import { newId } from "../secretTokens.js";
import { deploymentView } from "../views.js";

export async function bumpGeneration(tx: WriteTx, orgId: string): Promise<void> {
  await tx.trx.updateTable("orgs").set({ generation: sql<number>`generation + 1` }).where("id", "=", orgId).execute();
}

/** The bundle a deployment may point at: in the org, the caller's own if a publisher, signed by an unrevoked key. */
async function deployableBundle(tx: WriteTx, caller: TokenPrincipal, digest: string) {
  const b = await tx.trx
    .selectFrom("bundles as b")
    .innerJoin("publisher_keys as k", "k.key_id", "b.key_id")
    .select(["b.digest", "b.name", "b.version", "b.publisher_id", "k.revoked_at"])
    .where("b.org_id", "=", caller.orgId)
    .where("b.digest", "=", digest)
    .executeTakeFirst();
  if (!b) throw notFound("bundle", digest);
  if (caller.role === "publisher" && b.publisher_id !== caller.publisherId) {
    throw hubError("HUB_FORBIDDEN", `bundle ${digest} belongs to another publisher`, "publishers deploy only their own bundles");
  }
  if (b.revoked_at !== null) throw hubError("HUB_KEY_REVOKED", `bundle ${digest} is signed by a revoked key`, "publish a new version signed with a current key");
  return b;
}

async function loadDeployment(tx: WriteTx, caller: TokenPrincipal, id: string) {
  const d = await tx.trx
    .selectFrom("deployments as d")
    .innerJoin("bundles as b", (j) => j.onRef("b.org_id", "=", "d.org_id").onRef("b.digest", "=", "d.bundle_digest"))
    .selectAll("d")
    .select(["b.name as bundle_name", "b.version as bundle_version", "b.publisher_id"])
    .where("d.org_id", "=", caller.orgId)
    .where((eb) => eb.or([eb("d.id", "=", id), eb("d.name", "=", id)]))
    .executeTakeFirst();
  if (!d) throw notFound("deployment", id);
  if (caller.role === "publisher" && d.publisher_id !== caller.publisherId) {
    throw hubError("HUB_FORBIDDEN", `deployment ${d.name} runs another publisher's bundle`, "publishers change only deployments of their own bundles");
  }
  return d;
}

export const deploymentRoutes: HubRoute[] = [
  defineRoute({
    method: "GET",
    url: "/v1/deployments",
    operationId: "listDeployments",
    tag: "deployments",
    summary: "Deployments of the org",
    auth: { roles: READ_ROLES, operation: "read deployments" },
    response: S.Deployment.array(),
    async handler({ caller, ctx }) {
      const rows = await ctx.hub.db
        .selectFrom("deployments as d")
        .innerJoin("bundles as b", (j) => j.onRef("b.org_id", "=", "d.org_id").onRef("b.digest", "=", "d.bundle_digest"))
        .selectAll("d")
        .select(["b.name as bundle_name", "b.version as bundle_version", "b.publisher_id"])
        .where("d.org_id", "=", caller.orgId)
        .orderBy("d.name")
        .execute();
      return rows.map(deploymentView);
    },
  }),

  defineRoute({
    method: "POST",
    url: "/v1/deployments",
    operationId: "createDeployment",
    tag: "deployments",
    summary: "Deploy a bundle to the nodes a label selector picks",
    auth: { roles: PUBLISH_ROLES, operation: "create deployments" },
    body: S.CreateDeploymentBody,
    status: 201,
    response: S.Deployment,
    errors: ["HUB_NOT_FOUND", "HUB_CONFLICT", "HUB_FORBIDDEN", "HUB_KEY_REVOKED"],
    async handler({ body, caller, ctx }) {
      checkSelector(body.selector, "body.selector");
      return writeTx(ctx.hub, caller.actor, async (tx) => {
        const b = await deployableBundle(tx, caller, body.bundleDigest);
        const dup = await tx.trx.selectFrom("deployments").select("id").where("org_id", "=", caller.orgId).where("name", "=", body.name).executeTakeFirst();
        if (dup) throw hubError("HUB_CONFLICT", `deployment "${body.name}" already exists (${dup.id})`, `change it with PATCH /v1/deployments/${dup.id}`);
        const now = new Date().toISOString();
        const row: DeploymentTable = {
          id: newId("dep"),
          org_id: caller.orgId,
          name: body.name,
          bundle_digest: b.digest,
          selector: JSON.stringify(body.selector),
          revision: 1,
          created_at: now,
          updated_at: now,
        };
        await tx.trx.insertInto("deployments").values(row).execute();
        await bumpGeneration(tx, caller.orgId);
        await tx.audit({ orgId: caller.orgId, action: "deployment.create", subject: `deployment:${row.id}`, data: { name: row.name, bundleDigest: b.digest, selector: body.selector } });
        return deploymentView({ ...row, bundle_name: b.name, bundle_version: b.version, publisher_id: b.publisher_id });
      });
    },
  }),

  defineRoute({
    method: "PATCH",
    url: "/v1/deployments/:id",
    operationId: "updateDeployment",
    tag: "deployments",
    summary: "Change a deployment's bundle and/or selector (by id or name)",
    description: "A bundle of the same name must not have a lower version: agents refuse rollbacks. To go back, republish the old content as a new version.",
    auth: { roles: PUBLISH_ROLES, operation: "change deployments" },
    params: S.IdParams,
    body: S.PatchDeploymentBody,
    response: S.Deployment,
    errors: ["HUB_NOT_FOUND", "HUB_FORBIDDEN", "HUB_KEY_REVOKED", "HUB_BUNDLE_VERSION"],
    async handler({ params, body, caller, ctx }) {
      if (body.selector) checkSelector(body.selector, "body.selector");
      return writeTx(ctx.hub, caller.actor, async (tx) => {
        const d = await loadDeployment(tx, caller, params.id);
        let bundle = { digest: d.bundle_digest, name: d.bundle_name, version: d.bundle_version, publisher_id: d.publisher_id };
        if (body.bundleDigest !== undefined && body.bundleDigest !== d.bundle_digest) {
          const b = await deployableBundle(tx, caller, body.bundleDigest);
          if (b.name === d.bundle_name && b.version < d.bundle_version) {
            throw hubError("HUB_BUNDLE_VERSION", `bundle ${b.name} version ${b.version} is older than the deployed ${d.bundle_version}`, `agents refuse rollbacks: republish that content as version ${d.bundle_version + 1} or later`);
          }
          bundle = b;
        }
        const selector = body.selector ?? (JSON.parse(d.selector) as S.LabelSelector);
        const updated = { bundle_digest: bundle.digest, selector: JSON.stringify(selector), revision: d.revision + 1, updated_at: new Date().toISOString() };
        await tx.trx.updateTable("deployments").set(updated).where("id", "=", d.id).execute();
        await bumpGeneration(tx, caller.orgId);
        await tx.audit({ orgId: caller.orgId, action: "deployment.update", subject: `deployment:${d.id}`, data: { name: d.name, bundleDigest: bundle.digest, selector, revision: updated.revision } });
        return deploymentView({ ...d, ...updated, bundle_name: bundle.name, bundle_version: bundle.version, publisher_id: bundle.publisher_id });
      });
    },
  }),

  defineRoute({
    method: "DELETE",
    url: "/v1/deployments/:id",
    operationId: "deleteDeployment",
    tag: "deployments",
    summary: "Delete a deployment (by id or name): its nodes stop running the bundle",
    auth: { roles: PUBLISH_ROLES, operation: "delete deployments" },
    params: S.IdParams,
    response: S.Deployment,
    errors: ["HUB_NOT_FOUND", "HUB_FORBIDDEN"],
    async handler({ params, caller, ctx }) {
      return writeTx(ctx.hub, caller.actor, async (tx) => {
        const d = await loadDeployment(tx, caller, params.id);
        await tx.trx.deleteFrom("deployments").where("id", "=", d.id).execute();
        await bumpGeneration(tx, caller.orgId);
        await tx.audit({ orgId: caller.orgId, action: "deployment.delete", subject: `deployment:${d.id}`, data: { name: d.name, bundleDigest: d.bundle_digest } });
        return deploymentView(d);
      });
    },
  }),
];

/** Database rows → the API's JSON shapes (apiSchemas.ts). One place, so every route shows objects alike. */
import type { z } from "zod/v4";
import type * as S from "./apiSchemas.js";
import type { ApiTokenTable, BundleTable, DeploymentTable, EnrollmentTokenTable, NodeTable, OrgTable, PublisherKeyTable } from "./hubDatabase.js";

type Out<T extends z.ZodType> = z.output<T>;

export function orgView(r: OrgTable): Out<typeof S.Org> {
  return { id: r.id, name: r.name, operator: r.operator === 1, createdAt: r.created_at };
}

export function tokenView(r: ApiTokenTable): Out<typeof S.ApiToken> {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    publisherId: r.publisher_id,
    createdAt: r.created_at,
    createdBy: r.created_by,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  };
}

export function enrollmentTokenView(r: EnrollmentTokenTable): Out<typeof S.EnrollmentToken> {
  return {
    id: r.id,
    name: r.name,
    maxUses: r.max_uses,
    uses: r.uses,
    labels: JSON.parse(r.labels) as Record<string, string>,
    expiresAt: r.expires_at,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  };
}

/**
 * `status` is derived, not stored: revoked, never-seen, or online/offline by
 * whether the last request is older than `offlineAfterSeconds`.
 */
export function nodeView(r: NodeTable, pendingLastSeen: string | undefined, offlineAfterSeconds: number, now = Date.now()): Out<typeof S.Node> {
  const lastSeen = pendingLastSeen !== undefined && (r.last_seen_at === null || pendingLastSeen > r.last_seen_at) ? pendingLastSeen : r.last_seen_at;
  const status =
    r.revoked_at !== null ? "revoked" : lastSeen === null ? "never-seen" : now - Date.parse(lastSeen) <= offlineAfterSeconds * 1000 ? "online" : "offline";
  return {
    id: r.id,
    publicKey: r.public_key,
    labels: JSON.parse(r.labels) as Record<string, string>,
    agentVersion: r.agent_version,
    hostname: r.hostname,
    enrolledAt: r.enrolled_at,
    lastSeenAt: lastSeen,
    status,
    revokedAt: r.revoked_at,
    revokeReason: r.revoke_reason,
    workloads: JSON.parse(r.workloads) as S.WorkloadStatusT[],
    statusAt: r.status_at,
  };
}

export function publisherKeyView(r: PublisherKeyTable): Out<typeof S.PublisherKey> {
  return { keyId: r.key_id, publisherId: r.publisher_id, publicKey: r.public_key, name: r.name, createdAt: r.created_at, revokedAt: r.revoked_at };
}

export function bundleView(r: Omit<BundleTable, "bytes"> & { size: number }): Out<typeof S.Bundle> {
  return {
    digest: r.digest,
    name: r.name,
    version: r.version,
    publisherId: r.publisher_id,
    keyId: r.key_id,
    signature: r.signature,
    size: r.size,
    createdAt: r.created_at,
    uploadedBy: r.uploaded_by,
  };
}

export function deploymentView(r: DeploymentTable & { bundle_name: string; bundle_version: number; publisher_id: string }): Out<typeof S.Deployment> {
  return {
    id: r.id,
    name: r.name,
    bundleDigest: r.bundle_digest,
    bundleName: r.bundle_name,
    bundleVersion: r.bundle_version,
    publisherId: r.publisher_id,
    selector: JSON.parse(r.selector) as S.LabelSelector,
    revision: r.revision,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

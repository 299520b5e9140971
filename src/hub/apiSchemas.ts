/**
 * Every request and response shape of the hub's HTTP API, as zod schemas.
 * They are the single source for three things: request validation (the
 * fastify validator compiler runs them, unknown fields are errors because
 * request objects are strict), the TypeScript types handlers see, and the
 * OpenAPI document (openApi.ts converts them with z.toJSONSchema).
 */
import { z } from "zod/v4";
import { BUNDLE_FORMAT, BUNDLE_NAME_RE, DIGEST_RE } from "../core/signing/bundleFormat.js";

// --- building blocks ---------------------------------------------------------

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const Name = z.string().regex(DNS_LABEL, { message: "must be a lower-case DNS label: a-z, 0-9 and '-', at most 63 characters" });
export const Title = z.string().min(1).max(200);
export const Time = z.iso.datetime({ message: "must be an RFC 3339 UTC time such as 2025-01-31T12:00:00Z" });
export const Id = z.string().min(1).max(128);
export const Digest = z.string().regex(DIGEST_RE, { message: "must be sha256:<64 lower-case hex>" });
export const PublicKey = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, { message: "must be a raw 32-byte Ed25519 public key in unpadded base64url (43 characters)" })
  .meta({ description: "raw Ed25519 public key, unpadded base64url" });
export const Signature = z
  .string()
  .regex(/^[A-Za-z0-9_-]{86}$/, { message: "must be a 64-byte Ed25519 signature in unpadded base64url (86 characters)" });

// Kubernetes label syntax, so selectors read the way operators expect.
export const LabelKey = z
  .string()
  .regex(/^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, { message: "must be a label key like zone or example.com/zone" });
export const LabelValue = z.string().regex(/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/, { message: "must be a label value: at most 63 of A-Z a-z 0-9 - _ ." });
export const MAX_LABELS = 64;
export const Labels = z
  .record(LabelKey, LabelValue)
  .refine((o) => Object.keys(o).length <= MAX_LABELS, { message: `at most ${MAX_LABELS} labels` })
  .meta({ description: `labels, Kubernetes syntax, at most ${MAX_LABELS}`, maxProperties: MAX_LABELS });

export const IdParams = z.strictObject({ id: Id });
export const Role = z.enum(["admin", "publisher", "viewer"]);

export const ErrorResponse = z.object({
  error: z.object({
    code: z.string().meta({ description: "stable code, see docs/api.md" }),
    message: z.string(),
    hint: z.string().optional(),
    path: z.string().optional().meta({ description: "the request field at fault, e.g. body.selector.matchLabels" }),
  }),
});

// --- orgs and tokens -------------------------------------------------------

export const Org = z.object({ id: Id, name: Name, operator: z.boolean(), createdAt: Time });
export const CreateOrgBody = z.strictObject({ name: Name });

export const ApiToken = z.object({
  id: Id,
  name: Title,
  role: Role,
  publisherId: Id.nullable(),
  createdAt: Time,
  createdBy: z.string(),
  expiresAt: Time.nullable(),
  revokedAt: Time.nullable(),
});
export const CreatedApiToken = ApiToken.extend({ token: z.string().meta({ description: "the bearer secret; shown only in this response" }) });
export const CreateTokenBody = z.strictObject({
  name: Title,
  role: Role,
  publisherId: Id.optional().meta({ description: "required for role publisher: the publisher the token acts for" }),
  expiresAt: Time.optional(),
});
export const CreateOrgResponse = z.object({ org: Org, adminToken: CreatedApiToken });
export const WhoAmI = z.object({ tokenId: Id, orgId: Id, orgName: Name, role: Role, publisherId: Id.nullable(), operator: z.boolean() });

// --- enrollment ----------------------------------------------------------

export const EnrollmentToken = z.object({
  id: Id,
  name: z.string(),
  maxUses: z.number().int(),
  uses: z.number().int(),
  labels: Labels,
  expiresAt: Time,
  createdAt: Time,
  revokedAt: Time.nullable(),
});
export const CreatedEnrollmentToken = EnrollmentToken.extend({ token: z.string().meta({ description: "the enrollment secret; shown only in this response" }) });
export const CreateEnrollmentTokenBody = z.strictObject({
  name: z.string().max(200).default(""),
  maxUses: z.number().int().min(1).max(1_000_000).default(1),
  expiresInSeconds: z.number().int().min(60).max(366 * 86400).default(86400),
  labels: Labels.default({}).meta({ description: "labels every node enrolled with this token gets; they override labels the node proposes" }),
});

export const PublisherKeyPin = z.object({ keyId: z.string(), publisherId: Id, publisherName: Name, publicKey: PublicKey });
export const EnrollBody = z.strictObject({
  token: z.string().min(1).max(200).meta({ description: "the enrollment token (pet_…)" }),
  publicKey: PublicKey,
  proof: Signature.meta({ description: 'Ed25519 signature by the node key over "palisade-enroll-v1\\n" + publicKey + "\\n" + hex(sha256(token))' }),
  agentVersion: z.string().min(1).max(64),
  hostname: z.string().max(253).default(""),
  labels: Labels.default({}),
});
export const EnrollResponse = z.object({
  nodeId: Id,
  orgId: Id,
  labels: Labels,
  publisherKeys: z.array(PublisherKeyPin).meta({ description: "the org's publisher keys at enrollment: pin them" }),
  requestSigning: z.object({ scheme: z.literal("palisade-node-v1"), clockWindowSeconds: z.number().int() }),
});

// --- nodes -------------------------------------------------------------------

export const WorkloadStatus = z.strictObject({
  deployment: z.string().max(100).optional(),
  name: z.string().min(1).max(100),
  bundleDigest: Digest.optional(),
  state: z.string().min(1).max(32).meta({ description: "e.g. pending, running, failed, stopped, rolled-back" }),
  message: z.string().max(2000).optional(),
});
export const NodeStatusName = z.enum(["online", "offline", "never-seen", "revoked"]);
export const Node = z.object({
  id: Id,
  publicKey: PublicKey,
  labels: Labels,
  agentVersion: z.string(),
  hostname: z.string(),
  enrolledAt: Time,
  lastSeenAt: Time.nullable(),
  status: NodeStatusName,
  revokedAt: Time.nullable(),
  revokeReason: z.string().nullable(),
  workloads: z.array(WorkloadStatus),
  statusAt: Time.nullable(),
});
export const ListNodesQuery = z.strictObject({
  selector: z.string().max(2000).optional().meta({ description: "comma-separated: key=value, key!=value, key, !key" }),
});
export const PatchLabelsBody = z.strictObject({
  labels: z.record(LabelKey, LabelValue.nullable()).meta({ description: "merge patch: a value sets the label, null removes it" }),
});
export const RevokeBody = z.strictObject({ reason: z.string().max(500).optional() });

// --- publishers, keys, bundles -------------------------------------------------

export const PublisherKey = z.object({ keyId: z.string(), publisherId: Id, publicKey: PublicKey, name: z.string(), createdAt: Time, revokedAt: Time.nullable() });
export const Publisher = z.object({ id: Id, name: Name, createdAt: Time, keys: z.array(PublisherKey) });
export const CreatePublisherBody = z.strictObject({ name: Name });
export const AddKeyBody = z.strictObject({ publicKey: PublicKey, name: z.string().max(200).default("") });
export const KeyParams = z.strictObject({ id: Id, keyId: z.string().min(1).max(100) });

export const BundleEnvelopeSchema = z.strictObject({
  format: z.literal(BUNDLE_FORMAT),
  name: z.string().regex(BUNDLE_NAME_RE, { message: "must be a lower-case DNS label" }),
  version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  workload: z.string().min(1).max(1024 * 1024),
  policies: z.string().max(1024 * 1024),
  images: z.array(z.strictObject({ ref: z.string().min(1).max(500), digest: Digest })).max(64),
  created: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/, { message: "must be RFC 3339 UTC, e.g. 2025-01-31T12:00:00Z" }),
});
export const BundleSignatureSchema = z.strictObject({ keyId: z.string().min(1).max(100), signature: Signature });
export const UploadBundleBody = z.strictObject({ envelope: BundleEnvelopeSchema, signature: BundleSignatureSchema });
export const Bundle = z.object({
  digest: Digest,
  name: z.string(),
  version: z.number().int(),
  publisherId: Id,
  keyId: z.string(),
  signature: Signature,
  size: z.number().int(),
  createdAt: Time,
  uploadedBy: z.string(),
});
export const BundleWithEnvelope = Bundle.extend({ envelope: BundleEnvelopeSchema });
export const ListBundlesQuery = z.strictObject({ name: z.string().max(63).optional() });
export const DigestParams = z.strictObject({ digest: Digest });

// --- deployments -------------------------------------------------------------

export const LabelSelectorSchema = z
  .strictObject({
    matchLabels: z.record(LabelKey, LabelValue).optional(),
    matchExpressions: z
      .array(
        z.strictObject({
          key: LabelKey,
          operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
          values: z.array(LabelValue).max(100).optional(),
        }),
      )
      .max(20)
      .optional(),
  })
  .meta({ description: "Kubernetes-style label selector; {} selects every node of the org" });
export const CreateDeploymentBody = z.strictObject({ name: Name, bundleDigest: Digest, selector: LabelSelectorSchema });
export const PatchDeploymentBody = z.strictObject({ bundleDigest: Digest.optional(), selector: LabelSelectorSchema.optional() });
export const Deployment = z.object({
  id: Id,
  name: Name,
  bundleDigest: Digest,
  bundleName: z.string(),
  bundleVersion: z.number().int(),
  publisherId: Id,
  selector: LabelSelectorSchema,
  revision: z.number().int(),
  createdAt: Time,
  updatedAt: Time,
});

// --- node API (signed requests) ----------------------------------------------

export const DesiredWorkload = z.object({
  deployment: Name,
  deploymentId: Id,
  revision: z.number().int(),
  bundle: z.object({
    digest: Digest,
    name: z.string(),
    version: z.number().int(),
    publisherId: Id,
    keyId: z.string(),
    signature: Signature,
    url: z.string().meta({ description: "GET it (signed) for the canonical envelope bytes" }),
  }),
});
export const DesiredState = z.object({
  format: z.literal("palisade.desired-state/v1"),
  orgId: Id,
  workloads: z.array(DesiredWorkload),
  revokedKeys: z.array(z.string()).meta({ description: "publisher key ids the org revoked: stop trusting them (revocation only ever removes trust)" }),
});
export const StatusItem = z.strictObject({
  id: z.string().min(1).max(128).meta({ description: "unique per node; redelivering the same id is a no-op" }),
  time: Time,
  agentVersion: z.string().max(64).optional(),
  workloads: z.array(WorkloadStatus).max(256),
});
export const StatusBody = z.strictObject({ items: z.array(StatusItem).min(1).max(500) });
export const AlertItem = z.strictObject({
  id: z.string().min(1).max(128),
  time: Time,
  alert: z.record(z.string(), z.unknown()).meta({ description: "one alert in KubeArmor's JSON shape" }),
});
export const AlertsBody = z.strictObject({ items: z.array(AlertItem).min(1).max(1000) });
export const IngestResponse = z.object({
  stored: z.number().int(),
  duplicates: z.array(z.string()).meta({ description: "ids already stored earlier (harmless redelivery)" }),
});

// --- reads of telemetry and audit --------------------------------------------

export const ListAlertsQuery = z.strictObject({
  nodeId: Id.optional(),
  cursor: z.string().max(500).optional().meta({ description: "nextCursor of the previous page" }),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
export const Alert = z.object({ nodeId: Id, id: z.string(), time: Time, receivedAt: Time, alert: z.record(z.string(), z.unknown()) });
export const AlertPage = z.object({ items: z.array(Alert), nextCursor: z.string().nullable() });
export const AuditQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0).meta({ description: "return entries with seq greater than this" }),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
export const AuditEntrySchema = z.object({
  seq: z.number().int(),
  time: Time,
  orgId: Id.nullable(),
  actor: z.string(),
  action: z.string(),
  subject: z.string(),
  data: z.record(z.string(), z.unknown()),
  prevHash: z.string(),
  hash: z.string(),
});

export type LabelSelector = z.infer<typeof LabelSelectorSchema>;
export type WorkloadStatusT = z.infer<typeof WorkloadStatus>;

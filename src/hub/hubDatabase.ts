/**
 * The hub's tables as Kysely sees them. Column types are chosen to mean the
 * same thing in SQLite and PostgreSQL without per-dialect parsing:
 * times are ISO-8601 UTC text from Date#toISOString (fixed width, so text
 * order is time order), counters are 32-bit integers (PostgreSQL int4 comes
 * back as a JS number, int8 would come back as a string), JSON is text, and
 * "is revoked" is a nullable time rather than a boolean SQLite does not have.
 * The DDL is in migrations.ts; keep both in step.
 */
import type { Kysely } from "kysely";

export type Role = "admin" | "publisher" | "viewer";

export interface OrgTable {
  id: string;
  name: string;
  /** 1 for the org created at bootstrap: its admins may create other orgs. */
  operator: number;
  /** Bumped by every change that can alter a node's desired state; keys the desired-state cache. */
  generation: number;
  created_at: string;
}

export interface ApiTokenTable {
  id: string;
  org_id: string;
  name: string;
  role: Role;
  /** Publisher tokens act for exactly one publisher. */
  publisher_id: string | null;
  /** hex sha256 of the secret half; the secret itself is never stored. */
  secret_hash: string;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  revoked_at: string | null;
}

export interface EnrollmentTokenTable {
  id: string;
  org_id: string;
  name: string;
  secret_hash: string;
  max_uses: number;
  uses: number;
  /** JSON object: labels every node enrolled with this token gets. */
  labels: string;
  expires_at: string;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
}

export interface NodeTable {
  id: string;
  org_id: string;
  public_key: string;
  labels: string;
  agent_version: string;
  hostname: string;
  enrollment_token_id: string;
  enrolled_at: string;
  last_seen_at: string | null;
  revoked_at: string | null;
  revoke_reason: string | null;
  /** JSON array from the newest status report. */
  workloads: string;
  /** `time` of the status report `workloads` came from; older reports never overwrite it. */
  status_at: string | null;
}

export interface PublisherTable {
  id: string;
  org_id: string;
  name: string;
  created_at: string;
}

export interface PublisherKeyTable {
  key_id: string;
  org_id: string;
  publisher_id: string;
  public_key: string;
  name: string;
  created_at: string;
  revoked_at: string | null;
}

export interface BundleTable {
  org_id: string;
  digest: string;
  name: string;
  version: number;
  publisher_id: string;
  key_id: string;
  signature: string;
  /** The canonical envelope bytes, served verbatim so agents can re-hash them. */
  bytes: string;
  created_at: string;
  uploaded_by: string;
}

export interface DeploymentTable {
  id: string;
  org_id: string;
  name: string;
  bundle_digest: string;
  /** JSON LabelSelector. */
  selector: string;
  revision: number;
  created_at: string;
  updated_at: string;
}

export interface TelemetryTable {
  node_id: string;
  item_id: string;
  org_id: string;
  time: string;
  received_at: string;
  data: string;
}

export interface AuditLogTable {
  seq: number;
  time: string;
  org_id: string | null;
  actor: string;
  action: string;
  subject: string;
  data: string;
  prev_hash: string;
  hash: string;
}

export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

export interface NodeNonceTable {
  node_id: string;
  nonce: string;
  expires_at: string;
}

export interface HubTables {
  orgs: OrgTable;
  api_tokens: ApiTokenTable;
  enrollment_tokens: EnrollmentTokenTable;
  nodes: NodeTable;
  publishers: PublisherTable;
  publisher_keys: PublisherKeyTable;
  bundles: BundleTable;
  deployments: DeploymentTable;
  status_reports: TelemetryTable;
  alerts: TelemetryTable;
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
  node_nonces: NodeNonceTable;
}

export type Dialect = "sqlite" | "postgres";

/** An open hub database: one Kysely query layer whatever the engine. */
export interface HubDb {
  readonly db: Kysely<HubTables>;
  readonly dialect: Dialect;
  /** Where it is, with any password removed (for logs and messages). */
  readonly description: string;
  close(): Promise<void>;
}

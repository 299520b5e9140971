/** What route handlers share: the database, caches, and who is calling. */
import type { DesiredStateCache } from "./desiredState.js";
import type { HubDb, Role } from "./hubDatabase.js";
import type { NodeActivity } from "./nodeActivity.js";
import type { NodeAuthenticator } from "./nodeAuth.js";

export interface HubContext {
  readonly hub: HubDb;
  readonly nodeAuth: NodeAuthenticator;
  readonly desired: DesiredStateCache;
  readonly activity: NodeActivity;
  /** Seconds without a request after which a node shows as offline. */
  readonly offlineAfterSeconds: number;
}

/** A human or CI system presenting an API token. */
export interface TokenPrincipal {
  readonly kind: "token";
  readonly tokenId: string;
  readonly orgId: string;
  readonly orgName: string;
  readonly role: Role;
  readonly publisherId: string | null;
  /** The token belongs to the operator org (may create orgs). */
  readonly operator: boolean;
  /** How the audit log names this caller. */
  readonly actor: string;
}

/** An enrolled device whose request signature verified. */
export interface NodePrincipal {
  readonly kind: "node";
  readonly nodeId: string;
  readonly orgId: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The org's desired-state generation when the request arrived. */
  readonly generation: number;
  readonly actor: string;
}

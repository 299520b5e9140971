/**
 * Remembers the nonces of signed node requests until their timestamp leaves
 * the clock window, so each signed request is accepted at most once.
 *
 * SQLite hubs are one process by construction, so memory is enough there.
 * PostgreSQL hubs may be several replicas behind a load balancer, and a
 * request replayed to another replica must fail too, so they record nonces
 * in the shared `node_nonces` table: an INSERT that conflicts on
 * (node_id, nonce) is a replay, decided atomically by the database.
 */
import type { HubDb } from "./hubDatabase.js";

export interface ReplayGuard {
  /** True the first time (nodeId, nonce) is presented; false for a replay. */
  firstUse(nodeId: string, nonce: string, rememberUntilMs: number): Promise<boolean>;
  /** Forgets expired nonces (called periodically). */
  sweep(nowMs: number): Promise<void>;
}

export class MemoryReplayGuard implements ReplayGuard {
  readonly #seen = new Map<string, number>();

  async firstUse(nodeId: string, nonce: string, rememberUntilMs: number): Promise<boolean> {
    const key = `${nodeId}\n${nonce}`;
    if (this.#seen.has(key)) return false;
    this.#seen.set(key, rememberUntilMs);
    return true;
  }

  async sweep(nowMs: number): Promise<void> {
    for (const [key, until] of this.#seen) if (until < nowMs) this.#seen.delete(key);
  }

  get size(): number {
    return this.#seen.size;
  }
}

export class DbReplayGuard implements ReplayGuard {
  constructor(private readonly hub: HubDb) {}

  async firstUse(nodeId: string, nonce: string, rememberUntilMs: number): Promise<boolean> {
    const inserted = await this.hub.db
      .insertInto("node_nonces")
      .values({ node_id: nodeId, nonce, expires_at: new Date(rememberUntilMs).toISOString() })
      .onConflict((oc) => oc.columns(["node_id", "nonce"]).doNothing())
      .returning("nonce")
      .executeTakeFirst();
    return inserted !== undefined;
  }

  async sweep(nowMs: number): Promise<void> {
    await this.hub.db.deleteFrom("node_nonces").where("expires_at", "<", new Date(nowMs).toISOString()).execute();
  }
}

export function replayGuardFor(hub: HubDb): ReplayGuard {
  return hub.dialect === "postgres" ? new DbReplayGuard(hub) : new MemoryReplayGuard();
}

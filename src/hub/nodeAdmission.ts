/**
 * The database half of node request authentication, after the signature
 * verified: is this nonce new (replay protection), and what is the node's
 * state *now* (revoked? labels? its org's desired-state generation)?
 *
 * Both answers are read fresh for every request, never cached: a revocation,
 * a label change or a new deployment takes effect at the very next request,
 * on every replica. (Only a node's public key and org are cached, by
 * NodeAuthenticator: enrollment fixes them and nothing ever changes them.)
 *
 * - SQLite hubs are one process by construction: nonces live in memory and
 *   the state is one primary-key read (a prepared statement, no query
 *   builder, in-process: microseconds).
 * - PostgreSQL hubs may be several replicas behind a load balancer, and a
 *   request replayed to another replica must fail too, so nonces go to the
 *   shared `node_nonces` table, where an INSERT that conflicts on
 *   (node_id, nonce) is a replay, decided atomically by the database. To keep
 *   that affordable at hundreds of requests a second, the requests that
 *   arrive while the previous statement runs are admitted together: ONE
 *   statement inserts all their nonces and, from the same snapshot, reads all
 *   their nodes' state (see ADMIT_SQL). No request is answered before the
 *   statement that recorded its nonce has committed, with the server's normal
 *   durability (synchronous_commit as configured), exactly as with one
 *   INSERT per request. A nonce repeated while its first use is still queued
 *   or in flight is refused in memory (the database would accept both halves
 *   of such a pair in one statement, so this check is what makes batching
 *   replay-proof inside one process).
 */
import { CompiledQuery } from "kysely";
import type { HubDb } from "./hubDatabase.js";

/** What a node may currently do, as stored. */
export interface NodeState {
  readonly labels: string;
  readonly revokedAt: string | null;
  readonly generation: number;
}

export type Admission = { readonly kind: "fresh"; readonly state: NodeState } | { readonly kind: "replay" } | { readonly kind: "unknown" };

export interface NodeAdmission {
  /** Records (nodeId, nonce) until `rememberUntilMs` and reads the node's state; "replay" when the pair was seen before. */
  admit(nodeId: string, nonce: string, rememberUntilMs: number): Promise<Admission>;
  /** Forgets expired nonces (called periodically). */
  sweep(nowMs: number): Promise<void>;
}

interface StateRow {
  labels: string;
  revoked_at: string | null;
  generation: number;
}

const STATE_SQL = "select n.labels, n.revoked_at, o.generation from nodes n join orgs o on o.id = n.org_id where n.id = ?";

export class SqliteNodeAdmission implements NodeAdmission {
  // Insertion order is close to expiry order (expiry = request time + window), which sweep() relies on.
  readonly #seen = new Map<string, number>();

  constructor(private readonly hub: HubDb) {}

  async admit(nodeId: string, nonce: string, rememberUntilMs: number): Promise<Admission> {
    const key = `${nodeId}\n${nonce}`;
    if (this.#seen.has(key)) return { kind: "replay" };
    this.#seen.set(key, rememberUntilMs);
    const r = await this.hub.db.executeQuery(CompiledQuery.raw(STATE_SQL, [nodeId]));
    const row = r.rows[0] as StateRow | undefined;
    return row === undefined ? { kind: "unknown" } : { kind: "fresh", state: { labels: row.labels, revokedAt: row.revoked_at, generation: row.generation } };
  }

  /**
   * Deletes from the oldest entry until the first one still valid, so a sweep
   * costs what it deletes rather than a walk over every remembered nonce (at
   * 20,000 nodes that is 200,000 entries, 10–20 ms of blocked event loop).
   * An entry with a later expiry ahead of older ones (a node whose clock runs
   * fast) only delays their removal, by at most one clock window: nonces are
   * kept longer, never shorter.
   */
  async sweep(nowMs: number): Promise<void> {
    for (const [key, until] of this.#seen) {
      if (until >= nowMs) break;
      this.#seen.delete(key);
    }
  }

  get size(): number {
    return this.#seen.size;
  }
}

/**
 * One statement for a batch: $1, $2, $3 are parallel text arrays of node ids,
 * nonces and expiry times (ISO-8601). The data-modifying CTE runs exactly
 * once; the outer SELECT reports, per requested pair, whether this statement
 * inserted it (`fresh`) and the node's state from the statement's snapshot.
 * A pair another transaction inserted concurrently waits for it on the
 * primary key and then conflicts: at most one of them is ever fresh.
 */
const ADMIT_SQL = `with v(node_id, nonce, expires_at) as (select * from unnest($1::text[], $2::text[], $3::text[])),
ins as (insert into node_nonces (node_id, nonce, expires_at) select node_id, nonce, expires_at from v
        on conflict (node_id, nonce) do nothing returning node_id, nonce)
select v.node_id, v.nonce, (ins.nonce is not null) as fresh, n.labels, n.revoked_at, o.generation
from v left join ins on ins.node_id = v.node_id and ins.nonce = v.nonce
left join nodes n on n.id = v.node_id left join orgs o on o.id = n.org_id`;

interface AdmitRow extends StateRow {
  node_id: string;
  nonce: string;
  fresh: boolean;
  // A node without an org cannot exist (foreign key), but the outer join types it so.
  generation: number;
}

interface Pending {
  readonly key: string;
  readonly nodeId: string;
  readonly nonce: string;
  readonly expiresAt: string;
  resolve(a: Admission): void;
  reject(err: unknown): void;
}

export class PostgresNodeAdmission implements NodeAdmission {
  #queue: Pending[] = [];
  /** Keys queued or in a statement not yet committed. */
  readonly #unsettled = new Set<string>();
  #inFlight = 0;
  #scheduled = false;
  /** Statements and requests admitted so far (for benchmarks and tests). */
  batches = 0;
  admitted = 0;

  constructor(
    private readonly hub: HubDb,
    /** Statements in flight at once; the pool has more connections for everything else. */
    private readonly maxInFlight = 2,
    private readonly maxBatch = 1000,
  ) {}

  admit(nodeId: string, nonce: string, rememberUntilMs: number): Promise<Admission> {
    const key = `${nodeId}\n${nonce}`;
    if (this.#unsettled.has(key)) return Promise.resolve({ kind: "replay" });
    this.#unsettled.add(key);
    return new Promise<Admission>((resolve, reject) => {
      this.#queue.push({ key, nodeId, nonce, expiresAt: new Date(rememberUntilMs).toISOString(), resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.maxInFlight || this.#queue.length === 0) return;
    this.#scheduled = true;
    // Wait for the rest of this event-loop turn: requests parsed from the same read join the batch.
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    if (this.#inFlight >= this.maxInFlight || this.#queue.length === 0) return;
    const batch = this.#queue.length <= this.maxBatch ? this.#queue : this.#queue.slice(0, this.maxBatch);
    this.#queue = this.#queue.length <= this.maxBatch ? [] : this.#queue.slice(this.maxBatch);
    this.#inFlight += 1;
    try {
      const r = await this.hub.db.executeQuery(
        CompiledQuery.raw(ADMIT_SQL, [batch.map((p) => p.nodeId), batch.map((p) => p.nonce), batch.map((p) => p.expiresAt)]),
      );
      const byKey = new Map<string, AdmitRow>();
      for (const row of r.rows as AdmitRow[]) byKey.set(`${row.node_id}\n${row.nonce}`, row);
      this.batches += 1;
      this.admitted += batch.length;
      for (const p of batch) {
        const row = byKey.get(p.key);
        if (row === undefined || row.labels === null) p.resolve({ kind: "unknown" });
        else if (!row.fresh) p.resolve({ kind: "replay" });
        else p.resolve({ kind: "fresh", state: { labels: row.labels, revokedAt: row.revoked_at, generation: row.generation } });
      }
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      // Committed (or failed, and then refused): from now on the table answers for these keys.
      for (const p of batch) this.#unsettled.delete(p.key);
      this.#inFlight -= 1;
      this.#schedule();
    }
  }

  /**
   * Small and often rather than one large DELETE a minute: at 20,000 nodes a
   * minute of nonces is 44,000 rows, and deleting them in one statement was
   * a burst of PostgreSQL CPU and WAL the polls queued behind.
   */
  async sweep(nowMs: number): Promise<void> {
    await this.hub.db.executeQuery(CompiledQuery.raw("delete from node_nonces where expires_at < $1", [new Date(nowMs).toISOString()]));
  }
}

export function nodeAdmissionFor(hub: HubDb): NodeAdmission {
  return hub.dialect === "postgres" ? new PostgresNodeAdmission(hub) : new SqliteNodeAdmission(hub);
}

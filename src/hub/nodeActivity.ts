/**
 * Last-seen times of nodes, written in batches.
 *
 * 10,000 nodes polling every 30 s are 333 requests a second; one UPDATE per
 * poll would make the busiest table a write hot spot for a value nobody needs
 * to the millisecond. Instead each authenticated request records the time in
 * memory and a timer flushes all of them in one statement every few seconds.
 * Reads merge the unflushed value, so this hub's API is never behind; other
 * replicas see it at most one flush interval late. A crash loses at most one
 * interval of last-seen times, which the next poll restores; for the same
 * reason PostgreSQL commits the flush without waiting for its WAL flush
 * (synchronous_commit = off, for this transaction only).
 */
import { sql } from "kysely";
import type { HubDb } from "./hubDatabase.js";

const CHUNK = 500;

export class NodeActivity {
  /** Node id → Unix ms; formatted only when written or shown (a poll should not pay for a Date). */
  readonly #pending = new Map<string, number>();

  constructor(private readonly hub: HubDb) {}

  touch(nodeId: string, atMs: number): void {
    this.#pending.set(nodeId, atMs);
  }

  /** The newest time this process saw the node that is not yet in the database. */
  pendingLastSeen(nodeId: string): string | undefined {
    const ms = this.#pending.get(nodeId);
    return ms === undefined ? undefined : new Date(ms).toISOString();
  }

  async flush(): Promise<void> {
    if (this.#pending.size === 0) return;
    const rows = [...this.#pending];
    this.#pending.clear();
    // One transaction, also on SQLite, although it holds SQLite's one connection for the whole
    // flush: committing each 500-row statement separately measured worse at 40,000 nodes (hub
    // 0.59 against 0.52 ms/request; p99 2.8 s against 180 ms; one run each, docs/benchmarks.md),
    // likely because every commit rewrites pages the other chunks touch too and WAL checkpoints
    // run on the event loop.
    await this.hub.db.transaction().execute(async (trx) => {
      if (this.hub.dialect === "postgres") await sql`SET LOCAL synchronous_commit = off`.execute(trx);
      for (let i = 0; i < rows.length; i += CHUNK) {
        const chunk = rows.slice(i, i + CHUNK);
        const values = sql.join(chunk.map(([id, ms]) => sql`(${id}, ${new Date(ms).toISOString()})`));
        // One statement for both engines (UPDATE … FROM needs SQLite 3.33+, bundled by better-sqlite3).
        // The comparison keeps last_seen_at monotonic when replicas flush out of order.
        await sql`WITH v(id, ts) AS (VALUES ${values})
          UPDATE nodes SET last_seen_at = v.ts FROM v
          WHERE nodes.id = v.id AND (nodes.last_seen_at IS NULL OR nodes.last_seen_at < v.ts)`.execute(trx);
      }
    });
  }
}

/**
 * Last-seen times of nodes, written in batches.
 *
 * 10,000 nodes polling every 30 s are 333 requests a second; one UPDATE per
 * poll would make the busiest table a write hot spot for a value nobody needs
 * to the millisecond. Instead each authenticated request records the time in
 * memory and a timer flushes all of them in one statement every few seconds.
 * Reads merge the unflushed value, so this hub's API is never behind; other
 * replicas see it at most one flush interval late. A crash loses at most one
 * interval of last-seen times, which the next poll restores.
 */
import { sql } from "kysely";
import type { HubDb } from "./hubDatabase.js";

const CHUNK = 500;

export class NodeActivity {
  readonly #pending = new Map<string, string>();

  constructor(private readonly hub: HubDb) {}

  touch(nodeId: string, at: Date): void {
    this.#pending.set(nodeId, at.toISOString());
  }

  /** The newest time this process saw the node that is not yet in the database. */
  pendingLastSeen(nodeId: string): string | undefined {
    return this.#pending.get(nodeId);
  }

  async flush(): Promise<void> {
    if (this.#pending.size === 0) return;
    const rows = [...this.#pending];
    this.#pending.clear();
    for (let i = 0; i < rows.length; i += CHUNK) {
      const chunk = rows.slice(i, i + CHUNK);
      const values = sql.join(chunk.map(([id, ts]) => sql`(${id}, ${ts})`));
      // One statement for both engines (UPDATE … FROM needs SQLite 3.33+, bundled by better-sqlite3).
      // The comparison keeps last_seen_at monotonic when replicas flush out of order.
      await sql`WITH v(id, ts) AS (VALUES ${values})
        UPDATE nodes SET last_seen_at = v.ts FROM v
        WHERE nodes.id = v.id AND (nodes.last_seen_at IS NULL OR nodes.last_seen_at < v.ts)`.execute(this.hub.db);
    }
  }
}

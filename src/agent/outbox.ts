/**
 * The durable, bounded, at-least-once queue of everything the agent reports
 * to the hub: status reports and alerts. It lives in the agent's SQLite
 * database (WAL, synchronous=FULL), so:
 *
 * - an item is on disk before `enqueue` returns, and a kill -9 or power cut
 *   at any moment leaves the queue either with or without it, never torn;
 * - items leave the queue only when the hub has answered 200 for the batch
 *   that carried them (`ack`), so a crash between "hub stored it" and "agent
 *   deleted it" means one redelivery, which the hub recognises by the item's
 *   id (it stores each (node, id) once) — at least once on the wire, exactly
 *   once in the hub;
 * - every item gets its id when it is enqueued and keeps it for every retry;
 *   callers may pass a deterministic id for an event (say, "this workload
 *   exited at T"), and enqueuing an id that is already queued is a no-op;
 * - the queue is bounded per kind: past `maxItems` the oldest items are
 *   dropped and counted (`dropped`), so a device offline for months keeps
 *   its newest reports and its disk.
 */
import { randomBytes } from "node:crypto";
import type { Database } from "better-sqlite3";

export type OutboxKind = "status" | "alert";

export interface OutboxItem {
  readonly seq: number;
  readonly id: string;
  readonly kind: OutboxKind;
  /** The item as the hub's API takes it (StatusItem or AlertItem), id included. */
  readonly item: Record<string, unknown>;
}

export interface OutboxOptions {
  /** Most items kept per kind (default 10,000). */
  readonly maxItems?: number;
  /** Largest item, as JSON bytes (default 64 KiB); the hub takes 4 MiB per batch. */
  readonly maxItemBytes?: number;
  /** Told about every item that was added (after it is durable), e.g. to log it and wake the sender. */
  readonly onEnqueue?: (kind: OutboxKind, id: string, dropped: number) => void;
  /** Only read (`palisade agent status` beside a running agent): do not create tables. */
  readonly readonly?: boolean;
}

export interface EnqueueResult {
  readonly id: string;
  /** False when an item with this id was already queued (nothing changed). */
  readonly added: boolean;
  /** Older items dropped to stay within the bound. */
  readonly dropped: number;
}

/** A fresh id: kind prefix, time (sortable when read by a human), randomness (unique across restarts and restores). */
export function newItemId(kind: OutboxKind): string {
  return `${kind === "status" ? "s" : "a"}-${Date.now().toString(36)}-${randomBytes(6).toString("hex")}`;
}

export class Outbox {
  readonly maxItems: number;
  readonly maxItemBytes: number;
  readonly #onEnqueue: OutboxOptions["onEnqueue"];

  constructor(
    private readonly db: Database,
    opts: OutboxOptions = {},
  ) {
    this.maxItems = opts.maxItems ?? 10_000;
    this.maxItemBytes = opts.maxItemBytes ?? 64 * 1024;
    this.#onEnqueue = opts.onEnqueue;
    if (!(this.maxItems >= 1)) throw new RangeError("outbox maxItems must be at least 1");
    if (opts.readonly) return;
    db.exec(`
      CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('status', 'alert')),
        item_id TEXT NOT NULL UNIQUE,
        item TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS outbox_kind_seq ON outbox (kind, seq);
      CREATE TABLE IF NOT EXISTS outbox_dropped (kind TEXT PRIMARY KEY, count INTEGER NOT NULL);
    `);
  }

  /**
   * Queues `build(id)` durably. `id` defaults to a fresh one; pass a
   * deterministic id to make re-enqueuing the same event harmless.
   */
  enqueue(kind: OutboxKind, build: (id: string) => Record<string, unknown>, id: string = newItemId(kind)): EnqueueResult {
    return this.enqueueMany(kind, [{ id, build }])[0]!;
  }

  /**
   * Queues several items in one transaction: all are on disk, or none. With
   * synchronous=FULL every commit is an fsync, so a burst of alerts queued
   * one by one was bounded by the disk (~270 items/s on our VMs).
   */
  enqueueMany(kind: OutboxKind, entries: readonly { readonly id: string; readonly build: (id: string) => Record<string, unknown> }[]): EnqueueResult[] {
    const rows = entries.map(({ id, build }) => {
      const item = build(id);
      if (item.id !== id) throw new TypeError("an outbox item must carry the id it was given");
      const json = JSON.stringify(item);
      if (Buffer.byteLength(json) > this.maxItemBytes) throw new RangeError(`a ${kind} item of ${Buffer.byteLength(json)} bytes exceeds the ${this.maxItemBytes}-byte limit`);
      return { id, json };
    });
    const results = this.db.transaction((): EnqueueResult[] => {
      const insert = this.db.prepare("INSERT OR IGNORE INTO outbox (kind, item_id, item, created_at) VALUES (?, ?, ?, ?)");
      const now = new Date().toISOString();
      return rows.map(({ id, json }): EnqueueResult => {
        if (insert.run(kind, id, json, now).changes === 0) return { id, added: false, dropped: 0 };
        const over = this.size(kind) - this.maxItems;
        let dropped = 0;
        if (over > 0) {
          dropped = this.db
            .prepare("DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE kind = ? ORDER BY seq LIMIT ?)")
            .run(kind, over).changes;
          this.db
            .prepare("INSERT INTO outbox_dropped (kind, count) VALUES (?, ?) ON CONFLICT (kind) DO UPDATE SET count = count + excluded.count")
            .run(kind, dropped);
        }
        return { id, added: true, dropped };
      });
    }).immediate();
    // Called after the commit (callers do not wrap enqueue in their own transaction), so a logged id is on disk.
    for (const r of results) if (r.added) this.#onEnqueue?.(kind, r.id, r.dropped);
    return results;
  }

  /** The oldest items of `kind`, in order, up to `limit` items and about `maxBytes` of JSON. */
  peek(kind: OutboxKind, limit: number, maxBytes = 1024 * 1024): OutboxItem[] {
    const rows = this.db.prepare("SELECT seq, item_id, item FROM outbox WHERE kind = ? ORDER BY seq LIMIT ?").all(kind, limit) as { seq: number; item_id: string; item: string }[];
    const out: OutboxItem[] = [];
    let bytes = 0;
    for (const r of rows) {
      bytes += r.item.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push({ seq: r.seq, id: r.item_id, kind, item: JSON.parse(r.item) as Record<string, unknown> });
    }
    return out;
  }

  /** Removes delivered items (the hub answered 200 for them). */
  ack(ids: readonly string[]): number {
    const del = this.db.prepare("DELETE FROM outbox WHERE item_id = ?");
    return this.db.transaction(() => ids.reduce((n, id) => n + del.run(id).changes, 0)).immediate();
  }

  size(kind?: OutboxKind): number {
    const row = (kind === undefined ? this.db.prepare("SELECT count(*) AS n FROM outbox").get() : this.db.prepare("SELECT count(*) AS n FROM outbox WHERE kind = ?").get(kind)) as { n: number };
    return row.n;
  }

  /** Items dropped because the queue was full, since the agent's data directory was created. */
  dropped(kind: OutboxKind): number {
    const row = this.db.prepare("SELECT count FROM outbox_dropped WHERE kind = ?").get(kind) as { count: number } | undefined;
    return row?.count ?? 0;
  }
}

/**
 * EventStore: the durable local store of KubeArmor-shaped logs and alerts,
 * one SQLite file (`<dataDir>/events.db`, WAL), bounded to `maxRecords`.
 *
 * Layout (schema version 2, `PRAGMA user_version`):
 *
 *   chunks(first_seq INTEGER PRIMARY KEY,  -- seq of its first record; its records are first_seq … first_seq + n − 1
 *          n INTEGER,              -- records in the chunk (≤ CHUNK_MAX)
 *          kind TEXT,              -- "alert" | "log", the same for all of them
 *          workload TEXT,          -- instance name, as `palisade ps` shows it, the same for all of them
 *          min_time_ms, max_time_ms INTEGER,  -- their times (UpdatedTime, else Timestamp, else append time), ms
 *          fragment TEXT,          -- the workload's fields, left out of each record (eventChunks.ts), or NULL
 *          body TEXT)              -- the records, one line each (format in eventChunks.ts)
 *   index chunks_workload (workload, first_seq)
 *   meta(key TEXT PRIMARY KEY, value INTEGER)      -- "droppedOldest": records deleted by the bound;
 *                                                     "nextSeq": the seq the next record gets
 *   sensor_stats(id INTEGER PRIMARY KEY, time_ms INTEGER, received, dropped, stored,
 *          parse_errors INTEGER, detail TEXT)     -- pipeline counters, one row per report
 *
 * Seqs are 1, 2, 3 … in append order and never reused, one per record
 * whatever chunk holds it. Why chunks and not a row per record: see
 * eventChunks.ts (the per-row cost was the store worker's whole cost).
 * Version 1 (one `events` row per record) is migrated on open, seqs kept.
 *
 * The bound: append() inserts and then deletes the oldest records beyond
 * maxRecords in the same transaction (whole chunks, and the oldest remaining
 * chunk rewritten without its dropped head), and adds the number deleted to
 * droppedOldest, so a crash never leaves the file over the bound or the
 * counter out of step with the records. Records are deleted oldest-first
 * only, so the stored seqs are one contiguous range and the count is
 * newest − oldest + 1.
 *
 * Durability: WAL with synchronous=NORMAL — a killed writer (SIGKILL) loses
 * nothing it committed; a power cut may lose the last transactions but never
 * corrupts the file. Several processes may write (each `palisade run`) and
 * read (`palisade logs --follow`) at once; writers take the write lock at the
 * start of an append (BEGIN IMMEDIATE: nextSeq is read and written in it) and
 * wait up to busyTimeoutMs.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { PalisadeError } from "../core/errors.js";
import { dataDir } from "../core/paths.js";
import { chunkRecords, dropFirst, toChunks, type Chunk, type EncodedRecord } from "./eventChunks.js";
import { timeMs } from "./eventTime.js";
import type { KubeArmorLog } from "./kubearmor.js";

export type { EncodedRecord } from "./eventChunks.js";

export const DEFAULT_MAX_RECORDS = 100_000;
const SCHEMA_VERSION = 2;

export type RecordKind = "alert" | "log";

export interface StoredRecord {
  readonly seq: number;
  readonly kind: RecordKind;
  readonly workload: string;
  readonly record: KubeArmorLog;
}

export interface EventQuery {
  workload?: string;
  kind?: RecordKind;
  since?: Date;
  afterSeq?: number;
  limit?: number;
}

export interface NewRecord {
  readonly kind: RecordKind;
  readonly workload: string;
  readonly record: object;
}

export interface StoreStats {
  records: number;
  droppedOldest: number;
  oldestSeq?: number;
  newestSeq?: number;
}

/** Pipeline counters as stored (see EventPipeline.stats()); `detail` holds the per-source sensor stats. */
export interface SensorStatsRow {
  readonly time: string;
  readonly received: number;
  readonly dropped: number;
  readonly stored: number;
  readonly parseErrors: number;
  readonly detail?: unknown;
}

/** `<dataDir>/events.db`. */
export function eventStorePath(dir = dataDir()): string {
  return join(dir, "events.db");
}

function storeError(path: string, what: string, cause: unknown): PalisadeError {
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new PalisadeError("IO", `event store ${path}: ${what}: ${msg}`, {
    hint: /not a database|malformed|corrupt/i.test(msg) ? `move ${path} aside; a new one is created on the next run` : "check the file's permissions and free disk space",
    cause,
  });
}

export function encodeRecord(r: NewRecord): EncodedRecord {
  return [recordTimeMs(r.record), r.kind, r.workload, JSON.stringify(r.record)];
}

interface ChunkRow {
  first_seq: number;
  n: number;
  kind: RecordKind;
  workload: string;
  min_time_ms: number;
  max_time_ms: number;
  fragment: string | null;
  body: string;
}

function chunkOf(r: ChunkRow): Chunk {
  return { firstSeq: r.first_seq, n: r.n, kind: r.kind, workload: r.workload, minTime: r.min_time_ms, maxTime: r.max_time_ms, fragment: r.fragment, body: r.body };
}

function recordTimeMs(r: object): number {
  const o = r as { UpdatedTime?: unknown; Timestamp?: unknown };
  if (typeof o.UpdatedTime === "string") {
    const t = timeMs(o.UpdatedTime);
    if (!Number.isNaN(t)) return t;
  }
  if (typeof o.Timestamp === "number" && o.Timestamp > 0) return o.Timestamp * 1000;
  return Date.now();
}

export class EventStore {
  private readonly insert: Database.Statement;
  private readonly trim: Database.Statement;
  private readonly straddler: Database.Statement;
  private readonly deleteChunk: Database.Statement;
  private readonly oldest: Database.Statement;
  private readonly getNext: Database.Statement;
  private readonly setNext: Database.Statement;
  private readonly addDropped: Database.Statement;
  private readonly getDropped: Database.Statement;
  private readonly appendTx: (rows: readonly EncodedRecord[]) => number;

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
    readonly maxRecords: number,
  ) {
    this.insert = db.prepare("INSERT INTO chunks (first_seq, n, kind, workload, min_time_ms, max_time_ms, fragment, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    this.trim = db.prepare("DELETE FROM chunks WHERE first_seq <= ? AND first_seq + n - 1 <= ?");
    this.straddler = db.prepare("SELECT * FROM chunks WHERE first_seq <= ? ORDER BY first_seq LIMIT 1");
    this.deleteChunk = db.prepare("DELETE FROM chunks WHERE first_seq = ?");
    this.oldest = db.prepare("SELECT MIN(first_seq) AS lo FROM chunks");
    this.getNext = db.prepare("SELECT value FROM meta WHERE key = 'nextSeq'");
    this.setNext = db.prepare("INSERT INTO meta (key, value) VALUES ('nextSeq', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    this.addDropped = db.prepare("INSERT INTO meta (key, value) VALUES ('droppedOldest', ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value");
    this.getDropped = db.prepare("SELECT value FROM meta WHERE key = 'droppedOldest'");
    const tx = db.transaction((rows: readonly EncodedRecord[]) => {
      let next = this.nextSeq();
      for (const c of toChunks(rows)) {
        this.insertChunk({ ...c, firstSeq: next });
        next += c.n;
      }
      this.setNext.run(next);
      const last = next - 1;
      const lo = (this.oldest.get() as { lo: number | null }).lo;
      if (lo === null || last - lo + 1 <= this.maxRecords) return last;
      // Seqs lo … cutoff go: whole chunks, then the one chunk that straddles the cut loses its head.
      const cutoff = last - this.maxRecords;
      this.trim.run(cutoff, cutoff);
      const s = this.straddler.get(cutoff) as ChunkRow | undefined;
      if (s) {
        this.deleteChunk.run(s.first_seq);
        this.insertChunk(dropFirst(chunkOf(s), cutoff - s.first_seq + 1));
      }
      this.addDropped.run(cutoff - lo + 1);
      return last;
    });
    // IMMEDIATE: nextSeq is read and then written; a deferred transaction could lose the race for
    // the write lock to another process after reading (SQLITE_BUSY_SNAPSHOT, which busy_timeout does not retry).
    this.appendTx = tx.immediate;
  }

  private nextSeq(): number {
    return (this.getNext.get() as { value: number } | undefined)?.value ?? 1;
  }

  private insertChunk(c: Chunk): void {
    this.insert.run(c.firstSeq, c.n, c.kind, c.workload, c.minTime, c.maxTime, c.fragment, c.body);
  }

  /** Opens (creating when missing) the store at `path`; the file is mode 0600 (records name processes and paths). */
  static open(path: string = eventStorePath(), opts: { maxRecords?: number; busyTimeoutMs?: number; readonly?: boolean } = {}): EventStore {
    const maxRecords = opts.maxRecords ?? DEFAULT_MAX_RECORDS;
    if (!Number.isInteger(maxRecords) || maxRecords < 1) throw new PalisadeError("USAGE", `maxRecords must be a positive integer, not ${maxRecords}`);
    if (opts.readonly && !existsSync(path)) {
      throw new PalisadeError("IO", `no event store at ${path}`, { hint: "events are stored by `palisade run` (unless --no-sensor); set PALISADE_DATA_DIR if it uses another data directory" });
    }
    let db: Database.Database;
    try {
      if (!opts.readonly) {
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        closeSync(openSync(path, "a", 0o600));
        chmodSync(path, 0o600);
      }
      db = new Database(path, { fileMustExist: opts.readonly === true, readonly: opts.readonly === true });
    } catch (e) {
      throw storeError(path, "cannot open", e);
    }
    try {
      db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
      if (!opts.readonly) {
        // 16 KiB pages for a new file (no effect on an existing one): records are ~0.5–1 KiB, and
        // with 4 KiB pages the page writes made appends a third dearer (docs/benchmarks.md, "Sensor").
        db.pragma("page_size = 16384");
        db.pragma("journal_mode = WAL");
        db.pragma("synchronous = NORMAL");
        migrate(db);
      } else {
        const v = db.pragma("user_version", { simple: true }) as number;
        if (v > 0 && v < SCHEMA_VERSION) {
          // A store written by an older Palisade: a reader upgrades it once (it is the owner's file: root's).
          db.close();
          EventStore.open(path, { maxRecords, ...(opts.busyTimeoutMs !== undefined ? { busyTimeoutMs: opts.busyTimeoutMs } : {}) }).close();
          return EventStore.open(path, opts);
        }
        if (v !== SCHEMA_VERSION) throw new Error(`schema version ${v}, expected ${SCHEMA_VERSION}`);
      }
      return new EventStore(db, path, maxRecords);
    } catch (e) {
      db.close();
      throw e instanceof PalisadeError ? e : storeError(path, "cannot prepare", e);
    }
  }

  /**
   * Appends in one transaction; drops (and counts) the oldest records beyond
   * the bound. Returns the seq of the last record appended (the batch's seqs
   * are consecutive: the transaction holds the write lock), 0 for none.
   */
  append(records: readonly NewRecord[]): number {
    return this.appendEncoded(records.map(encodeRecord));
  }

  /** append() of records already encoded (encodeRecord): the pipeline's store worker receives them so. */
  appendEncoded(rows: readonly EncodedRecord[]): number {
    if (rows.length === 0) return 0;
    try {
      return this.appendTx(rows);
    } catch (e) {
      throw storeError(this.path, "append failed", e);
    }
  }

  /** Records in ascending seq. `since` compares with the record's UpdatedTime. */
  query(q: EventQuery = {}): StoredRecord[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const cond = (sql: string, ...arg: (string | number)[]) => {
      where.push(sql);
      args.push(...arg);
    };
    if (q.workload !== undefined) cond("workload = ?", q.workload);
    if (q.kind !== undefined) cond("kind = ?", q.kind);
    if (q.since !== undefined) cond("max_time_ms >= ?", q.since.getTime());
    if (q.afterSeq !== undefined) {
      // From the chunk holding afterSeq + 1 on: a range of the primary key, not a scan.
      cond("first_seq >= COALESCE((SELECT MAX(first_seq) FROM chunks WHERE first_seq <= ?), 0) AND first_seq + n - 1 > ?", q.afterSeq + 1, q.afterSeq);
    }
    const limit = q.limit !== undefined ? Math.max(0, Math.floor(q.limit)) : Infinity;
    const sql = `SELECT * FROM chunks${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY first_seq`;
    const out: StoredRecord[] = [];
    if (limit === 0) return out;
    const since = q.since?.getTime() ?? -Infinity;
    const after = q.afterSeq ?? -Infinity;
    try {
      for (const row of this.db.prepare(sql).iterate(...args) as IterableIterator<ChunkRow>) {
        for (const r of chunkRecords(chunkOf(row))) {
          if (r.seq <= after || r.timeMs < since) continue;
          out.push({ seq: r.seq, kind: row.kind, workload: row.workload, record: JSON.parse(r.json) as KubeArmorLog });
          if (out.length >= limit) return out;
        }
      }
      return out;
    } catch (e) {
      throw storeError(this.path, "query failed", e);
    }
  }

  stats(): StoreStats {
    const read = this.db.transaction(() => ({ lo: (this.oldest.get() as { lo: number | null }).lo, next: this.nextSeq(), dropped: (this.getDropped.get() as { value: number } | undefined)?.value ?? 0 }));
    const { lo, next, dropped } = read();
    if (lo === null) return { records: 0, droppedOldest: dropped };
    return { records: next - lo, droppedOldest: dropped, oldestSeq: lo, newestSeq: next - 1 };
  }

  /** Stores one report of the pipeline's counters (kept: the last 1000). */
  appendSensorStats(s: SensorStatsRow): void {
    try {
      this.db
        .prepare("INSERT INTO sensor_stats (time_ms, received, dropped, stored, parse_errors, detail) VALUES (?, ?, ?, ?, ?, ?)")
        .run(Date.parse(s.time) || Date.now(), s.received, s.dropped, s.stored, s.parseErrors, s.detail === undefined ? null : JSON.stringify(s.detail));
      this.db.prepare("DELETE FROM sensor_stats WHERE id <= (SELECT MAX(id) FROM sensor_stats) - 1000").run();
    } catch (e) {
      throw storeError(this.path, "storing sensor stats failed", e);
    }
  }

  /** Sensor stats reports since `since` (all kept ones when omitted), oldest first. */
  sensorStats(since?: Date): SensorStatsRow[] {
    const rows = this.db
      .prepare("SELECT time_ms, received, dropped, stored, parse_errors, detail FROM sensor_stats WHERE time_ms >= ? ORDER BY id")
      .all(since?.getTime() ?? 0) as { time_ms: number; received: number; dropped: number; stored: number; parse_errors: number; detail: string | null }[];
    return rows.map((r) => ({
      time: new Date(r.time_ms).toISOString(),
      received: r.received,
      dropped: r.dropped,
      stored: r.stored,
      parseErrors: r.parse_errors,
      ...(r.detail !== null ? { detail: JSON.parse(r.detail) as unknown } : {}),
    }));
  }

  /** PRAGMA integrity_check: "ok" or the problems found. */
  integrityCheck(): string {
    return (this.db.pragma("integrity_check") as { integrity_check: string }[]).map((r) => r.integrity_check).join("; ");
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function migrate(db: Database.Database): void {
  const v = db.pragma("user_version", { simple: true }) as number;
  if (v === SCHEMA_VERSION) return;
  if (v !== 0 && v !== 1) throw new Error(`unknown schema version ${v} (this Palisade knows ${SCHEMA_VERSION})`);
  const chunks = `
    CREATE TABLE chunks (
      first_seq INTEGER PRIMARY KEY,
      n INTEGER NOT NULL CHECK (n >= 1),
      kind TEXT NOT NULL CHECK (kind IN ('alert', 'log')),
      workload TEXT NOT NULL,
      min_time_ms INTEGER NOT NULL,
      max_time_ms INTEGER NOT NULL,
      fragment TEXT,
      body TEXT NOT NULL
    );
    CREATE INDEX chunks_workload ON chunks (workload, first_seq);`;
  // One transaction, taken for writing at once: two processes opening a new store race here.
  db.exec("BEGIN IMMEDIATE");
  try {
    const now = db.pragma("user_version", { simple: true }) as number;
    if (now === 0) {
      db.exec(`${chunks}
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS sensor_stats (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          time_ms INTEGER NOT NULL,
          received INTEGER NOT NULL,
          dropped INTEGER NOT NULL,
          stored INTEGER NOT NULL,
          parse_errors INTEGER NOT NULL,
          detail TEXT
        );`);
    } else if (now === 1) {
      // Version 1 had one events row per record: each becomes a chunk of one, seq kept.
      db.exec(`${chunks}
        INSERT INTO chunks (first_seq, n, kind, workload, min_time_ms, max_time_ms, fragment, body)
          SELECT seq, 1, kind, workload, time_ms, time_ms, NULL, time_ms || char(9) || char(9) || record || char(10) FROM events ORDER BY seq;
        INSERT INTO meta (key, value) VALUES ('nextSeq', COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), (SELECT MAX(seq) FROM events), 0) + 1)
          ON CONFLICT(key) DO UPDATE SET value = excluded.value;
        DROP TABLE events;`);
    }
    if (now !== SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
    db.exec("COMMIT");
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
}

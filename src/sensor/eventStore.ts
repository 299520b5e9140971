/**
 * EventStore: the durable local store of KubeArmor-shaped logs and alerts,
 * one SQLite file (`<dataDir>/events.db`, WAL), bounded to `maxRecords`.
 *
 * Layout (schema version 1, `PRAGMA user_version`):
 *
 *   events(seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- 1, 2, 3 … never reused
 *          time_ms INTEGER,   -- the record's UpdatedTime (else Timestamp, else append time), ms since epoch
 *          kind TEXT,         -- "alert" | "log"
 *          workload TEXT,     -- instance name, as `palisade ps` shows it
 *          record TEXT)       -- the KubeArmor JSON object, field names unchanged
 *   index events_workload (workload, seq); no time index: each index costs every
 *   insert, and a `since` scan of ≤ maxRecords rows is cheap next to that
 *   meta(key TEXT PRIMARY KEY, value INTEGER)      -- "droppedOldest": rows deleted by the bound
 *   sensor_stats(id INTEGER PRIMARY KEY, time_ms INTEGER, received, dropped, stored,
 *          parse_errors INTEGER, detail TEXT)     -- pipeline counters, one row per report
 *
 * The bound: append() inserts and then deletes the oldest rows beyond
 * maxRecords in the same transaction, and adds the number deleted to
 * droppedOldest, so a crash never leaves the file over the bound or the
 * counter out of step with the rows. Rows are deleted oldest-first only, so
 * the stored seqs are one contiguous range and the count is max − min + 1
 * (two index lookups instead of a COUNT(*) scan on every append).
 *
 * Durability: WAL with synchronous=NORMAL — a killed writer (SIGKILL) loses
 * nothing it committed; a power cut may lose the last transactions but never
 * corrupts the file. Several processes may write (each `palisade run`) and
 * read (`palisade logs --follow`) at once; writers wait up to busyTimeoutMs.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { PalisadeError } from "../core/errors.js";
import { dataDir } from "../core/paths.js";
import { timeMs } from "./eventTime.js";
import type { KubeArmorLog } from "./kubearmor.js";

export const DEFAULT_MAX_RECORDS = 100_000;
const SCHEMA_VERSION = 1;
const MULTI_ROWS = 50;

export type RecordKind = "alert" | "log";

export interface StoredRecord {
  readonly seq: number;
  readonly kind: RecordKind;
  readonly workload: string;
  readonly record: KubeArmorLog;
  /** The record as stored (JSON text), when the producer has it at hand. */
  readonly json?: string;
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

/** One row as stored: [time_ms, kind, workload, record JSON] (the events table's columns, in order). */
export type EncodedRecord = [number, RecordKind, string, string];

export function encodeRecord(r: NewRecord): EncodedRecord {
  return [recordTimeMs(r.record), r.kind, r.workload, JSON.stringify(r.record)];
}

/**
 * A just-stored row as a StoredRecord whose `record` is parsed only when
 * read: the pipeline hands every stored row to its onRecord callback, and
 * most callbacks look only at `kind`.
 */
export function storedRecord(seq: number, row: EncodedRecord): StoredRecord {
  let parsed: KubeArmorLog | undefined;
  return {
    seq,
    kind: row[1],
    workload: row[2],
    json: row[3],
    get record(): KubeArmorLog {
      return (parsed ??= JSON.parse(row[3]) as KubeArmorLog);
    },
  };
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
  private readonly insertMany: Database.Statement;
  private readonly trim: Database.Statement;
  private readonly bounds: Database.Statement;
  private readonly addDropped: Database.Statement;
  private readonly getDropped: Database.Statement;
  private readonly appendTx: (rows: readonly EncodedRecord[]) => number;

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
    readonly maxRecords: number,
  ) {
    this.insert = db.prepare("INSERT INTO events (time_ms, kind, workload, record) VALUES (?, ?, ?, ?)");
    this.insertMany = db.prepare(`INSERT INTO events (time_ms, kind, workload, record) VALUES ${Array(MULTI_ROWS).fill("(?, ?, ?, ?)").join(", ")}`);
    this.trim = db.prepare("DELETE FROM events WHERE seq <= ?");
    this.bounds = db.prepare("SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM events");
    this.addDropped = db.prepare("INSERT INTO meta (key, value) VALUES ('droppedOldest', ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value");
    this.getDropped = db.prepare("SELECT value FROM meta WHERE key = 'droppedOldest'");
    this.appendTx = db.transaction((rows: readonly EncodedRecord[]) => {
      let last = 0;
      let i = 0;
      // Multi-row INSERTs: a third cheaper per row than one statement per row (fewer native calls).
      for (; i + MULTI_ROWS <= rows.length; i += MULTI_ROWS) {
        const args: (string | number)[] = [];
        for (let j = i; j < i + MULTI_ROWS; j++) args.push(...rows[j]!);
        last = Number(this.insertMany.run(...args).lastInsertRowid);
      }
      for (; i < rows.length; i++) last = Number(this.insert.run(...rows[i]!).lastInsertRowid);
      const b = this.bounds.get() as { lo: number | null; hi: number | null };
      if (b.lo === null || b.hi === null || b.hi - b.lo + 1 <= this.maxRecords) return last;
      const deleted = this.trim.run(b.hi - this.maxRecords).changes;
      if (deleted > 0) this.addDropped.run(deleted);
      return last;
    });
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
      } else if ((db.pragma("user_version", { simple: true }) as number) !== SCHEMA_VERSION) {
        throw new Error(`schema version ${String(db.pragma("user_version", { simple: true }))}, expected ${SCHEMA_VERSION}`);
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
    const cond = (sql: string, arg: string | number) => {
      where.push(sql);
      args.push(arg);
    };
    if (q.workload !== undefined) cond("workload = ?", q.workload);
    if (q.kind !== undefined) cond("kind = ?", q.kind);
    if (q.since !== undefined) cond("time_ms >= ?", q.since.getTime());
    if (q.afterSeq !== undefined) cond("seq > ?", q.afterSeq);
    const limit = q.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(q.limit))}` : "";
    const sql = `SELECT seq, kind, workload, record FROM events${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY seq${limit}`;
    try {
      return (this.db.prepare(sql).all(...args) as { seq: number; kind: RecordKind; workload: string; record: string }[]).map((r) => ({
        seq: r.seq,
        kind: r.kind,
        workload: r.workload,
        record: JSON.parse(r.record) as KubeArmorLog,
      }));
    } catch (e) {
      throw storeError(this.path, "query failed", e);
    }
  }

  stats(): StoreStats {
    const b = this.bounds.get() as { lo: number | null; hi: number | null };
    const d = this.getDropped.get() as { value: number } | undefined;
    return {
      records: b.lo === null || b.hi === null ? 0 : b.hi - b.lo + 1,
      droppedOldest: d?.value ?? 0,
      ...(b.lo !== null ? { oldestSeq: b.lo } : {}),
      ...(b.hi !== null ? { newestSeq: b.hi } : {}),
    };
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
  if (v !== 0) throw new Error(`unknown schema version ${v} (this Palisade knows ${SCHEMA_VERSION})`);
  db.exec(`
    BEGIN;
    CREATE TABLE IF NOT EXISTS events (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      time_ms INTEGER NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('alert', 'log')),
      workload TEXT NOT NULL,
      record TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS events_workload ON events (workload, seq);
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS sensor_stats (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      time_ms INTEGER NOT NULL,
      received INTEGER NOT NULL,
      dropped INTEGER NOT NULL,
      stored INTEGER NOT NULL,
      parse_errors INTEGER NOT NULL,
      detail TEXT
    );
    PRAGMA user_version = ${SCHEMA_VERSION};
    COMMIT;
  `);
}

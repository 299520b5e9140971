/**
 * Opens the hub's database from one URL and migrates it:
 *
 *   sqlite:PATH            embedded SQLite file (WAL); the default is sqlite:<dataDir>/hub.sqlite
 *   sqlite::memory:        throw-away, for tests
 *   postgres://USER:PASS@HOST:PORT/DB   (or postgresql://) for large fleets and replicas
 *
 * Everything above this file talks to Kysely only, so the two engines share
 * every query; the few dialect differences (row locks, bulk updates) are
 * branches on `HubDb.dialect`.
 */
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import Database from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, type SqliteDatabase } from "kysely";
import pg from "pg";
import { PalisadeError } from "../core/errors.js";
import type { HubDb, HubTables } from "./hubDatabase.js";
import { migrateHubDb } from "./migrations.js";

export function defaultDbUrl(dataDir: string): string {
  return `sqlite:${join(dataDir, "hub.sqlite")}`;
}

export interface OpenHubDbOptions {
  /** PostgreSQL pool size per hub process. */
  readonly poolSize?: number;
  /** Skip migrations (audit verify reads a database without changing it). */
  readonly migrate?: boolean;
  /** Refuse to create a missing SQLite file (for read-only commands). */
  readonly mustExist?: boolean;
}

export async function openHubDb(url: string, options: OpenHubDbOptions = {}): Promise<HubDb> {
  const hub = url.startsWith("sqlite:") ? openSqlite(url.slice("sqlite:".length), options.mustExist === true) : /^postgres(ql)?:\/\//.test(url) ? await openPostgres(url, options) : undefined;
  if (hub === undefined) {
    throw new PalisadeError("USAGE", `unsupported database URL "${redact(url)}"`, {
      hint: "use sqlite:PATH (e.g. sqlite:/var/lib/palisade/hub.sqlite) or postgres://USER:PASSWORD@HOST:5432/DATABASE",
    });
  }
  if (options.migrate !== false) {
    try {
      await migrateHubDb(hub.db as Kysely<unknown>);
    } catch (err) {
      await hub.close();
      throw err;
    }
  }
  return hub;
}

function openSqlite(pathText: string, mustExist: boolean): HubDb {
  if (pathText === "") throw new PalisadeError("USAGE", "sqlite: URL has no path", { hint: "write sqlite:/path/to/hub.sqlite" });
  const memory = pathText === ":memory:";
  const path = memory ? pathText : resolve(pathText.replace(/^\/\/(?=\/)/, ""));
  if (mustExist && !memory && !existsSync(path)) {
    throw new PalisadeError("HUB_STORE", `no hub database at ${path}`, { hint: "pass the hub's --db URL or --data-dir (the default is <data dir>/hub.sqlite)" });
  }
  let sqlite: Database.Database;
  try {
    if (!memory) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const fresh = !memory && !existsSync(path);
    sqlite = new Database(path);
    // Token hashes and node keys are not secrets, but the file is nobody else's business.
    if (fresh) chmodSync(path, 0o600);
  } catch (err) {
    throw new PalisadeError("HUB_STORE", `cannot open SQLite database ${path}: ${(err as Error).message}`, {
      hint: "check the directory exists and is writable (or pass --data-dir / --db)",
      cause: err,
    });
  }
  // WAL: readers never block the writer; NORMAL sync is durable across process crashes in WAL mode.
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("foreign_keys = ON");
  // A second process (e.g. `palisade hub init` next to a running hub) waits instead of failing.
  sqlite.pragma("busy_timeout = 5000");
  const db = new Kysely<HubTables>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  return { db, dialect: "sqlite", description: `sqlite:${path}`, close: () => db.destroy() };
}

/**
 * Kysely prepares every query anew, and with better-sqlite3 preparing (parsing
 * and planning the SQL) costs more than running the hub's point queries.
 * The hub issues a small set of distinct SQL texts (values are always bound
 * parameters), so prepared statements are kept by text, least recently used
 * dropped beyond `max`. Reusing a statement is safe here: better-sqlite3 runs
 * it to completion synchronously, and the hub never streams (iterate).
 */
export function withStatementCache(sqlite: Database.Database, max = 256): SqliteDatabase {
  const cache = new Map<string, Database.Statement>();
  return {
    prepare(sqlText: string) {
      let stmt = cache.get(sqlText);
      if (stmt === undefined) {
        stmt = sqlite.prepare(sqlText);
        if (cache.size >= max) cache.delete(cache.keys().next().value as string);
      } else cache.delete(sqlText);
      cache.set(sqlText, stmt);
      return stmt;
    },
    close() {
      cache.clear();
      sqlite.close();
    },
  };
}

async function openPostgres(url: string, options: OpenHubDbOptions): Promise<HubDb> {
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10, connectionTimeoutMillis: 10_000 });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on("error", () => {});
  try {
    const client = await pool.connect();
    client.release();
  } catch (err) {
    await pool.end().catch(() => {});
    throw new PalisadeError("HUB_STORE", `cannot connect to PostgreSQL at ${redact(url)}: ${(err as Error).message}`, {
      hint: "check the server is running, the URL (user, password, host, port, database) and pg_hba.conf; scripts/postgres.sh sets up a local one",
      cause: err,
    });
  }
  const db = new Kysely<HubTables>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: "postgres", description: redact(url), close: () => db.destroy() };
}

/** The URL with its password replaced, for messages and logs. */
export function redact(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]+):[^@]*@/, "$1:***@");
}

/** A unique or primary-key violation, in either engine. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}

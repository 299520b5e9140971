/** The SQLite prepared-statement cache under the hub's Kysely (openHubDb.ts). */
import Database from "better-sqlite3";
import { Kysely, SqliteDialect, sql } from "kysely";
import { describe, expect, it } from "vitest";
import { withStatementCache } from "../../src/hub/openHubDb.js";

describe("withStatementCache", () => {
  it("prepares each SQL text once, and results stay correct when a statement is reused with other parameters", async () => {
    const raw = new Database(":memory:");
    let prepared = 0;
    const counting = Object.assign(Object.create(raw) as Database.Database, {
      prepare: (text: string) => {
        prepared += 1;
        return raw.prepare(text);
      },
    });
    const db = new Kysely<{ t: { id: number; v: string } }>({ dialect: new SqliteDialect({ database: withStatementCache(counting) }) });
    await sql`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`.execute(db);
    for (let i = 1; i <= 20; i++) await db.insertInto("t").values({ id: i, v: `v${i}` }).execute();
    const before = prepared;
    for (let i = 1; i <= 20; i++) expect((await db.selectFrom("t").select("v").where("id", "=", i).executeTakeFirst())?.v).toBe(`v${i}`);
    expect(prepared - before).toBe(1);
    await db.destroy();
  });

  it("drops the least recently used statement beyond its size, and re-prepares it when asked again", () => {
    const raw = new Database(":memory:");
    const cache = withStatementCache(raw, 2);
    const a = cache.prepare("SELECT 1");
    const b = cache.prepare("SELECT 2");
    expect(cache.prepare("SELECT 1")).toBe(a); // now the most recent; "SELECT 2" is the oldest
    cache.prepare("SELECT 3");
    expect(cache.prepare("SELECT 1")).toBe(a);
    expect(cache.prepare("SELECT 2")).not.toBe(b);
    cache.close();
    expect(raw.open).toBe(false);
  });

  it("a cached statement still works after the schema changes under it", () => {
    const raw = new Database(":memory:");
    const cache = withStatementCache(raw);
    raw.exec("CREATE TABLE t (a INTEGER)");
    raw.exec("INSERT INTO t VALUES (1)");
    expect(cache.prepare("SELECT count(*) AS n FROM t").all([])).toEqual([{ n: 1 }]);
    raw.exec("ALTER TABLE t ADD COLUMN b TEXT");
    raw.exec("INSERT INTO t VALUES (2, 'x')");
    expect(cache.prepare("SELECT count(*) AS n FROM t").all([])).toEqual([{ n: 2 }]);
  });
});

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { CHUNK_MAX, chunkRecords, dropFirst, fullJson, toChunks, type Chunk, type EncodedRecord } from "../../src/sensor/eventChunks.js";
import { EventStore } from "../../src/sensor/eventStore.js";

const dirs: string[] = [];
function tmpStore(): string {
  const d = mkdtempSync(join(tmpdir(), "palisade-chunks-"));
  dirs.push(d);
  return join(d, "events.db");
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Rows as the pipeline makes them: whole records, records without their workload fragment, and hand-made JSON text with raw line breaks. */
const row: fc.Arbitrary<EncodedRecord> = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 2 ** 45 }), fc.constantFrom("alert" as const, "log" as const), fc.constantFrom("a", "b"), fc.jsonValue().map((v) => JSON.stringify(v))),
  fc
    .tuple(fc.integer({ min: 0, max: 2 ** 45 }), fc.constantFrom("a", "b"), fc.string(), fc.string(), fc.constantFrom(`"ClusterName":"c","PodName":"a",`, `"PodName":"b\\t",`))
    .map(([t, w, x, y, f]) => [t, "log", w, `{"x":${JSON.stringify(x)},"y":${JSON.stringify(y)}}`, `{"x":${JSON.stringify(x)},`.length, f] as const),
  fc.tuple(fc.integer({ min: 0, max: 2 ** 45 }), fc.string()).map(([t, s]) => [t, "log", "a", `{"raw":"${s}\n"}\n`] as const),
);

function withSeqs(rows: readonly EncodedRecord[]): Chunk[] {
  let seq = 1;
  return toChunks(rows).map((c) => {
    const out = { ...c, firstSeq: seq };
    seq += c.n;
    return out;
  });
}

describe("chunks (eventChunks.ts)", () => {
  it("give back every record whole, in order, with its seq and time, whatever the rows", () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 40 }), (rows) => {
        const chunks = withSeqs(rows);
        const back = chunks.flatMap((c) => chunkRecords(c));
        expect(back.map((r) => r.json)).toEqual(rows.map(fullJson));
        expect(back.map((r) => r.timeMs)).toEqual(rows.map((r) => r[0]));
        expect(back.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
        for (const c of chunks) {
          const mine = rows.slice(c.firstSeq - 1, c.firstSeq - 1 + c.n);
          expect(new Set(mine.map((r) => `${r[1]} ${r[2]} ${r.length === 6 ? r[5] : ""}`)).size).toBe(1);
          expect(c.minTime).toBe(Math.min(...mine.map((r) => r[0])));
          expect(c.maxTime).toBe(Math.max(...mine.map((r) => r[0])));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("dropFirst keeps the rest of a chunk exactly", () => {
    fc.assert(
      fc.property(fc.array(row.filter((r) => !r[3].includes("\n")), { minLength: 2, maxLength: 30 }), fc.nat(), (rows, k0) => {
        const same = rows.map((r) => [r[0], "log", "a", ...r.slice(3)] as unknown as EncodedRecord);
        const fragmentless = same.map((r) => (r.length === 6 ? ([r[0], r[1], r[2], fullJson(r)] as const) : r));
        const [c] = withSeqs(fragmentless);
        const k = k0 % c!.n;
        const cut = dropFirst(c!, k);
        expect(chunkRecords(cut)).toEqual(chunkRecords(c!).slice(k));
        expect(cut.minTime).toBe(Math.min(...fragmentless.slice(k).map((r) => r[0])));
      }),
      { numRuns: 300 },
    );
  });

  it("a chunk holds at most CHUNK_MAX records", () => {
    const rows = Array.from({ length: CHUNK_MAX * 2 + 1 }, (_, i): EncodedRecord => [i, "log", "w", `{"i":${i}}`]);
    expect(toChunks(rows).map((c) => c.n)).toEqual([CHUNK_MAX, CHUNK_MAX, 1]);
    expect(() => toChunks([[1, "logs" as "log", "w", "{}"]])).toThrow(/malformed record/);
  });
});

describe("EventStore on chunks", () => {
  const frag = `"ClusterName":"default","PodName":"web",`;
  const part = (i: number): EncodedRecord => {
    const head = `{"Timestamp":${i},"UpdatedTime":"t${i}",`;
    return [1000 + i, "log", "web", `${head}"Resource":"/r/${i}"}`, head.length, frag];
  };

  it("stores records without their workload fields and reads them back whole, across a bound that cuts a chunk", () => {
    const store = EventStore.open(tmpStore(), { maxRecords: 250 });
    store.appendEncoded(Array.from({ length: 200 }, (_, i) => part(i)));
    store.append([{ kind: "alert", workload: "web", record: { UpdatedTime: "1970-01-01T00:00:01.200Z", Resource: "/alert" } }]);
    store.appendEncoded(Array.from({ length: 100 }, (_, i) => part(200 + i)));
    // 301 appended, bound 250: the first chunk lost its first 51 records.
    expect(store.stats()).toEqual({ records: 250, droppedOldest: 51, oldestSeq: 52, newestSeq: 301 });
    const all = store.query();
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 250 }, (_, i) => 52 + i));
    expect(all[0]!.record).toEqual({ Timestamp: 51, UpdatedTime: "t51", ClusterName: "default", PodName: "web", Resource: "/r/51" });
    expect(all.find((r) => r.kind === "alert")!.seq).toBe(201);
    expect(store.query({ afterSeq: 200, limit: 2 }).map((r) => [r.seq, r.record.Resource])).toEqual([
      [201, "/alert"],
      [202, "/r/200"],
    ]);
    expect(store.query({ kind: "alert" }).map((r) => r.seq)).toEqual([201]);
    expect(store.query({ since: new Date(1000 + 298) }).map((r) => r.record.Resource)).toEqual(["/r/298", "/r/299"]);
    expect(store.integrityCheck()).toBe("ok");
    store.close();
  });

  it("upgrades a version-1 store (one row per record) keeping seqs, records and the drop counter; a reader upgrades it too", () => {
    for (const readonly of [false, true]) {
      const path = tmpStore();
      const v1 = new Database(path);
      v1.exec(`
        CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('alert', 'log')), workload TEXT NOT NULL, record TEXT NOT NULL);
        CREATE INDEX events_workload ON events (workload, seq);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
        CREATE TABLE sensor_stats (id INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, received INTEGER NOT NULL, dropped INTEGER NOT NULL, stored INTEGER NOT NULL, parse_errors INTEGER NOT NULL, detail TEXT);
        PRAGMA user_version = 1;`);
      const ins = v1.prepare("INSERT INTO events (time_ms, kind, workload, record) VALUES (?, ?, ?, ?)");
      for (let i = 1; i <= 10; i++) ins.run(1000 + i, i % 4 === 0 ? "alert" : "log", i % 2 ? "a" : "b", JSON.stringify({ Resource: `/v1/${i}`, Data: "tab\there" }));
      v1.exec("DELETE FROM events WHERE seq <= 3; INSERT INTO meta VALUES ('droppedOldest', 3)");
      v1.close();

      const store = EventStore.open(path, { readonly });
      expect(store.stats()).toEqual({ records: 7, droppedOldest: 3, oldestSeq: 4, newestSeq: 10 });
      expect(store.query({ workload: "b" }).map((r) => [r.seq, r.kind, r.record.Resource])).toEqual([
        [4, "alert", "/v1/4"],
        [6, "log", "/v1/6"],
        [8, "alert", "/v1/8"],
        [10, "log", "/v1/10"],
      ]);
      store.close();
      const w = EventStore.open(path, { maxRecords: 8 });
      w.append([{ kind: "log", workload: "a", record: { Resource: "/v2/11" } }, { kind: "log", workload: "a", record: { Resource: "/v2/12" } }]);
      expect(w.stats()).toEqual({ records: 8, droppedOldest: 4, oldestSeq: 5, newestSeq: 12 });
      expect(w.query().map((r) => r.record.Resource)).toEqual(["/v1/5", "/v1/6", "/v1/7", "/v1/8", "/v1/9", "/v1/10", "/v2/11", "/v2/12"]);
      w.close();
    }
  });

  it("two processes appending at once get distinct, contiguous seqs and lose nothing", async () => {
    const path = tmpStore();
    EventStore.open(path).close();
    const start = Date.now() + 3000; // both have started up by then: their appends interleave
    const writer = (tag: string) =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "fixtures", "storeWriter.ts"), path, "100000", "40", tag, String(start)], { stdio: ["ignore", "ignore", "pipe"] });
        let err = "";
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`writer ${tag} exited ${code}: ${err}`))));
      });
    await Promise.all([writer("x"), writer("y")]);
    const store = EventStore.open(path, { readonly: true });
    const all = store.query();
    expect(store.stats()).toMatchObject({ records: 40_000, oldestSeq: 1, newestSeq: 40_000 });
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 40_000 }, (_, i) => i + 1));
    for (const tag of ["x", "y"]) {
      // Each writer's records are all there, in its own order.
      const mine = all.map((r) => r.record.Resource as string).filter((res) => res.startsWith(`/${tag}/`));
      expect(mine).toEqual(Array.from({ length: 20_000 }, (_, i) => `/${tag}/${i}`));
    }
    store.close();
  });
});

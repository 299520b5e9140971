import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PalisadeError } from "../../src/core/errors.js";
import { EventStore } from "../../src/sensor/eventStore.js";

const dirs: string[] = [];
function tmpStore(): string {
  const d = mkdtempSync(join(tmpdir(), "palisade-events-"));
  dirs.push(d);
  return join(d, "events.db");
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const rec = (i: number, t = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString()) => ({ UpdatedTime: t, Resource: `/r/${i}`, Operation: "File" });

describe("EventStore", () => {
  it("keeps exactly maxRecords under a flood of 10× the bound and counts the rest as droppedOldest", () => {
    const path = tmpStore();
    const store = EventStore.open(path, { maxRecords: 1000 });
    let i = 0;
    for (let b = 0; b < 100; b++) {
      store.append(Array.from({ length: 100 }, () => ({ kind: i % 3 === 0 ? ("alert" as const) : ("log" as const), workload: "w", record: rec(i++) })));
      expect(store.stats().records).toBeLessThanOrEqual(1000);
    }
    const s = store.stats();
    expect(s).toEqual({ records: 1000, droppedOldest: 9000, oldestSeq: 9001, newestSeq: 10000 });
    const all = store.query({});
    expect(all).toHaveLength(1000);
    expect(all[0]!.record.Resource).toBe("/r/9000");
    expect(all.at(-1)!.record.Resource).toBe("/r/9999");
    store.close();
    // The bound and the counter survive reopening.
    const again = EventStore.open(path, { maxRecords: 1000 });
    expect(again.stats().droppedOldest).toBe(9000);
    again.append([{ kind: "log", workload: "w", record: rec(10000) }]);
    expect(again.stats()).toMatchObject({ records: 1000, droppedOldest: 9001, newestSeq: 10001 });
    again.close();
  });

  it("a single batch larger than the bound keeps its newest records", () => {
    const store = EventStore.open(tmpStore(), { maxRecords: 10 });
    store.append(Array.from({ length: 25 }, (_, i) => ({ kind: "log" as const, workload: "w", record: rec(i) })));
    expect(store.stats()).toMatchObject({ records: 10, droppedOldest: 15 });
    expect(store.query({}).map((r) => r.record.Resource)).toEqual(Array.from({ length: 10 }, (_, i) => `/r/${i + 15}`));
    store.close();
  });

  it("queries by workload, kind, time, seq and limit, in ascending seq", () => {
    const store = EventStore.open(tmpStore());
    store.append([
      { kind: "log", workload: "a", record: rec(1) },
      { kind: "alert", workload: "b", record: rec(2) },
      { kind: "alert", workload: "a", record: rec(3) },
      { kind: "log", workload: "a", record: rec(4) },
    ]);
    expect(store.query({ workload: "a" }).map((r) => r.seq)).toEqual([1, 3, 4]);
    expect(store.query({ kind: "alert" }).map((r) => [r.workload, r.seq])).toEqual([["b", 2], ["a", 3]]);
    expect(store.query({ since: new Date(Date.UTC(2026, 0, 1, 0, 0, 3)) }).map((r) => r.seq)).toEqual([3, 4]);
    expect(store.query({ afterSeq: 2, limit: 1 }).map((r) => r.seq)).toEqual([3]);
    expect(store.query({ workload: "a", kind: "log", afterSeq: 1 })[0]!.record).toEqual(rec(4));
    store.close();
  });

  it("stores sensor stats reports and creates the file 0600", () => {
    const path = tmpStore();
    const store = EventStore.open(path);
    store.appendSensorStats({ time: "2026-01-01T00:00:00Z", received: 10, dropped: 2, stored: 8, parseErrors: 0, detail: { bpf: { dropped: 2 } } });
    expect(store.sensorStats()).toEqual([{ time: "2026-01-01T00:00:00.000Z", received: 10, dropped: 2, stored: 8, parseErrors: 0, detail: { bpf: { dropped: 2 } } }]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    store.close();
  });

  it("refuses a bad bound and reports a missing store as a PalisadeError", () => {
    expect(() => EventStore.open(tmpStore(), { maxRecords: 0 })).toThrow(PalisadeError);
    const missing = join(tmpStore(), "..", "nope.db");
    expect(() => EventStore.open(missing, { readonly: true })).toThrow(/no event store/);
  });

  it("a writer killed by SIGKILL mid-flood leaves an intact store within its bound", async () => {
    const path = tmpStore();
    const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "fixtures", "storeWriter.ts"), path, "2000"], { stdio: ["ignore", "pipe", "inherit"] });
    let batches = 0;
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (d: string) => {
        batches += d.split("\n").filter((l) => l.startsWith("batch")).length;
        if (batches >= 20) {
          child.kill("SIGKILL");
          resolve();
        }
      });
      child.once("exit", (code) => (batches < 20 ? reject(new Error(`writer exited early (${code})`)) : undefined));
    });
    await new Promise((r) => child.once("close", r));
    const store = EventStore.open(path, { maxRecords: 2000 });
    expect(store.integrityCheck()).toBe("ok");
    const s = store.stats();
    // Every committed batch is there (or counted): the writer got at least `batches` batches in.
    expect(s.records).toBe(2000);
    expect(s.records + s.droppedOldest).toBe(s.newestSeq);
    expect(s.newestSeq).toBeGreaterThanOrEqual(batches * 500);
    expect(s.newestSeq! % 500).toBe(0); // whole transactions only
    expect(store.query({}).at(-1)!.record.Resource).toBe(`/f/${s.newestSeq! - 1}`);
    store.close();
  });
});

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { encodeRecord, EventStore, type EncodedRecord } from "../../src/sensor/eventStore.js";
import { StoreWriter } from "../../src/sensor/storeWriter.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const rec = (i: number) => ({ kind: "log" as const, workload: "w", record: { UpdatedTime: "2026-01-01T00:00:00.000000Z", Timestamp: 1, Resource: `/r/${i}`, Operation: "File" } });

describe("StoreWriter (EventStore appends on a worker thread)", () => {
  it("stores batches in order, in the caller's file, with the seqs the store gave", async () => {
    const dir = mkdtempSync(join(tmpdir(), "palisade-writer-"));
    dirs.push(dir);
    const store = EventStore.open(join(dir, "events.db"), { maxRecords: 5 });
    const writer = await StoreWriter.start(store.path, store.maxRecords);
    expect(writer, "a worker must start under the test runner too").toBeDefined();
    const a = await writer!.append([0, 1, 2].map((i) => encodeRecord(rec(i))));
    const b = writer!.append([3, 4, 5, 6].map((i) => encodeRecord(rec(i))));
    await writer!.sync();
    expect(a).toEqual({ ok: true, last: 3 });
    expect(await b).toEqual({ ok: true, last: 7 });
    // The bound holds across connections: the worker trimmed to the newest 5.
    expect(store.query().map((r) => r.record.Resource)).toEqual(["/r/2", "/r/3", "/r/4", "/r/5", "/r/6"]);
    await writer!.close();
    store.close();
  });

  it("reports a batch it could not store instead of losing it silently", async () => {
    const dir = mkdtempSync(join(tmpdir(), "palisade-writer-"));
    dirs.push(dir);
    const store = EventStore.open(join(dir, "events.db"));
    const writer = await StoreWriter.start(store.path, store.maxRecords);
    // A malformed row (too few columns) fails its whole batch, and says so.
    const bad = await writer!.append([encodeRecord(rec(1)), [1, "log"] as unknown as EncodedRecord]);
    expect(bad.ok).toBe(false);
    expect(bad.error).toMatch(/append failed/);
    expect(store.query()).toEqual([]);
    const good = await writer!.append([encodeRecord(rec(2))]);
    expect(good).toEqual({ ok: true, last: expect.any(Number) });
    await writer!.close();
    // A closed writer answers at once, with an error, instead of waiting for a worker that is gone.
    const after = await writer!.append([encodeRecord(rec(3))]);
    expect(after.ok).toBe(false);
    expect(store.query().map((r) => r.record.Resource)).toEqual(["/r/2"]);
    store.close();
  });
});

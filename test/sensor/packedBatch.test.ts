import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { EncodedRecord } from "../../src/sensor/eventChunks.js";
import { PackedBatch, packRows, unpackRows } from "../../src/sensor/packedBatch.js";

const bytes = (text: string) => new TextEncoder().encode(text);

describe("packed batches (the main thread → store worker format)", () => {
  it("unpack(pack(rows)) gives the rows back for any workload name, JSON record and workload fragment", () => {
    // A fragment is any text (it is never split on), shared by some rows of a batch.
    const fragment = fc.option(fc.tuple(fc.nat(), fc.constantFrom("", `"ClusterName":"c",`, "a\tb\nc", "é\u2028")), { nil: undefined });
    const row = fc.tuple(fc.integer({ min: 0, max: 2 ** 45 }), fc.constantFrom("alert" as const, "log" as const), fc.string({ unit: "binary" }), fc.jsonValue(), fragment);
    fc.assert(
      fc.property(fc.array(row, { maxLength: 20 }), (rs) => {
        const rows: EncodedRecord[] = rs.map(([t, k, w, v, f]) => (f ? [t, k, w, JSON.stringify(v), f[0], f[1]] : [t, k, w, JSON.stringify(v)]));
        const packed = packRows(rows);
        expect(packed).toBeDefined();
        expect(new Set(packed!.fragments).size).toBe(packed!.fragments.length); // each crosses once
        expect(unpackRows(packed!)).toEqual(rows);
      }),
      { numRuns: 500 },
    );
  });

  it("refuses to pack a record with a raw line break or tab, and rejects a damaged batch", () => {
    expect(packRows([[1, "log", "w", String.raw`{"a":"x\ny"}`]])).toBeDefined(); // JSON's escaped \n is fine
    expect(packRows([[1, "log", "w", '{"a":"x' + "\n" + 'y"}']])).toBeUndefined();
    expect(packRows([[1, "log", "w", '{"a":1}' + "\t"]])).toBeUndefined();
    expect(() => unpackRows({ bytes: bytes('1\tlog\t"w"\n'), fragments: [] })).toThrow(/bad packed batch/);
    expect(() => unpackRows({ bytes: bytes('1\tlogs\t"w"\t\t\t{}\n'), fragments: [] })).toThrow(/bad record kind/);
    expect(() => unpackRows({ bytes: bytes('1\tlog\t"w"\t1\t3\t{}\n'), fragments: ["x"] })).toThrow(/bad fragment index/);
  });

  it("a batch grows past its first buffer, counts rows and alerts, and starts empty after take()", () => {
    const b = new PackedBatch(64);
    const rows: EncodedRecord[] = Array.from({ length: 300 }, (_, i) => [i, i % 7 ? "log" : "alert", "wé", JSON.stringify({ i, s: "ü".repeat(i % 50) })]);
    for (const r of rows) expect(b.add(r)).toBe(true);
    expect(b.add([1, "log", "w", "{\n}"])).toBe(false);
    const p = b.take();
    expect([p.rows, p.alerts]).toEqual([300, 43]);
    expect(unpackRows(p)).toEqual(rows);
    expect(b.rows).toBe(0);
    b.add(rows[0]!);
    expect(unpackRows(b.take())).toEqual([rows[0]]);
  });
});

/**
 * The classification behind the paired overhead benchmark
 * (bench/sensorOverhead.ts): a segment counts for a side only when it lies
 * wholly inside one watched or unwatched period, and pairs are adjacent
 * on/off periods. A mistake here would silently mix the two sides.
 */
import { describe, expect, it } from "vitest";
import { pairSegments, quantile } from "../../bench/sensorOverhead.js";

const seg = (t0: number, t1: number, ns: number) => ({ t0: BigInt(t0), t1: BigInt(t1), ns });
const tog = (from: number, to: number, on: boolean) => ({ from: BigInt(from), to: BigInt(to), on });

describe("pairSegments", () => {
  const toggles = [tog(100, 110, true), tog(200, 210, false), tog(300, 310, true), tog(400, 410, false)];

  it("drops segments before the first toggle or across one, and pairs adjacent periods by their medians", () => {
    const r = pairSegments(
      [
        seg(10, 90, 1), // before any toggle: start-up, neither side
        seg(95, 120, 999), // across the first toggle's window
        seg(120, 150, 110),
        seg(160, 190, 130),
        seg(190, 215, 999), // across the second toggle
        seg(220, 250, 100),
        seg(320, 390, 120),
        seg(420, 450, 90),
        seg(455, 470, 110),
      ],
      toggles,
    );
    expect(r).toEqual({ pairs: [{ on: 120, off: 100 }, { on: 120, off: 100 }], kept: 6, discarded: 3 });
  });

  it("makes no pair across a period without a clean segment", () => {
    // Period 1 (off) has nothing clean: period 0 stays unpaired, periods 2 and 3 pair.
    const r = pairSegments([seg(120, 150, 110), seg(205, 260, 999), seg(320, 390, 130), seg(420, 450, 100)], toggles);
    expect(r.pairs).toEqual([{ on: 130, off: 100 }]);
    expect(r.discarded).toBe(1);
  });

  it("pairs an off period followed by an on period the same way", () => {
    const r = pairSegments([seg(220, 250, 100), seg(320, 390, 125)], toggles);
    expect(r.pairs).toEqual([{ off: 100, on: 125 }]);
  });
});

describe("quantile", () => {
  it("interpolates between order statistics", () => {
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5], 0.25)).toBe(2);
    expect(quantile([10], 0.75)).toBe(10);
    expect(quantile([], 0.5)).toBeNaN();
  });
});

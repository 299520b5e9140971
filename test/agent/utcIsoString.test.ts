/**
 * The agent's ICU-free Date.prototype.toISOString (src/agent/utcIsoString.ts)
 * must answer exactly what V8's built-in answers, for every valid time value
 * including the extended ±YYYYYY years, and fail the same way.
 */
import { describe, expect, it } from "vitest";
import { utcIsoString } from "../../src/agent/utcIsoString.js";

const builtin = Date.prototype.toISOString;

describe("utcIsoString", () => {
  it("formats every time as the built-in does", () => {
    const edges = [0, -1, 1, 999, -999, 8.64e15, -8.64e15, Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(10000, 0, 1), Date.UTC(-1, 0, 1), Date.UTC(0, 0, 1), Date.UTC(1970, 0, 1, 0, 0, 0, 5), Date.UTC(2026, 10, 23, 9, 8, 7, 60)];
    // A fixed pseudo-random sequence (xorshift), so a failure is reproducible.
    let x = 0x9e3779b9;
    const times = [...edges];
    for (let i = 0; i < 20_000; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      times.push(Math.trunc(((x >>> 0) / 0xffffffff - 0.5) * 2 * 8.64e15));
    }
    for (const t of times) expect(utcIsoString.call(new Date(t)), String(t)).toBe(builtin.call(new Date(t)));
  });

  it("throws RangeError for an invalid date and TypeError for something that is not a Date", () => {
    expect(() => utcIsoString.call(new Date(NaN))).toThrow(RangeError);
    expect(() => builtin.call(new Date(NaN))).toThrow(RangeError);
    expect(() => utcIsoString.call({} as Date)).toThrow(TypeError);
  });
});

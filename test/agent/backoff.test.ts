/** Retry timing (src/agent/backoff.ts): exponential, capped, jittered, reset on success. */
import { describe, expect, it } from "vitest";
import { Backoff, jittered } from "../../src/agent/backoff.js";
import { formatDuration, parseDuration } from "../../src/agent/parseDuration.js";

describe("backoff", () => {
  it("doubles from the initial delay up to the cap, with equal jitter in [d/2, d]", () => {
    const low = new Backoff({ initialMs: 1000, maxMs: 30_000, random: () => 0 });
    const high = new Backoff({ initialMs: 1000, maxMs: 30_000, random: () => 0.999999 });
    const lows = Array.from({ length: 8 }, () => low.fail());
    const highs = Array.from({ length: 8 }, () => high.fail());
    expect(lows).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    expect(highs).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    expect(low.failures).toBe(8);
  });

  it("spreads a fleet: many devices failing together do not retry in the same instant", () => {
    const delays = Array.from({ length: 1000 }, () => {
      const b = new Backoff({ initialMs: 1000, maxMs: 60_000 });
      for (let i = 0; i < 5; i++) b.fail();
      return b.fail();
    });
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(16_000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(32_000);
    // Roughly uniform: no one-second bucket holds more than a tenth of the fleet.
    const buckets = new Map<number, number>();
    for (const d of delays) buckets.set(Math.floor(d / 1000), (buckets.get(Math.floor(d / 1000)) ?? 0) + 1);
    expect(Math.max(...buckets.values())).toBeLessThan(100);
  });

  it("starts over after a success", () => {
    const b = new Backoff({ initialMs: 200, maxMs: 10_000, random: () => 1 });
    b.fail();
    b.fail();
    b.fail();
    b.succeed();
    expect(b.failures).toBe(0);
    expect(b.fail()).toBe(200);
  });

  it("rejects nonsense settings", () => {
    expect(() => new Backoff({ initialMs: 0, maxMs: 10 })).toThrow(RangeError);
    expect(() => new Backoff({ initialMs: 100, maxMs: 10 })).toThrow(RangeError);
  });

  it("jitters the steady poll by ±10 %", () => {
    expect(jittered(30_000, 0.1, () => 0)).toBe(27_000);
    expect(jittered(30_000, 0.1, () => 1)).toBe(33_000);
    expect(jittered(30_000, 0.1, () => 0.5)).toBe(30_000);
  });

  it("parses the durations the CLI takes", () => {
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("5m")).toBe(300_000);
    expect(parseDuration("24h")).toBe(86_400_000);
    expect(parseDuration("7d")).toBe(604_800_000);
    expect(parseDuration("2")).toBe(2000);
    expect(parseDuration("1.5s")).toBe(1500);
    for (const bad of ["", "0s", "-1s", "5 minutes", "1w", "s"]) expect(() => parseDuration(bad, "--poll"), bad).toThrow(/--poll must be a positive duration/);
    expect(formatDuration(90_000)).toBe("1m30s");
    expect(formatDuration(912)).toBe("912ms");
    expect(formatDuration(86_400_000 + 1000)).toBe("1d1s");
  });
});

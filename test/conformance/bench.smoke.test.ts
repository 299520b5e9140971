/**
 * Keeps the confinement benchmark (bench/confinement.ts) from rotting: runs
 * the whole harness once with tiny iteration counts — both sides, all four
 * benchmarks, the markdown. No timing assertions: speed is reported by the
 * benchmark itself (docs/benchmarks.md), never judged in tests.
 */
import { spawnSync } from "node:child_process";
import { expect } from "vitest";
import { runConfinementBench } from "../../bench/confinement.js";
import { METRICS, TINY } from "../../bench/lib/measure.js";
import { kernelIt, type Requirement } from "../kernelTest.js";
import { CONTAINERS } from "../runtime/runtimeFixture.js";

const tool = (cmd: string, pkg: string): Requirement => ({
  feature: cmd,
  check: () => (spawnSync(cmd, ["--version"], { stdio: "ignore" }).error ? `${cmd} is not installed (apt-get install ${pkg}; scripts/setup.sh does)` : null),
});

kernelIt(
  "the benchmark harness runs end to end with tiny counts (confined and bare runc, all four benchmarks)",
  [...CONTAINERS, tool("wrk", "wrk"), tool("nsenter", "util-linux"), tool("gcc", "gcc")],
  async () => {
    const r = await runConfinementBench({ rounds: 1, sizes: TINY });
    expect(r.rounds).toHaveLength(1);
    expect(r.summaries.map((s) => s.metric.key)).toEqual(METRICS.map((m) => m.key));
    for (const s of r.summaries) {
      for (const v of [s.confined, s.bare, s.median]) expect(Number.isFinite(v) && v > 0, `${s.metric.key}: ${v}`).toBe(true);
    }
    expect(r.markdown).toMatch(/^\| busybox httpd \+ wrk \|/m);
    expect(r.markdown).toMatch(/Start latency split/);
  },
  180_000,
);

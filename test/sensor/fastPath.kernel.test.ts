/**
 * The per-CPU "same key as the last event" fast path of on_sys_exit
 * (FAST_NOTE in src/native/sensor/sensor.bpf.c), attacked: events that
 * differ from the cached key only in the path's last byte, the path's
 * length, the result, the uid, the pid or the cgroup must never be counted
 * as repeats of it, and counts must stay exact while user space swaps the
 * aggregation maps (and drains the fast slots) many times a second — also
 * when short processes follow one another and each takes the slot over
 * from the one before (FAST_MISSES, fast_fold).
 */
import { describe, expect } from "vitest";
import type { FileEvent, SensorEvent } from "../../src/sensor/events.js";
import { SensorProcess } from "../../src/sensor/sensorProcess.js";
import { kernelIt, LINUX, ROOT } from "../kernelTest.js";
import { BIN, BPF, CGROUP2, cleanupAfterEach, collect, makeCgroup, runHelper, SENSOR_BUILT } from "./helpers.js";

const REQS = [LINUX, ROOT, SENSOR_BUILT, BPF, CGROUP2];
const defer = cleanupAfterEach();


async function startSensor(cgroupIds: string[], flushMs: number): Promise<SensorProcess> {
  const s = await SensorProcess.start({ binDir: BIN, bpf: "required", audit: false, cgroupIds, flushMs });
  defer(() => s.stop());
  return s;
}


const isFile = (e: SensorEvent): e is FileEvent => e.type === "file";

/** Sum of counts per "pid uid cgroup result path" among file events of `paths`. */
function sums(events: readonly SensorEvent[], paths: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of events) {
    if (!isFile(e) || !paths.includes(e.path)) continue;
    const k = `${e.pid} ${e.uid} ${e.cgroupId} ${e.result} ${e.path}`;
    m.set(k, (m.get(k) ?? 0) + e.count);
  }
  return m;
}

describe("on_sys_exit fast path (per-CPU last key)", () => {
  kernelIt("never folds an event into a key that differs in path, path length, result or uid", REQS, async () => {
    const cg = makeCgroup("fastkey", defer);
    const sensor = await startSensor([cg.id], 60_000);
    const events = collect(sensor);
    const n = 3000;
    // Each attack starts right after a swap (flush), with empty slots: the first key repeated
    // fills the slot, the second must not match it.
    const attacks = [
      ["repeat=/nonexistent/fa", "repeat=/nonexistent/fb"], // same length, last byte differs
      ["repeat=/etc/hostname", "repeat=/etc/host"], // a prefix: shorter path, another result
      ["repeat=/etc/hostname", "uid=65534", "repeat=/etc/hostname"], // another uid
    ];
    const pids: number[] = [];
    for (const steps of attacks) {
      await sensor.flush();
      const run = await runHelper([`cgroup=${cg.path}`, ...steps.map((s) => (s.startsWith("repeat=") ? `${s},${n}` : s))]);
      expect(run.code).toBe(0);
      pids.push(run.pid);
    }
    const stats = await sensor.flush();
    expect(stats).toMatchObject({ dropped: 0 });
    const got = sums(events, ["/etc/hostname", "/nonexistent/fa", "/nonexistent/fb", "/etc/host"]);
    const fd = (events.find((e) => isFile(e) && e.path === "/etc/hostname" && e.pid === pids[1]) as FileEvent).result;
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(Object.fromEntries(got)).toEqual({
      [`${pids[0]} 0 ${cg.id} -2 /nonexistent/fa`]: n,
      [`${pids[0]} 0 ${cg.id} -2 /nonexistent/fb`]: n,
      [`${pids[1]} 0 ${cg.id} ${fd} /etc/hostname`]: n,
      [`${pids[1]} 0 ${cg.id} -2 /etc/host`]: n,
      [`${pids[2]} 0 ${cg.id} ${fd} /etc/hostname`]: n,
      [`${pids[2]} 65534 ${cg.id} ${fd} /etc/hostname`]: n,
    });
  });

  kernelIt(
    "keeps pids and cgroups apart and counts exactly while the maps are swapped every 5 ms",
    REQS,
    async () => {
      const a = makeCgroup("fasta", defer);
      const b = makeCgroup("fastb", defer);
      const sensor = await startSensor([a.id, b.id], 5);
      const events = collect(sensor);
      const n = 40_000;
      // Four processes on two CPUs: the same path from different pids and cgroups interleave on each CPU.
      const runs = await Promise.all([a, a, b, b].map((cg) => runHelper([`cgroup=${cg.path}`, `repeat=/etc/hostname,${n}`])));
      const stats = await sensor.flush();
      expect(stats).toMatchObject({ dropped: 0 });
      const got = sums(events, ["/etc/hostname"]);
      const perPid = new Map<number, { cg: string; count: number }[]>();
      for (const [k, count] of got) {
        const [pid, , cgId] = k.split(" ");
        perPid.set(Number(pid), [...(perPid.get(Number(pid)) ?? []), { cg: cgId!, count }]);
      }
      for (const [i, r] of runs.entries()) {
        expect(r.code).toBe(0);
        expect(perPid.get(r.pid), `pid ${r.pid}`).toEqual([{ cg: (i < 2 ? a : b).id, count: n }]);
      }
      // Many repeat lines (one per swap at most per key and slot), still exact in total.
      const lines = events.filter((e) => isFile(e) && e.path === "/etc/hostname");
      expect(lines.filter((e) => isFile(e) && e.repeat).length).toBeGreaterThan(4);
    },
    60_000,
  );

  kernelIt("hands the slot to each new process of a run of short ones: exact counts, repeats on the fast path", REQS, async () => {
    const cg = makeCgroup("fastrun", defer);
    const sensor = await startSensor([cg.id], 60_000); // one interval: no swap frees the slot
    const events = collect(sensor);
    const n = 4000;
    const procs = 8;
    const runs = [];
    // One after another on one CPU, each a new pid and so a new key. Before the slot could be
    // taken over, the first process kept it and the seven others took the map path.
    for (let i = 0; i < procs; i++) runs.push(await runHelper([`cgroup=${cg.path}`, "cpu=0", `repeat=/etc/hostname,${n}`]));
    const stats = await sensor.flush();
    expect(stats).toMatchObject({ dropped: 0 });
    const got = sums(events, ["/etc/hostname"]);
    for (const r of runs) {
      expect(r.code).toBe(0);
      expect(got.get(`${r.pid} 0 ${cg.id} 3 /etc/hostname`), `pid ${r.pid}`).toBe(n);
    }
    // Per process: the first occurrence to the ring and at most FAST_MISSES (4) map-path repeats
    // before it takes the slot; the rest are counted there.
    expect(stats?.fastHits).toBeGreaterThanOrEqual(procs * (n - 1 - 4) * 0.95);
  });

  kernelIt(
    "counts exactly while short processes take the slots over and the maps are swapped every 5 ms",
    REQS,
    async () => {
      const cg = makeCgroup("fastswap", defer);
      const sensor = await startSensor([cg.id], 5);
      const events = collect(sensor);
      const n = 15_000;
      // A process that starts while user space swaps the maps may fill a slot with a key the
      // old map holds; the next process must still take the slot over (fast_fold adds the key
      // to the new map) and every count must come out exact.
      const runs = [];
      for (let i = 0; i < 8; i++) runs.push(await runHelper([`cgroup=${cg.path}`, `cpu=${i % 2}`, `repeat=/etc/hostname,${n}`]));
      const stats = await sensor.flush();
      expect(stats).toMatchObject({ dropped: 0 });
      const got = sums(events, ["/etc/hostname"]);
      expect([...got.values()].reduce((a, b) => a + b, 0)).toBe(8 * n);
      for (const r of runs) expect(got.get(`${r.pid} 0 ${cg.id} 3 /etc/hostname`), `pid ${r.pid}`).toBe(n);
    },
    60_000,
  );
});

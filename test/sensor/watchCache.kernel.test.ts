/**
 * WATCH_CACHE (src/native/sensor/sensor.bpf.c): each CPU keeps whether the
 * last cgroup it looked up is watched. Attacked here: a process stays in one
 * cgroup on one CPU — so its own events keep that CPU's cached answer warm —
 * while the test watches and unwatches the cgroup between two of its opens.
 * Every open after a watch's ack must be reported, none after an unwatch's
 * ack (set_watch bumps watch_gen once running programs finished).
 */
import { spawn } from "node:child_process";
import { describe, expect } from "vitest";
import type { FileEvent, SensorEvent } from "../../src/sensor/events.js";
import { SensorProcess } from "../../src/sensor/sensorProcess.js";
import { kernelIt, LINUX, ROOT } from "../kernelTest.js";
import { BIN, BPF, CGROUP2, cleanupAfterEach, collect, HELPER, makeCgroup, SENSOR_BUILT } from "./helpers.js";

const REQS = [LINUX, ROOT, SENSOR_BUILT, BPF, CGROUP2];
const defer = cleanupAfterEach();

/** The test helper, stepped: `until(step, arg)` resolves once it printed that step's result; `next()` lets it past a `wait` step. */
function steppedHelper(args: readonly string[]) {
  const child = spawn(HELPER, args, { stdio: ["pipe", "pipe", "inherit"] });
  defer(() => child.kill("SIGKILL"));
  let out = "";
  let waiters: { line: string; resolve: () => void }[] = [];
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    const ready = waiters.filter((w) => out.includes(w.line));
    waiters = waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  });
  return {
    until: (step: string, arg: string) =>
      new Promise<void>((resolve) => {
        const line = `"step":"${step}","arg":"${arg}"`;
        if (out.includes(line)) resolve();
        else waiters.push({ line, resolve });
      }),
    next: () => void child.stdin.write("\n"),
    done: new Promise<number | null>((resolve) => child.on("close", resolve)),
  };
}

describe("per-CPU watched-cgroup cache", () => {
  kernelIt("follows watch and unwatch at once, with the process's own answer cached on its CPU", REQS, async () => {
    const toggled = makeCgroup("wtoggle", defer);
    const other = makeCgroup("wother", defer);
    // Another cgroup stays watched, so the programs never take the "nothing watched" exit.
    const sensor = await SensorProcess.start({ binDir: BIN, bpf: "required", audit: false, cgroupIds: [other.id] });
    defer(() => sensor.stop());
    const events = collect(sensor);
    const rounds = 4;
    const steps = [`cgroup=${toggled.path}`, "cpu=0"];
    // Each round three opens (the first caches the answer on CPU 0), then a pause for the test to toggle.
    for (let i = 0; i < rounds; i++) steps.push(`repeat=/nonexistent/wc-${i},3`, ...(i + 1 < rounds ? ["wait"] : []));
    const h = steppedHelper(steps);
    for (let i = 0; i + 1 < rounds; i++) {
      await h.until("repeat", `/nonexistent/wc-${i}`);
      if (i % 2 === 0) await sensor.watch(toggled.id);
      else await sensor.unwatch(toggled.id);
      h.next();
    }
    expect(await h.done).toBe(0);
    await sensor.flush();
    const counts = new Map<string, number>();
    for (const e of events as SensorEvent[]) {
      if (e.type !== "file" || !(e as FileEvent).path.startsWith("/nonexistent/wc-")) continue;
      const f = e as FileEvent;
      expect(f.cgroupId).toBe(toggled.id);
      counts.set(f.path, (counts.get(f.path) ?? 0) + f.count);
    }
    // Round 0 ran unwatched, then watch → round 1 reported, unwatch → round 2 not, watch → round 3.
    expect(Object.fromEntries(counts)).toEqual({ "/nonexistent/wc-1": 3, "/nonexistent/wc-3": 3 });
  });
});

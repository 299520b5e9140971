/**
 * Where the sensor's cost goes, per request of the confinement benchmark's
 * server (docs/benchmarks.md, "Sixth round"; docs/sensor.md, "Filtering and
 * cost"): busybox httpd, confined and watched from its start, answers
 * `wrk -t2 -c16`; wrk runs alternate between the sensor's kernel side
 * watching the server's cgroup ("on") and not ("off", the baseline of the
 * same run). For each side, CPU per request of:
 *   - this Node process: its main thread (sensor lines → records) and its
 *     other threads together (the store worker, V8's and libuv's threads);
 *   - palisade-sensor (the BPF loader: ring buffer → JSON lines);
 *   - each BPF program (the kernel's BPF stats, enabled for the run: run
 *     time and count per program, as `bpftool prog show` reports them).
 * The workload's own CPU is not split out: "machine" is everything, both
 * cores. Absolute µs move with the machine; on − off is the sensor's.
 *
 *   sudo npx tsx bench/sensorCpu.ts [--runs N] [--seconds S] [--markdown FILE]
 *
 * Needs what bench/sensor.ts needs (root, kernel BTF, runc, busybox, wrk) and
 * bpftool.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../src/core/paths.js";
import { EventPipeline } from "../src/sensor/eventPipeline.js";
import { EventStore } from "../src/sensor/eventStore.js";
import { flagValue, runIfMain, writeMarkdown } from "./lib/cli.js";
import { cpuSeconds, machineCpuSeconds, progIdsOfPid, threadCpuSeconds } from "./lib/procStats.js";
import { withBenchContext } from "./lib/targets.js";
import { watchedServer } from "./sensorOverhead.js";

const BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled";

/** run_time_ns and run_cnt per program name, for the programs with these ids. */
function bpfStats(ids: ReadonlySet<number>): Map<string, { ns: number; runs: number }> {
  const r = spawnSync("bpftool", ["prog", "show", "-j"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`bpftool prog show failed: ${r.stderr.trim() || r.error?.message}`);
  const out = new Map<string, { ns: number; runs: number }>();
  for (const p of JSON.parse(r.stdout) as { id?: number; name?: string; run_time_ns?: number; run_cnt?: number }[]) {
    if (p.name && p.id !== undefined && ids.has(p.id)) out.set(p.name, { ns: p.run_time_ns ?? 0, runs: p.run_cnt ?? 0 });
  }
  return out;
}

interface Snapshot {
  readonly main: number;
  readonly others: number;
  readonly sensor: number;
  readonly machine: number;
  readonly bpf: Map<string, { ns: number; runs: number }>;
}

function snapshot(sensorPid: number, progs: ReadonlySet<number>): Snapshot {
  let main = 0;
  let others = 0;
  for (const [k, s] of threadCpuSeconds(process.pid)) {
    if (k.startsWith(`${process.pid} `)) main += s;
    else others += s;
  }
  return { main, others, sensor: cpuSeconds(sensorPid) ?? 0, machine: machineCpuSeconds().busy, bpf: bpfStats(progs) };
}

/** µs per request for each part, summed over one side's runs. */
type Side = { requests: number; parts: Map<string, number> };

function add(side: Side, a: Snapshot, b: Snapshot, requests: number): void {
  const us = (s: number) => s * 1e6;
  const bump = (k: string, v: number) => side.parts.set(k, (side.parts.get(k) ?? 0) + v);
  side.requests += requests;
  bump("Node main thread", us(b.main - a.main));
  bump("Node other threads", us(b.others - a.others));
  bump("palisade-sensor", us(b.sensor - a.sensor));
  bump("machine (2 cores)", us(b.machine - a.machine));
  for (const [name, s] of b.bpf) bump(`BPF ${name}`, (s.ns - (a.bpf.get(name)?.ns ?? 0)) / 1000);
}

async function measure(runs: number, seconds: number, log: (l: string) => void): Promise<{ on: Side; off: Side }> {
  return withBenchContext(async (ctx, dataDir) => {
    const store = EventStore.open(join(dataDir, "events.db"));
    const pipeline = await EventPipeline.start({ store, log });
    const sensorPid = (pipeline.status().bpf.ready as { pid?: number } | undefined)?.pid;
    if (!sensorPid) throw new Error("the BPF sensor did not start (see docs/sensor.md, Fallback)");
    const progs = new Set(progIdsOfPid(sensorPid));
    const statsWas = readFileSync(BPF_STATS, "utf8").trim();
    const sides = { on: { requests: 0, parts: new Map() } as Side, off: { requests: 0, parts: new Map() } as Side };
    try {
      const server = await watchedServer(ctx, pipeline);
      try {
        writeFileSync(BPF_STATS, "1");
        let on = true;
        for (let i = 0; i < 2 * runs; i++) {
          const a = snapshot(sensorPid, progs);
          const rate = await server.wrk(seconds);
          await pipeline.flush(); // the records of this run are handled within it
          const b = snapshot(sensorPid, progs);
          add(on ? sides.on : sides.off, a, b, rate * seconds);
          log(`${on ? "on " : "off"} run ${Math.floor(i / 2) + 1}/${runs}: ${(rate * seconds).toFixed(0)} requests`);
          on = !on;
          await server.watchKernel(on);
        }
      } finally {
        writeFileSync(BPF_STATS, statsWas);
        await server.stop();
      }
    } finally {
      await pipeline.close();
      store.close();
    }
    return sides;
  });
}

function markdown(r: { on: Side; off: Side }, command: string): string {
  const keys = [...new Set([...r.on.parts.keys(), ...r.off.parts.keys()])];
  const per = (s: Side, k: string) => (s.parts.get(k) ?? 0) / Math.max(1, s.requests);
  return [
    `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC. Command: \`${command}\`. ${r.on.requests.toFixed(0)} requests watched, ${r.off.requests.toFixed(0)} not.`,
    "",
    "| CPU per request | sensor off (µs) | sensor on (µs) | on − off (µs) |",
    "| --- | ---: | ---: | ---: |",
    ...keys.map((k) => `| ${k} | ${per(r.off, k).toFixed(1)} | ${per(r.on, k).toFixed(1)} | ${(per(r.on, k) - per(r.off, k)).toFixed(1)} |`),
  ].join("\n");
}

async function main(argv: readonly string[]): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("the benchmark loads BPF programs and runs containers: run it as root");
  const arg = (name: string) => flagValue(argv, name);
  const runs = Number(arg("--runs") ?? 5);
  const seconds = Number(arg("--seconds") ?? 2);
  if (!(runs >= 1 && seconds >= 1)) throw new Error("--runs and --seconds must be ≥ 1");
  const out = arg("--markdown") ?? join(repoRoot(), "build", "bench", "sensor-cpu.md");
  writeMarkdown(out, markdown(await measure(runs, seconds, (l) => process.stderr.write(`${l}\n`)), `sudo npx tsx bench/sensorCpu.ts ${argv.join(" ")}`.trim()));
}

runIfMain(import.meta.url, main);

/**
 * Sensor benchmarks (docs/benchmarks.md, "Sensor"):
 *
 * 1. Throughput, kernel → stored record: the static test helper, alone in a
 *    watched cgroup, opens N distinct (missing) paths in paced bursts; the
 *    EventPipeline (BPF sensor + palisade-auditd → KubeArmor mapping →
 *    evaluate() → SQLite) stores one record per open. For each pacing we
 *    report the offered rate (opens / helper run time), the end-to-end rate
 *    (records / time from the helper's start until the last record was
 *    stored) and the drop counters; the highest end-to-end rate with zero
 *    drops and every record stored is the result.
 * 2. Workload overhead, sensor on vs off, paired (bench/sensorOverhead.ts):
 *    the open/close and exec loops in one confined workload each
 *    (REALISTIC_POLICY), in short segments, while the pipeline toggles
 *    watching its cgroup; overhead = median over on/off pairs of
 *    (on ns/op ÷ off ns/op − 1), with the interquartile range. And the
 *    confinement benchmark's server (busybox httpd + wrk), one wrk run per
 *    side (sensorOverhead.ts: pairedHttp).
 *
 *   sudo npx tsx bench/sensor.ts [--events N] [--pairs P] [--period-ms MS] [--tiny] [--only throughput|overhead] [--loops open,exec,http] [--markdown FILE]
 *
 * Needs root, kernel BTF, audit, runc, busybox-static, gcc (static helpers).
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmdirSync, rmSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { nativeBuildDir, repoRoot } from "../src/core/paths.js";
import { combinePolicies, evaluate } from "../src/policy/index.js";
import { cgroup2Mount } from "../src/sensor/cgroup.js";
import { EventPipeline } from "../src/sensor/eventPipeline.js";
import { parseSensorLine, type SensorEvent } from "../src/sensor/events.js";
import { encodeRecord, EventStore, type EncodedRecord } from "../src/sensor/eventStore.js";
import { timeMs } from "../src/sensor/eventTime.js";
import { logParts } from "../src/sensor/logJson.js";
import { packRows } from "../src/sensor/packedBatch.js";
import { toKubeArmor, type KubeArmorLog } from "../src/sensor/kubearmor.js";
import { operationOf } from "../src/sensor/logOperation.js";
import { ProcessTable } from "../src/sensor/processTable.js";
import { PAIRED_FULL, PAIRED_TINY, pairedHttp, pairedOverhead, type LoopName, type PairedOptions, type PairedResult } from "./sensorOverhead.js";
import { childrenOf, commOf, cpuSeconds, machineCpuSeconds } from "./lib/procStats.js";
import { flagValue, runIfMain, writeMarkdown } from "./lib/cli.js";
import { withBenchContext } from "./lib/targets.js";

const HELPER = join(nativeBuildDir(), "palisade-sensor-testhelper");

interface Pacing {
  readonly chunk: number;
  readonly sleepMs: number;
}

interface ThroughputRow extends Pacing {
  readonly events: number;
  /** CPU µs per offered event over the round: Node (all its threads), palisade-sensor, the whole machine (both cores). */
  readonly cpuUs: { readonly node: number; readonly sensor: number; readonly machine: number };
  readonly offered: number;
  readonly endToEnd: number;
  readonly stored: number;
  readonly dropped: number;
}

function noPolicy() {
  return combinePolicies([], { app: "flood" }, { namespace: "default" });
}

/** Runs the helper in `cgroup`, flooding `events` distinct paths in paced chunks; resolves with its pid and run time. */
function flood(cgroup: string, events: number, p: Pacing, tag: string): Promise<{ pid: number; ms: number }> {
  // One step, so the helper's command line (every record's Source) is short, as a real
  // workload's is; spelled as separate flood=/sleep= steps it was cut at the sensor's 512 bytes.
  const steps = [`bursts=/nonexistent/${tag}/c,${events},${p.chunk},${p.sleepMs}`];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(HELPER, [`cgroup=${cgroup}`, "--", HELPER, ...steps], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve({ pid: child.pid!, ms: performance.now() - t0 }) : reject(new Error(`helper exited ${code}: ${err}`))));
  });
}

export async function throughput(events: number, pacings: readonly Pacing[], log: (l: string) => void): Promise<ThroughputRow[]> {
  const mount = cgroup2Mount();
  if (!mount) throw new Error("no cgroup2 hierarchy");
  const dir = mkdtempSync(join(tmpdir(), "palisade-sensorbench-"));
  const cgroup = join(mount, `palisade-sensor-bench-${process.pid}`);
  mkdirSync(cgroup);
  const store = EventStore.open(join(dir, "events.db"), { maxRecords: 10 * events });
  // Batches stored since the pacing began: how many records, and when each was committed.
  let counting: { n: number; batches: { last: number; at: number }[] } | undefined;
  const pipeline = await EventPipeline.start({
    store,
    log,
    onStored: (b) => {
      counting?.batches.push({ last: b.last, at: performance.now() });
      if (counting) counting.n += b.last - b.first + 1;
    },
  });
  const rows: ThroughputRow[] = [];
  try {
    await pipeline.watch({ name: "flood", cgroupPath: cgroup, containerId: "flood", containerName: "flood", namespace: "default", labels: { app: "flood" }, image: "helper", effective: noPolicy(), auditOnly: false });
    for (const [i, p] of pacings.entries()) {
      const before = await pipeline.flush();
      const tag = `r${i}`;
      const prefix = `/nonexistent/${tag}/`;
      const seq0 = store.stats().newestSeq ?? 0;
      counting = { n: 0, batches: [] };
      const sensorPid = childrenOf(process.pid).find((pid) => commOf(pid) === "palisade-sensor");
      const cpu0 = { node: process.cpuUsage(), sensor: sensorPid ? cpuSeconds(sensorPid) ?? 0 : 0, machine: machineCpuSeconds().busy };
      const t0 = performance.now();
      const run = await flood(cgroup, events, p, tag);
      const deadline = performance.now() + 30_000;
      while (counting.n < events && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const after = await pipeline.flush();
      // Exactly this pacing's records (the helper's exec and the like are not counted), and when the last was committed.
      const mine = store.query({ afterSeq: seq0 }).filter((r) => typeof r.record.Resource === "string" && r.record.Resource.startsWith(prefix));
      const lastSeq = mine.at(-1)?.seq ?? 0;
      const lastAt = counting.batches.find((b) => b.last >= lastSeq)?.at ?? performance.now();
      const nodeCpu = process.cpuUsage(cpu0.node);
      const row: ThroughputRow = {
        ...p,
        events,
        cpuUs: {
          node: (nodeCpu.user + nodeCpu.system) / events,
          sensor: (((sensorPid ? cpuSeconds(sensorPid) ?? 0 : 0) - cpu0.sensor) * 1e6) / events,
          machine: ((machineCpuSeconds().busy - cpu0.machine) * 1e6) / events,
        },
        offered: events / (run.ms / 1000),
        endToEnd: mine.length / ((lastAt - t0) / 1000),
        stored: mine.length,
        dropped: after.dropped - before.dropped,
      };
      rows.push(row);
      if (rows.length >= 2 && rows.slice(-2).every((r) => r.dropped > 0)) {
        log(`chunk ${p.chunk} sleep ${p.sleepMs} ms: offered ${Math.round(row.offered)}/s, stored ${row.stored}/${events} at ${Math.round(row.endToEnd)}/s, dropped ${row.dropped}; stopping the sweep (two in a row lost events)`);
        break;
      }
      log(`chunk ${p.chunk} sleep ${p.sleepMs} ms: offered ${Math.round(row.offered)}/s, stored ${row.stored}/${events} at ${Math.round(row.endToEnd)}/s, dropped ${row.dropped}; CPU µs/event: node ${row.cpuUs.node.toFixed(1)}, sensor ${row.cpuUs.sensor.toFixed(1)}, machine ${row.cpuUs.machine.toFixed(1)}`);
    }
  } finally {
    await pipeline.close();
    store.close();
    rmdirSync(cgroup);
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/** The paired measurement (bench/sensorOverhead.ts) of both loops, plus the pipeline's totals and the load before/after. */
export interface OverheadResult {
  readonly results: readonly PairedResult[];
  readonly dropped: number;
  readonly stored: number;
  readonly load: { readonly before: readonly number[]; readonly after: readonly number[] };
}

export async function overhead(o: PairedOptions, log: (l: string) => void, loops: readonly LoopName[] = ["open", "exec", "http"]): Promise<OverheadResult> {
  return withBenchContext(async (ctx, dataDir) => {
    const store = EventStore.open(join(dataDir, "events.db"));
    const pipeline = await EventPipeline.start({ store, log });
    const before = loadavg();
    try {
      const results: PairedResult[] = [];
      for (const loop of loops) {
        const r = loop === "http" ? await pairedHttp(ctx, pipeline, o.httpPairs, o.wrkSeconds, log) : await pairedOverhead(ctx, pipeline, loop, o, log);
        results.push(r);
        log(`${loop}: ${r.pairs.length} pairs in ${r.seconds.toFixed(0)} s (segments kept ${r.segments.kept}, discarded ${r.segments.discarded}); off ${r.offNs.toFixed(0)} ns/op, on ${r.onNs.toFixed(0)} ns/op; overhead median ${r.median.toFixed(1)} %, IQR ${r.q1.toFixed(1)} … ${r.q3.toFixed(1)} %`);
        log(`${loop} per pair (%): ${r.pairs.map((p) => p.pct.toFixed(1)).join(" ")}`);
      }
      const s = await pipeline.flush();
      log(`pipeline: ${JSON.stringify(s)}`);
      return { results, dropped: s.dropped, stored: s.stored, load: { before, after: loadavg() } };
    } finally {
      await pipeline.close();
      store.close();
    }
  });
}

/**
 * Where the pipeline's time goes, per event, on synthetic file-open lines
 * (no kernel): each stage run over the whole set, µs per event. The log path
 * (what these events take: no policy rule speaks about them) is parse →
 * enrich → logParts → pack for the store worker → store; the alert path
 * (toKubeArmor → operationOf → evaluate → JSON) is timed on the same events
 * for comparison.
 */
export function stageCosts(n = 50_000): Record<string, number> {
  const lines = Array.from({ length: n }, (_, i) =>
    JSON.stringify({ type: "file", source: "bpf", time: "2026-01-01T00:00:00.000000001Z", pid: 2, tid: 2, ppid: 1, nsPid: 7, nsPpid: 1, uid: 1000, gid: 1000, cgroupId: "9", comm: "cat", count: 1, syscall: "openat", nr: 257, path: `/nonexistent/c_${i}`, pathTruncated: false, dirfd: -100, flags: 0, flagNames: "O_RDONLY", mode: 0, result: -2, errno: "ENOENT", denied: false }),
  );
  const w = { containerId: "x", containerName: "x", namespace: "default", labels: { app: "x" }, image: `busybox@sha256:${"a".repeat(64)}` };
  const mapOpts = { lookup: () => w, hostName: "h" };
  const eff = noPolicy();
  const table = new ProcessTable({ procFallback: false });
  const time = <T>(f: () => T): [T, number] => {
    const t = performance.now();
    const r = f();
    return [r, ((performance.now() - t) * 1000) / n];
  };
  const [evs, parse] = time(() => lines.map((l) => (parseSensorLine(l) as { event: SensorEvent }).event));
  const [enriched, enrich] = time(() => evs.map((e) => (table.observe(e), table.enrich(e))));
  const [parts, logJsonUs] = time(() => enriched.map((e) => logParts(e, mapOpts)!));
  const encoded: EncodedRecord[] = parts.map((p, i) => [timeMs(enriched[i]!.time), "log", "x", p.json, p.at, p.fragment]);
  const [, pack] = time(() => {
    for (let i = 0; i < n; i += 2000) packRows(encoded.slice(i, i + 2000));
  });
  const [logs, map] = time(() => enriched.map((e) => toKubeArmor(e, mapOpts) as KubeArmorLog));
  const [ops, operation] = time(() => logs.map((l) => operationOf(l)));
  const [, evaluateUs] = time(() => ops.map((o) => o && evaluate(eff, o)));
  const [, encode] = time(() => logs.map((record) => encodeRecord({ kind: "log" as const, workload: "x", record })));
  const dir = mkdtempSync(join(tmpdir(), "palisade-stages-"));
  const store = EventStore.open(join(dir, "events.db"), { maxRecords: 10 * n });
  const [, storeUs] = time(() => {
    for (let i = 0; i < n; i += 2000) store.appendEncoded(encoded.slice(i, i + 2000));
  });
  store.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    parse,
    enrich,
    "logParts (log path)": logJsonUs,
    "pack (log path)": pack,
    "alert path: toKubeArmor": map,
    "alert path: operationOf": operation,
    "alert path: evaluate": evaluateUs,
    "alert path: JSON": encode,
    "store (worker thread)": storeUs,
  };
}

/** Slowest first; the sweep stops after two pacings in a row lost events (faster ones would too). */
const PACINGS: readonly Pacing[] = [250, 120, 70, 40, 20, 12, 8, 5, 2, 0].map((sleepMs) => ({ chunk: 1000, sleepMs }));

/** The overhead part of the report: one row per loop, the verdicts, the load the run saw. */
function overheadMarkdown(oh: OverheadResult | undefined): string[] {
  if (!oh) return [];
  const o = oh.results[0];
  const unit = (l: string, ns: number) => (l === "exec" ? `${(ns / 1000).toFixed(0)} µs` : `${Math.round(ns).toLocaleString("en")} ns`);
  const label = (l: LoopName) => ({ open: "open+close (same file)", exec: "exec (sh → /bin/true)", http: "busybox httpd + wrk (per request)" })[l];
  return [
    `**Workload overhead, sensor on vs off, paired** (bench/sensorOverhead.ts: one confined workload per loop runs short segments while the pipeline toggles watching its cgroup every period; segments across a toggle discarded; adjacent on/off periods paired; overhead = on ns/op ÷ off ns/op − 1, median over pairs; ${o ? `${o.seconds.toFixed(0)} s for the open loop` : ""}):`,
    "",
    "| loop | pairs | off (median ns/op) | on (median ns/op) | overhead: median | IQR (25–75 %) | goal ≤ 5 % |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ...oh.results.map((r) => `| ${label(r.loop)} | ${r.pairs.length} | ${unit(r.loop, r.offNs)} | ${unit(r.loop, r.onNs)} | **${r.median.toFixed(1)} %** | ${r.q1.toFixed(1)} … ${r.q3.toFixed(1)} % | ${r.median <= 5 ? "met" : "NOT met"} |`),
    "",
    `Load average before ${oh.load.before.map((x) => x.toFixed(2)).join(" ")}, after ${oh.load.after.map((x) => x.toFixed(2)).join(" ")}. The pipeline stored ${oh.stored.toLocaleString("en")} records during the overhead runs with ${oh.dropped} dropped.`,
    "",
  ];
}

function markdown(tp: readonly ThroughputRow[], oh: OverheadResult | undefined, stages: Record<string, number>, cmd: string): string {
  const logPath = Object.entries(stages).filter(([k]) => !k.startsWith("alert path"));
  const totalUs = logPath.reduce((a, [, v]) => a + v, 0);
  const mainUs = logPath.reduce((a, [k, v]) => (k.includes("worker") ? a : a + v), 0);
  const clean = tp.filter((r) => r.dropped === 0 && r.stored === r.events);
  const best = clean.reduce<ThroughputRow | undefined>((b, r) => (!b || r.endToEnd > b.endToEnd ? r : b), undefined);
  const cpu = cpus()[0]?.model.trim() ?? "unknown CPU";
  return [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${release()}. Command: \`${cmd}\`.`,
    "",
    "**Throughput, kernel → stored record** (distinct opens by one process in a watched cgroup, paced in bursts of 1000; 16 MiB ring; every open becomes one stored KubeArmor record):",
    "",
    "| pacing | offered (opens/s) | stored end to end (records/s) | stored | dropped | CPU µs/event: Node | palisade-sensor | whole machine |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...tp.map((r) => `| ${r.chunk} then ${r.sleepMs} ms | ${Math.round(r.offered).toLocaleString("en")} | ${Math.round(r.endToEnd).toLocaleString("en")} | ${r.stored.toLocaleString("en")} / ${r.events.toLocaleString("en")} | ${r.dropped} | ${r.cpuUs.node.toFixed(1)} | ${r.cpuUs.sensor.toFixed(1)} | ${r.cpuUs.machine.toFixed(1)} |`),
    "",
    best ? `Highest end-to-end rate with zero drops: **${Math.round(best.endToEnd).toLocaleString("en")} events/s** (goal ≥ 50,000: ${best.endToEnd >= 50_000 ? "met" : "NOT met"}).` : "No pacing ran without drops (goal NOT met).",
    "",
    ...overheadMarkdown(oh),
    `**Where the time goes** (Node, per event, synthetic open lines, one stage at a time; log path on the pipeline thread ${mainUs.toFixed(1)} µs ≈ ${Math.round(1e6 / mainUs).toLocaleString("en")} events/s on one core, the store worker ${(totalUs - mainUs).toFixed(1)} µs on another, before the kernel side and the workload take their share of the 2 cores):`,
    "",
    `| ${Object.keys(stages).join(" | ")} |`,
    `| ${Object.keys(stages).map(() => "---:").join(" | ")} |`,
    `| ${Object.values(stages).map((v) => `${v.toFixed(1)} µs`).join(" | ")} |`,
    "",
  ].join("\n");
}

async function main(argv: readonly string[]): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("the benchmark loads BPF programs and runs containers: run it as root");
  const arg = (name: string) => flagValue(argv, name);
  const tiny = argv.includes("--tiny");
  const events = Number(arg("--events") ?? (tiny ? 5000 : 200_000));
  const base = tiny ? PAIRED_TINY : PAIRED_FULL;
  const paired: PairedOptions = { ...base, pairs: Number(arg("--pairs") ?? base.pairs), periodMs: Number(arg("--period-ms") ?? base.periodMs) };
  const out = arg("--markdown") ?? join(repoRoot(), "build", "bench", "sensor.md");
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const only = arg("--only");
  const tp = only === "overhead" ? [] : await throughput(events, tiny ? PACINGS.slice(-2) : PACINGS, log);
  const loops = (arg("--loops") ?? "open,exec,http").split(",");
  for (const l of loops) if (l !== "open" && l !== "exec" && l !== "http") throw new Error(`--loops: unknown loop ${JSON.stringify(l)} (open, exec, http)`);
  const oh = only === "throughput" ? undefined : await overhead(paired, log, loops as LoopName[]);
  const stages = stageCosts();
  log(`stages (µs/event): ${JSON.stringify(stages)}`);
  writeMarkdown(out, markdown(tp, oh, stages, `sudo npx tsx bench/sensor.ts ${argv.join(" ")}`.trim()));
}

runIfMain(import.meta.url, main);

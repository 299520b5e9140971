/**
 * Workload overhead of the sensor, paired and fine-grained (docs/benchmarks.md,
 * "Sensor: … workload overhead").
 *
 * Why not "one loop with the sensor on, one with it off, per round": the
 * machine's drift between two runs seconds apart (other processes, page
 * cache, frequency) is larger than the 5 % being judged, so rounds spread
 * from 1 % to 25 %. Here ONE confined workload runs the loop continuously
 * in short segments, each bracketed by two CLOCK_MONOTONIC stamps, while
 * the real pipeline toggles watching the workload's cgroup every
 * `periodMs` (watch → on, unwatch → off). Afterwards each segment is
 * classified by its stamps against the toggle times (the host and the
 * container share CLOCK_MONOTONIC: no time namespace):
 *   - a segment overlapping a toggle (from the request until watch/unwatch
 *     resolved) is discarded;
 *   - the segments of one period are summarised by their median;
 *   - periods are paired in order, (1,2), (3,4), … — each pair one on, one
 *     off, a second or so apart — and each pair gives one ratio
 *     on ns/op ÷ off ns/op = rate off ÷ rate on.
 * The result is the median of the per-pair ratios, with the interquartile
 * range, so drift slower than a pair cancels and a disturbed pair is an
 * outlier rather than the answer.
 *
 * The "on" side is exactly what an agent runs: EventPipeline (palisade-sensor,
 * palisade-auditd, Node mapping and storing) watching the workload's cgroup,
 * all on the same cores as the workload.
 *
 * Output the workload prints, per segment (the parser below expects this
 * order): "mono_ns T0", then for the open loop openbench's
 * "open_close_ns_per_op X" and "open_close_cpu_ns_per_op Y", then "mono_ns T1".
 */
import { OPENBENCH, STAMP, WWW_FILE } from "../test/conformance/harness/image.js";
import { runWorkload, type CreatedWorkload } from "../src/runtime/workloads.js";
import type { EventPipeline, WatchedWorkload } from "../src/sensor/eventPipeline.js";
import type { SensorProcess } from "../src/sensor/sensorProcess.js";
import { inNetns, median, ready, wrkRate } from "./lib/measure.js";
import { benchWorkload, confinedTarget, HTTP_PORT, type BenchContext } from "./lib/targets.js";

export type LoopName = "open" | "exec" | "http";

export interface PairedOptions {
  /** Pairs wanted (the run is sized for this many; a few more or fewer may come out). */
  readonly pairs: number;
  /** How long each side lasts before the next toggle. */
  readonly periodMs: number;
  /** open+close pairs per open segment, /bin/true runs per exec segment. */
  readonly opensPerSegment: number;
  readonly execsPerSegment: number;
  /** The server benchmark: on/off pairs of wrk runs, each this long. */
  readonly httpPairs: number;
  readonly wrkSeconds: number;
}

export const PAIRED_FULL: PairedOptions = { pairs: 200, periodMs: 300, opensPerSegment: 5_000, execsPerSegment: 10, httpPairs: 30, wrkSeconds: 1 };
export const PAIRED_TINY: PairedOptions = { pairs: 2, periodMs: 300, opensPerSegment: 2_000, execsPerSegment: 5, httpPairs: 2, wrkSeconds: 1 };

interface Segment {
  readonly t0: bigint;
  readonly t1: bigint;
  /** ns per operation. */
  readonly ns: number;
}

interface Toggle {
  /** When the watch/unwatch was requested and when it resolved (hrtime ns). */
  readonly from: bigint;
  readonly to: bigint;
  readonly on: boolean;
}

export interface PairedResult {
  readonly loop: LoopName;
  /** Per pair: off and on ns/op and overhead (on/off − 1) in %. */
  readonly pairs: readonly { readonly off: number; readonly on: number; readonly pct: number }[];
  readonly median: number;
  readonly q1: number;
  readonly q3: number;
  /** Medians of the periods' ns/op, per side. */
  readonly offNs: number;
  readonly onNs: number;
  readonly segments: { readonly kept: number; readonly discarded: number };
  readonly seconds: number;
}

export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

function script(loop: LoopName, segments: number, o: PairedOptions): string {
  const body = loop === "open" ? `${OPENBENCH} ${WWW_FILE} ${o.opensPerSegment}` : `j=0; while [ $j -lt ${o.execsPerSegment} ]; do /bin/true; j=$((j+1)); done`;
  return `i=0; while [ $i -lt ${segments} ]; do ${STAMP}; ${body}; ${STAMP}; i=$((i+1)); done`;
}

function parseSegments(loop: LoopName, out: string, o: PairedOptions): Segment[] {
  const segs: Segment[] = [];
  let t0: bigint | undefined;
  let ns: number | undefined;
  for (const line of out.split("\n")) {
    const [k, v] = line.trim().split(" ");
    if (k === "mono_ns" && v) {
      if (t0 === undefined) t0 = BigInt(v);
      else {
        const t1 = BigInt(v);
        const per = loop === "open" ? ns : Number(t1 - t0) / o.execsPerSegment;
        if (per === undefined || !Number.isFinite(per)) throw new Error(`open segment without open_close_ns_per_op:\n${out.slice(0, 400)}`);
        segs.push({ t0, t1, ns: per });
        t0 = undefined;
        ns = undefined;
      }
    } else if (k === "open_close_ns_per_op" && v) ns = Number(v);
  }
  return segs;
}

/**
 * Classifies segments by the toggles and pairs the periods. Exported for the
 * unit test: this is where an honest measurement could go wrong.
 */
export function pairSegments(segs: readonly Segment[], toggles: readonly Toggle[]): { pairs: { off: number; on: number }[]; kept: number; discarded: number } {
  const periods = new Map<number, { on: boolean; ns: number[] }>();
  let discarded = 0;
  for (const s of segs) {
    // Index of the last toggle that resolved before the segment started.
    let k = -1;
    for (let i = 0; i < toggles.length; i++) if (toggles[i]!.to <= s.t0) k = i;
    const next = toggles[k + 1];
    const overlaps = toggles.some((t) => t.from <= s.t1 && t.to >= s.t0);
    if (k < 0 || overlaps || (next && next.from <= s.t1)) {
      discarded++; // before the first toggle (start-up), or across one
      continue;
    }
    const p = periods.get(k) ?? { on: toggles[k]!.on, ns: [] };
    p.ns.push(s.ns);
    periods.set(k, p);
  }
  const keys = [...periods.keys()].sort((a, b) => a - b);
  const pairs: { off: number; on: number }[] = [];
  for (let i = 0; i + 1 < keys.length; i++) {
    const a = periods.get(keys[i]!)!;
    const b = periods.get(keys[i + 1]!)!;
    if (keys[i + 1] !== keys[i]! + 1 || a.on === b.on) continue; // a period had no clean segment: no pair across the gap
    pairs.push(a.on ? { on: median(a.ns), off: median(b.ns) } : { off: median(a.ns), on: median(b.ns) });
    i++; // disjoint pairs
  }
  return { pairs, kept: segs.length - discarded, discarded };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the benchmark watches: the workload as created, without the runtime's implicit grants (runSensor's watchedWorkloadOf adds them). */
function benchWatched(c: CreatedWorkload): WatchedWorkload {
  return { name: c.name, cgroupPath: c.cgroupPath!, containerId: c.id, containerName: c.name, namespace: c.namespace, labels: c.labels, image: c.image, effective: c.effective, auditOnly: false, ...(c.launcher ? { setupExecs: [c.launcher] } : {}) };
}

/**
 * The pipeline's own SensorProcess, to switch the kernel side only: an unwatch through the
 * pipeline would make it forget the server's processes (RETIRE_MS). Bench code only.
 */
function kernelSide(pipeline: EventPipeline): SensorProcess {
  return (pipeline as unknown as { sensor: SensorProcess }).sensor;
}

/** Median and quartiles of the per-pair overheads (on ÷ off − 1, in %). */
function pairedResult(loop: LoopName, pairs: readonly { off: number; on: number }[], segments: PairedResult["segments"], t0: number): PairedResult {
  const pcts = pairs.map((p) => (p.on / p.off - 1) * 100);
  return {
    loop,
    pairs: pairs.map((p, i) => ({ ...p, pct: pcts[i]! })),
    median: median(pcts),
    q1: quantile(pcts, 0.25),
    q3: quantile(pcts, 0.75),
    offNs: median(pairs.map((p) => p.off)),
    onNs: median(pairs.map((p) => p.on)),
    segments,
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * Runs one loop in one confined workload for about (2·pairs + 1) periods,
 * toggling `pipeline`'s watch of it, and returns the paired result.
 */
export async function pairedOverhead(ctx: BenchContext, pipeline: EventPipeline, loop: LoopName, o: PairedOptions, log: (l: string) => void): Promise<PairedResult> {
  const name = `bench-ovh-${loop}`;
  // Size the run from a short calibration segment run (unwatched).
  const calib = await runWorkload({ ...benchWorkload(`${name}-cal`, ctx.image.ref, ["/bin/sh", "-c", script(loop, 3, o)]), features: ctx.features, store: ctx.store, stdio: "pipe", timeoutMs: 120_000 });
  if (calib.exitCode !== 0) throw new Error(`${loop} calibration exited ${calib.exitCode}: ${calib.stderr.trim()}`);
  const cs = parseSegments(loop, calib.stdout, o);
  const segMs = median(cs.map((s) => Number(s.t1 - s.t0) / 1e6));
  const wantMs = (2 * o.pairs + 2) * o.periodMs * 1.15;
  const segments = Math.max(4, Math.ceil(wantMs / segMs));
  log(`${loop}: segment ≈ ${segMs.toFixed(0)} ms, running ${segments} segments, toggling every ${o.periodMs} ms`);

  const toggles: Toggle[] = [];
  let created: CreatedWorkload | undefined;
  let finished = false;
  const toggler = (async () => {
    while (!created && !finished) await sleep(5);
    let on = false;
    while (!finished) {
      await sleep(o.periodMs);
      if (finished || !created) break;
      const from = process.hrtime.bigint();
      if (on) await pipeline.unwatch(created.name);
      else await pipeline.watch(benchWatched(created));
      on = !on;
      toggles.push({ from, to: process.hrtime.bigint(), on });
    }
    if (on && created) await pipeline.unwatch(created.name);
  })();
  const t0 = performance.now();
  let r;
  try {
    r = await runWorkload({
      ...benchWorkload(name, ctx.image.ref, ["/bin/sh", "-c", script(loop, segments, o)]),
      features: ctx.features,
      store: ctx.store,
      stdio: "pipe",
      timeoutMs: 600_000,
      onCreated: (c: CreatedWorkload) => {
        created = c;
        return Promise.resolve();
      },
    });
  } finally {
    finished = true;
    await toggler;
  }
  if (r.exitCode !== 0) throw new Error(`${loop} loop exited ${r.exitCode}: ${r.stderr.trim()}`);
  const segs = parseSegments(loop, r.stdout, o);
  const { pairs, kept, discarded } = pairSegments(segs, toggles);
  if (pairs.length === 0) throw new Error(`${loop}: no clean on/off pair (${segs.length} segments, ${toggles.length} toggles)`);
  return pairedResult(loop, pairs, { kept, discarded }, t0);
}

/** The confinement benchmark's server, watched by a pipeline (watchedServer). */
export interface WatchedServer {
  /** Switches the pipeline's kernel side only: watching the server's cgroup or not. */
  watchKernel(on: boolean): Promise<void>;
  /** One `wrk -t2 -c16` run of `seconds` from inside the server's network namespace: requests per second. */
  wrk(seconds: number): Promise<number>;
  /** Unwatches through the pipeline and stops the server. */
  stop(): Promise<void>;
}

/**
 * busybox httpd under REALISTIC_POLICY, watched by `pipeline` from before it
 * starts, as the agent does: the server's exec makes it (and the children it
 * forks per connection) the workload's. Toggles then switch only the kernel
 * side (the pipeline's sensor watching the cgroup or not): an unwatch through
 * the pipeline would make it forget the server's processes 5 s later
 * (RETIRE_MS), and every later event would be dropped as setup instead of
 * mapped and stored. Resolves once the server answers; watched.
 */
export async function watchedServer(ctx: BenchContext, pipeline: EventPipeline): Promise<WatchedServer> {
  let created: CreatedWorkload | undefined;
  const target = confinedTarget(ctx, async (c) => {
    created = c;
    if (!c.cgroupPath) throw new Error("http: the server's cgroup is unknown (no cgroup v2?)");
    await pipeline.watch(benchWatched(c));
  });
  const server = await target.serve(["/bin/busybox", "httpd", "-f", "-p", String(HTTP_PORT), "-h", "/srv/www"]);
  const stop = async () => {
    if (created) await pipeline.unwatch(created.name).catch(() => undefined);
    await server.stop();
  };
  try {
    await ready(server);
  } catch (e) {
    await stop();
    throw e;
  }
  const c = created!;
  const kernel = kernelSide(pipeline);
  const url = `http://127.0.0.1:${HTTP_PORT}/index.html`;
  return {
    watchKernel: async (on) => void (on ? await kernel.watch(c.cgroupPath!) : await kernel.unwatch(c.cgroupPath!)),
    wrk: async (seconds) => wrkRate(await inNetns(server.pid, ["wrk", "-t2", "-c16", `-d${seconds}s`, url], (seconds + 30) * 1000), "the server"),
    stop,
  };
}

/**
 * The confinement benchmark's server (busybox httpd under REALISTIC_POLICY,
 * wrk from inside its network namespace), paired the same way: the pipeline
 * toggles watching the server's cgroup, one wrk run of `wrkSeconds` per
 * period (after a 100 ms settle), adjacent on/off runs paired. Reported as
 * ns per request (1e9 / requests per second), so the overhead reads like
 * the loops'. busybox httpd forks a child per connection: every request is
 * a fork, an accept, an open and an exit in the watched cgroup. The server
 * is watched from its start (so its exec is seen and its children are the
 * workload's, stored like the agent stores them); the toggles switch the
 * kernel side only (watchedServer), the first one off.
 */
export async function pairedHttp(ctx: BenchContext, pipeline: EventPipeline, pairs: number, wrkSeconds: number, log: (l: string) => void): Promise<PairedResult> {
  const t0 = performance.now();
  const server = await watchedServer(ctx, pipeline);
  let on = true;
  const runs: { on: boolean; ns: number }[] = [];
  try {
    log(`http: ${2 * pairs} wrk runs of ${wrkSeconds} s, watching the server every other run`);
    for (let i = 0; i < 2 * pairs; i++) {
      on = !on;
      await server.watchKernel(on);
      await sleep(100);
      runs.push({ on, ns: 1e9 / (await server.wrk(wrkSeconds)) });
    }
  } finally {
    await server.stop();
  }
  const paired: { off: number; on: number }[] = [];
  for (let i = 0; i + 1 < runs.length; i += 2) {
    const [a, b] = [runs[i]!, runs[i + 1]!];
    paired.push(a.on ? { on: a.ns, off: b.ns } : { off: a.ns, on: b.ns });
  }
  return pairedResult("http", paired, { kept: runs.length, discarded: 0 }, t0);
}

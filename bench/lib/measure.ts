/**
 * The four confinement benchmarks, run interleaved (confined, bare; then
 * bare, confined next round, so neither side always runs on a warmer
 * cache) and repeated; each round yields one confined/bare ratio per
 * metric. Every ratio is of a "more is better" rate, except start latency
 * (less is better), so the goals read directly: throughput ≥ 0.95×,
 * start ≤ 1.3×.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { OPENBENCH, STAMP, WWW_CONTENT, WWW_FILE } from "../../test/conformance/harness/image.js";
import { HTTP_PORT, type Server, type Target, type TargetName } from "./targets.js";

const exec = promisify(execFile);

export interface Sizes {
  /** open+close pairs per openbench run. */
  readonly opens: number;
  /** /bin/true executions per shell loop. */
  readonly execs: number;
  /** wrk duration (s), threads and connections. */
  readonly wrkSeconds: number;
  readonly wrkThreads: number;
  readonly wrkConnections: number;
  /** Container starts per round and side (the round keeps their median). */
  readonly starts: number;
  /** openbench runs and exec loops per container; the sample is the fastest (least disturbed by other load). */
  readonly repeats: number;
  /** Unrecorded container starts per side before round 1: a long-running agent has its code warm (JIT, page cache). */
  readonly warmup: number;
}

export const FULL: Sizes = { opens: 200_000, execs: 1_000, wrkSeconds: 5, wrkThreads: 2, wrkConnections: 16, starts: 5, repeats: 3, warmup: 5 };
/** For the smoke test: exercises every code path in seconds. */
export const TINY: Sizes = { opens: 1_000, execs: 10, wrkSeconds: 1, wrkThreads: 1, wrkConnections: 2, starts: 1, repeats: 1, warmup: 0 };

export type MetricKey = "open" | "exec" | "http" | "start";

export interface Metric {
  readonly key: MetricKey;
  readonly label: string;
  /** Unit of the rate/latency compared, and of the raw figure shown beside it. */
  readonly unit: string;
  readonly rawUnit: string;
  readonly higherIsBetter: boolean;
  readonly goal: number;
}

export const METRICS: readonly Metric[] = [
  { key: "open", label: "file open+close (openbench)", unit: "ops/s", rawUnit: "ns/op", higherIsBetter: true, goal: 0.95 },
  { key: "exec", label: "exec loop (sh → /bin/true)", unit: "execs/s", rawUnit: "µs/exec", higherIsBetter: true, goal: 0.95 },
  { key: "http", label: "busybox httpd + wrk", unit: "req/s", rawUnit: "req/s", higherIsBetter: true, goal: 0.95 },
  { key: "start", label: "start latency (create → first instruction)", unit: "ms", rawUnit: "ms", higherIsBetter: false, goal: 1.3 },
];

/** One measurement: the compared value and the raw figure (e.g. ns/op for open). */
export interface Sample {
  readonly value: number;
  readonly raw: number;
  /** Start latency only: ms from the request until the bundle was ready and runc was called. */
  readonly prep?: number;
  /** Open only: CPU ns per open+close (the loop's thread CPU time; leaves out time spent preempted). */
  readonly cpu?: number;
}

export type Round = Record<MetricKey, Record<TargetName, Sample>>;

function field(stdout: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(stdout);
  const v = m ? Number(m[1]) : NaN;
  if (!Number.isFinite(v)) throw new Error(`expected "${name} <number>" in the output, got: ${stdout.trim().slice(0, 300)}`);
  return v;
}

function fields(stdout: string, name: string): number[] {
  const vs = [...stdout.matchAll(new RegExp(`^${name} (\\S+)$`, "gm"))].map((m) => Number(m[1]));
  if (vs.length === 0 || vs.some((v) => !Number.isFinite(v))) throw new Error(`expected "${name} <number>" lines, got: ${stdout.trim().slice(0, 300)}`);
  return vs;
}

export async function openBench(t: Target, s: Sizes): Promise<Sample> {
  const one = `${OPENBENCH} ${WWW_FILE} ${s.opens}`;
  const out = await t.run(["/bin/sh", "-c", Array(s.repeats).fill(one).join(" && ")]);
  const ns = Math.min(...fields(out, "open_close_ns_per_op"));
  return { value: 1e9 / ns, raw: ns, cpu: Math.min(...fields(out, "open_close_cpu_ns_per_op")) };
}

export async function execBench(t: Target, s: Sizes): Promise<Sample> {
  // The loop is timed from inside (two stamps), so container start and teardown do not count.
  const loop = `${STAMP}; i=0; while [ $i -lt ${s.execs} ]; do /bin/true; i=$((i+1)); done; ${STAMP}`;
  const out = await t.run(["/bin/sh", "-c", Array(s.repeats).fill(loop).join("; ")]);
  const stamps = [...out.matchAll(/^mono_ns (\d+)$/gm)].map((m) => BigInt(m[1]!));
  if (stamps.length !== 2 * s.repeats) throw new Error(`exec loop: expected ${2 * s.repeats} stamps, got: ${out.trim()}`);
  const loops = Array.from({ length: s.repeats }, (_, i) => Number(stamps[2 * i + 1]! - stamps[2 * i]!) / 1e3 / s.execs);
  const us = Math.min(...loops);
  return { value: 1e6 / us, raw: us };
}

export async function startBench(t: Target, s: Sizes): Promise<Sample> {
  const ms: number[] = [];
  const prep: number[] = [];
  for (let i = 0; i < s.starts; i++) {
    // process.hrtime and the container's CLOCK_MONOTONIC are the same clock (no time namespace).
    const t0 = process.hrtime.bigint();
    let prepared = t0;
    const first = BigInt(field(await t.run([STAMP], () => (prepared = process.hrtime.bigint())), "mono_ns"));
    ms.push(Number(first - t0) / 1e6);
    prep.push(Number(prepared - t0) / 1e6);
  }
  const m = median(ms);
  return { value: m, raw: m, prep: median(prep) };
}

const NSENTER = "nsenter";

export async function inNetns(pid: number, argv: readonly string[], timeoutMs: number): Promise<string> {
  const { stdout } = await exec(NSENTER, [`--net=/proc/${pid}/ns/net`, ...argv], { timeout: timeoutMs, maxBuffer: 1 << 20 });
  return stdout;
}

/** Waits until the server answers with the file's exact content (a refused read would be an error page). */
export async function ready(server: Server): Promise<void> {
  const deadline = Date.now() + 15_000;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const body = await inNetns(server.pid, ["/bin/busybox", "wget", "-q", "-O", "-", `http://127.0.0.1:${HTTP_PORT}${WWW_FILE.replace("/srv/www", "")}`], 5_000);
      if (body === WWW_CONTENT) return;
      last = `unexpected body: ${body.slice(0, 80)}`;
    } catch (e) {
      last = String((e as { stderr?: string }).stderr ?? e);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`httpd did not serve ${WWW_FILE}: ${last}`);
}

/** Requests per second from wrk's output; error responses would inflate the rate, so they refuse the sample. */
export function wrkRate(out: string, server: string): number {
  if (/Non-2xx or 3xx responses/.test(out)) throw new Error(`wrk saw error responses from ${server}:\n${out}`);
  const rps = Number(/^Requests\/sec:\s+([\d.]+)/m.exec(out)?.[1]);
  if (!Number.isFinite(rps) || rps <= 0) throw new Error(`no Requests/sec in wrk's output:\n${out}`);
  return rps;
}

export async function httpBench(t: Target, s: Sizes): Promise<Sample> {
  const server = await t.serve(["/bin/busybox", "httpd", "-f", "-p", String(HTTP_PORT), "-h", "/srv/www"]);
  try {
    await ready(server);
    const url = `http://127.0.0.1:${HTTP_PORT}${WWW_FILE.replace("/srv/www", "")}`;
    const out = await inNetns(server.pid, ["wrk", `-t${s.wrkThreads}`, `-c${s.wrkConnections}`, `-d${s.wrkSeconds}s`, url], (s.wrkSeconds + 30) * 1000);
    const rps = wrkRate(out, `the ${t.name} server`);
    return { value: rps, raw: rps };
  } finally {
    await server.stop();
  }
}

const BENCHES: Record<MetricKey, (t: Target, s: Sizes) => Promise<Sample>> = { open: openBench, exec: execBench, http: httpBench, start: startBench };

export async function runRounds(targets: { confined: Target; bare: Target }, sizes: Sizes, rounds: number, log: (line: string) => void = () => undefined): Promise<Round[]> {
  const out: Round[] = [];
  for (let i = 0; i < sizes.warmup; i++) for (const side of ["confined", "bare"] as const) await targets[side].run([STAMP]);
  if (sizes.warmup) log(`warm-up: ${sizes.warmup} starts per side`);
  for (let r = 0; r < rounds; r++) {
    const order: TargetName[] = r % 2 === 0 ? ["confined", "bare"] : ["bare", "confined"];
    const round = {} as Round;
    for (const m of METRICS) {
      const pair = {} as Record<TargetName, Sample>;
      for (const side of order) pair[side] = await BENCHES[m.key](targets[side], sizes);
      round[m.key] = pair;
      log(`round ${r + 1}/${rounds} ${m.key}: confined ${fmt(pair.confined.raw)} ${m.rawUnit}, bare ${fmt(pair.bare.raw)} ${m.rawUnit}, ratio ${ratio(pair).toFixed(3)}`);
    }
    out.push(round);
  }
  return out;
}

export const ratio = (p: Record<TargetName, Sample>): number => p.confined.value / p.bare.value;

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

export function fmt(x: number): string {
  return x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(x >= 10 ? 1 : 2);
}

export interface Summary {
  readonly metric: Metric;
  readonly confined: number;
  readonly bare: number;
  readonly min: number;
  readonly median: number;
  readonly max: number;
  readonly met: boolean;
}

/** Per metric: median raw figures and min/median/max of the per-round ratios; the goal is judged on the median ratio. */
export function summarize(rounds: readonly Round[]): Summary[] {
  return METRICS.map((metric) => {
    const rs = rounds.map((r) => ratio(r[metric.key]));
    const med = median(rs);
    return {
      metric,
      confined: median(rounds.map((r) => r[metric.key].confined.raw)),
      bare: median(rounds.map((r) => r[metric.key].bare.raw)),
      min: Math.min(...rs),
      median: med,
      max: Math.max(...rs),
      met: metric.higherIsBetter ? med >= metric.goal : med <= metric.goal,
    };
  });
}

/** The results as a markdown table (also printed on the terminal). */
export function table(summaries: readonly Summary[]): string {
  const rows = summaries.map((s) => {
    const goal = `${s.metric.higherIsBetter ? "≥" : "≤"} ${s.metric.goal}×`;
    return `| ${s.metric.label} | ${fmt(s.confined)} ${s.metric.rawUnit} | ${fmt(s.bare)} ${s.metric.rawUnit} | ${s.min.toFixed(3)} / **${s.median.toFixed(3)}** / ${s.max.toFixed(3)} | ${goal} | ${s.met ? "met" : "**NOT met**"} |`;
  });
  return ["| benchmark | confined (median) | bare runc (median) | ratio confined/bare min / **median** / max | goal | |", "| --- | --: | --: | :-: | :-: | --- |", ...rows].join("\n");
}

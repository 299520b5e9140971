/**
 * Where the open/close cost of confinement comes from (docs/benchmarks.md,
 * "Breakdown"). Runs openbench in variants of the *same* confined bundle
 * that `runWorkload` builds for the benchmark's realistic policy, each with
 * one layer switched off by editing the bundle just before runc starts
 * (the onConfined hook), plus bare runc as the reference:
 *
 *   full           everything Palisade applies
 *   -landlock      the launcher is skipped (no Landlock domain at all)
 *   -rotruncate    Landlock as compiled before `truncate` was granted on
 *                  read-only ground (landlockRules.ts, readOnlyTruncate)
 *   -seccomp       no seccomp filter
 *   -seccompargs   seccomp without its argument-checking rules (diagnostic)
 *   -userns        no user namespace (root inside is host root without capabilities)
 *   -masked        no masked / read-only /proc and /sys paths
 *   -all           all four off: what is left is the OCI spec's shape (mounts, cgroups, caps)
 *   bare           bare runc (test/conformance/harness/bareRunc.ts)
 *
 *   sudo npx tsx bench/confinementBreakdown.ts [--metric open|start|runc-cpu] [--rounds N]
 *        [--opens N] [--repeats N] [--variants full,-landlock,...]
 *
 * --metric open (default): CPU ns per open+close in openbench, fastest of
 * --repeats containers; --metric start: ms from runc's start to the
 * container's first instruction, median of --repeats starts; --metric
 * runc-cpu: CPU ms of `runc run` per start (mean of --repeats), through a
 * timing `runc` wrapper put first on PATH.
 *
 * Rounds are interleaved (every variant once per round, the order rotated
 * each round) because the machine is shared, after one unrecorded
 * warm-up container per variant; the table shows per variant the median
 * over rounds and the median of the per-round ratios to bare. This is a measuring tool, not a product path: the variants weaken
 * confinement on purpose and exist only inside this benchmark's private
 * data directory.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { OciSpec } from "../src/compiler/index.js";
import { bundleLayout, workloadId } from "../src/runtime/bundle.js";
import { runWorkload } from "../src/runtime/workloads.js";
import { OPENBENCH, STAMP, WWW_FILE } from "../test/conformance/harness/image.js";
import { fmt, median } from "./lib/measure.js";
import { bareTarget, benchWorkload, withBenchContext, type BenchContext } from "./lib/targets.js";

/** Edits applied to the confined bundle: the spec, and the launcher's config text. */
interface Variant {
  readonly name: string;
  readonly what: string;
  readonly spec?: (s: OciSpec) => void;
  readonly launch?: (text: string) => string;
}

const LAUNCH_PREFIX = 3; // ["/.palisade/launch", "/.palisade/launch.conf", "--"]

const noLandlock = (s: OciSpec) => {
  if (s.process.args[0] === "/.palisade/launch") (s.process as { args: string[] }).args = s.process.args.slice(LAUNCH_PREFIX);
};
const noSeccomp = (s: OciSpec) => {
  delete (s.linux as { seccomp?: unknown }).seccomp;
};
const noUserns = (s: OciSpec) => {
  const l = s.linux as { namespaces: { type: string }[]; uidMappings?: unknown; gidMappings?: unknown };
  l.namespaces = l.namespaces.filter((n) => n.type !== "user");
  delete l.uidMappings;
  delete l.gidMappings;
};
const noMasked = (s: OciSpec) => {
  const l = s.linux as { maskedPaths?: unknown; readonlyPaths?: unknown };
  delete l.maskedPaths;
  delete l.readonlyPaths;
};

export const VARIANTS: readonly Variant[] = [
  { name: "full", what: "everything Palisade applies" },
  { name: "-landlock", what: "no Landlock (launcher skipped)", spec: noLandlock },
  { name: "-seccomp", what: "no seccomp filter", spec: noSeccomp },
  {
    name: "-seccompargs",
    what: "seccomp without its argument-checking rules (diagnostic: socket, clone, personality refused)",
    spec: (s) => {
      const sc = (s.linux as { seccomp?: { syscalls: { args?: unknown[] }[] } }).seccomp;
      if (sc) sc.syscalls = sc.syscalls.filter((r) => !r.args?.length);
    },
  },
  { name: "-userns", what: "no user namespace", spec: noUserns },
  {
    name: "-rotruncate",
    what: "as before the fix: no `truncate` on read-only rules, so each open's Landlock path walk climbs to the root",
    launch: (t) => t.replace(/^path (\S+) /gm, (line, r: string) => (r.split(",").includes("write_file") ? line : `path ${r.split(",").filter((x) => x !== "truncate").join(",")} `)),
  },
  { name: "-masked", what: "no masked/read-only /proc, /sys paths", spec: noMasked },
  {
    name: "-all",
    what: "none of the four",
    spec: (s) => {
      noLandlock(s);
      noSeccomp(s);
      noUserns(s);
      noMasked(s);
    },
  },
];

/** Runs argv in one container of the variant; calls onPrepared when runc is about to start. */
async function runIn(ctx: BenchContext, v: Variant | "bare", argv: readonly string[], onPrepared: () => void): Promise<string> {
  if (v === "bare") return bareTarget(ctx).run(argv, onPrepared);
  const name = "bench-breakdown";
  const layout = bundleLayout(workloadId("default", name), "default", name);
  const r = await runWorkload({
    ...benchWorkload(name, ctx.image.ref, argv),
    features: ctx.features,
    store: ctx.store,
    stdio: "pipe",
    timeoutMs: 600_000,
    onConfined: () => {
      const spec = JSON.parse(readFileSync(layout.config, "utf8")) as OciSpec;
      v.spec?.(spec);
      writeFileSync(layout.config, JSON.stringify(spec));
      if (v.launch) writeFileSync(layout.launchConfig, v.launch(readFileSync(layout.launchConfig, "utf8")));
      onPrepared();
    },
  });
  if (r.exitCode !== 0) throw new Error(`${v.name}: ${argv.join(" ")} exited ${r.exitCode}: ${r.stderr.trim()}`);
  return r.stdout;
}

export type BreakdownMetric = "open" | "start" | "runc-cpu";

/**
 * open: CPU ns per open+close in openbench (CPU time, not wall time: the
 * machine is shared, and time spent preempted is not the confinement's).
 * start: ms from "bundle ready, runc called" to the container's first
 * instruction (stamp) — runc's share of start latency, without Palisade's
 * preparation, which is the same for every variant.
 * runc-cpu: CPU ms (user + system) that `runc run` and everything it waits
 * for (runc init, the launcher, stamp) spend on one start — the work behind
 * start latency, robust to a loaded machine where wall time is mostly
 * waiting for a CPU. Measured by a `runc` wrapper first on PATH (see main).
 */
async function sampleOnce(ctx: BenchContext, v: Variant | "bare", metric: BreakdownMetric, opens: number): Promise<number> {
  if (metric === "open") {
    const out = await runIn(ctx, v, [OPENBENCH, WWW_FILE, String(opens)], () => undefined);
    const ns = Number(/^open_close_cpu_ns_per_op (\S+)$/m.exec(out)?.[1]);
    if (!Number.isFinite(ns)) throw new Error(`no open_close_cpu_ns_per_op in: ${out.trim().slice(0, 200)}`);
    return ns;
  }
  if (metric === "runc-cpu") {
    const log = process.env[CPU_LOG]!;
    writeFileSync(log, "");
    await runIn(ctx, v, [STAMP], () => undefined);
    // The wrapper appends "USER SYS" (seconds) for each `runc run`.
    const [u, sys] = readFileSync(log, "utf8").trim().split("\n").pop()!.split(" ").map(Number);
    if (!Number.isFinite(u) || !Number.isFinite(sys)) throw new Error(`runc wrapper log ${log} has no "USER SYS" line`);
    return (u! + sys!) * 1000;
  }
  let prepared = 0n;
  const out = await runIn(ctx, v, [STAMP], () => (prepared = process.hrtime.bigint()));
  const first = /^mono_ns (\d+)$/m.exec(out)?.[1];
  if (!first) throw new Error(`no mono_ns in: ${out.trim().slice(0, 200)}`);
  return Number(BigInt(first) - prepared) / 1e6;
}

export interface BreakdownRow {
  readonly name: string;
  readonly what: string;
  /** Median over rounds (ns per open+close, or ms from runc to first instruction). */
  readonly value: number;
  /** Median over rounds of variant/bare (for open, as rates: bare ns / variant ns; for start, variant ms / bare ms). */
  readonly ratio: number;
}

export async function runBreakdown(o: {
  rounds: number;
  metric: BreakdownMetric;
  opens: number;
  repeats: number;
  variants: readonly Variant[];
  log?: (l: string) => void;
}): Promise<BreakdownRow[]> {
  return withBenchContext(async (ctx) => {
    const sides: (Variant | "bare")[] = [...o.variants, "bare"];
    const key = (s: Variant | "bare") => (s === "bare" ? "bare" : s.name);
    const samples = new Map<string, number[]>(sides.map((s) => [key(s), []]));
    const ratios = new Map<string, number[]>(sides.map((s) => [key(s), []]));
    // Warm-up: the first containers of a process pay for cold caches and JIT.
    for (const side of sides) await sampleOnce(ctx, side, o.metric, Math.min(o.opens, 1000));
    for (let r = 0; r < o.rounds; r++) {
      const order = sides.map((_, i) => sides[(i + r) % sides.length]!);
      const round = new Map<string, number>();
      for (const side of order) {
        // open: fastest of `repeats` containers (least disturbed by the other engineers' load); start: their median;
        const xs: number[] = [];
        for (let i = 0; i < o.repeats; i++) xs.push(await sampleOnce(ctx, side, o.metric, o.opens));
        // runc-cpu: their mean, because the kernel accounts CPU time in ticks and a median would keep the quantisation.
        round.set(key(side), o.metric === "open" ? Math.min(...xs) : o.metric === "start" ? median(xs) : xs.reduce((a, b) => a + b, 0) / xs.length);
      }
      const bare = round.get("bare")!;
      for (const [k, x] of round) {
        samples.get(k)!.push(x);
        ratios.get(k)!.push(o.metric === "open" ? bare / x : x / bare);
      }
      o.log?.(`round ${r + 1}/${o.rounds}: ${[...round].map(([k, x]) => `${k} ${fmt(x)}`).join(", ")} ${o.metric === "open" ? "ns/op" : "ms"}`);
    }
    return sides.map((s) => ({ name: key(s), what: s === "bare" ? "bare runc (reference)" : s.what, value: median(samples.get(key(s))!), ratio: median(ratios.get(key(s))!) }));
  });
}

export function breakdownTable(rows: readonly BreakdownRow[], metric: BreakdownMetric): string {
  const full = rows.find((r) => r.name === "full");
  const unit = metric === "open" ? "ns" : "ms";
  const head = {
    open: "| variant of the confined bundle | open+close, CPU time (median) | rate vs bare (median of rounds) | vs full |",
    start: "| variant of the confined bundle | runc → first instruction (median) | vs bare (median of rounds) | vs full |",
    "runc-cpu": "| variant of the confined bundle | CPU of `runc run` per start (median) | vs bare (median of rounds) | vs full |",
  }[metric];
  return [
    head,
    "| --- | --: | :-: | --: |",
    ...rows.map((r) => `| \`${r.name}\` — ${r.what} | ${fmt(r.value)} ${unit} | ${r.ratio.toFixed(3)}× | ${full ? `${r.value - full.value >= 0 ? "+" : "−"}${fmt(Math.abs(r.value - full.value))} ${unit}` : ""} |`),
  ].join("\n");
}

function parseArgs(argv: readonly string[]) {
  let rounds = 5;
  let opens = 200_000;
  let repeats: number | undefined;
  let metric: BreakdownMetric = "open";
  let names: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--rounds") rounds = Number(argv[++i]);
    else if (a === "--opens") opens = Number(argv[++i]);
    else if (a === "--repeats") repeats = Number(argv[++i]);
    else if (a === "--metric") {
      const m = argv[++i];
      metric = m === "open" || m === "start" || m === "runc-cpu" ? m : fail(`--metric is open, start or runc-cpu, not ${m}`);
    }
    else if (a === "--variants") names = (argv[++i] ?? "").split(",");
    else throw new Error(`unknown argument ${a}; usage: ${USAGE}`);
  }
  repeats ??= metric === "open" ? 2 : 5;
  for (const n of [rounds, opens, repeats]) if (!Number.isInteger(n) || n < 1) throw new Error("--rounds, --opens and --repeats need positive integers");
  const variants = names ? names.map((n) => VARIANTS.find((v) => v.name === n) ?? fail(`unknown variant ${n}; known: ${VARIANTS.map((v) => v.name).join(", ")}`)) : VARIANTS;
  return { rounds, metric, opens, repeats, variants };
}

const USAGE = "bench/confinementBreakdown.ts [--metric open|start|runc-cpu] [--rounds N] [--opens N] [--repeats N] [--variants full,-landlock,...]";

function fail(msg: string): never {
  throw new Error(msg);
}

const CPU_LOG = "PALISADE_BENCH_RUNC_CPU_LOG";

/**
 * For runc-cpu: reruns this script with a `runc` wrapper first on PATH
 * (both Palisade's driver and the bare harness find runc through PATH) that
 * times `runc run` (bash's `time`) and appends "USER SYS" to a log.
 */
function rerunWithRuncWrapper(): number {
  const real = ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"].find((p) => existsSync(p)) ?? fail("runc not found in /usr/sbin, /usr/bin, /usr/local/sbin");
  const dir = mkdtempSync(join(tmpdir(), "palisade-runc-wrap-"));
  try {
    const log = join(dir, "cpu.log");
    writeFileSync(
      join(dir, "runc"),
      // bash's time keyword: millisecond resolution (/usr/bin/time prints centiseconds). runc's own stderr goes through fd 3.
      `#!/bin/bash\ncase " $* " in *" run "*) TIMEFORMAT="%3U %3S"; { time ${real} "$@" 2>&3; } 3>&2 2>>"${log}"; exit $?;; esac\nexec ${real} "$@"\n`,
      { mode: 0o755 },
    );
    const r = spawnSync("npx", ["tsx", process.argv[1]!, ...process.argv.slice(2)], { stdio: "inherit", env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? "/usr/bin:/bin"}`, [CPU_LOG]: log } });
    return r.status ?? 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const o = parseArgs(process.argv.slice(2));
  if (o.metric === "runc-cpu" && !process.env[CPU_LOG]) process.exit(rerunWithRuncWrapper());
  runBreakdown({ ...o, log: (l) => console.error(l) })
    .then((rows) => console.log(breakdownTable(rows, o.metric)))
    .catch((e: unknown) => {
      console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
      process.exit(1);
    });
}

/**
 * Confinement cost: full Palisade confinement vs bare runc, same image and
 * rootfs, interleaved and repeated (docs/benchmarks.md).
 *
 *   sudo npx tsx bench/confinement.ts [--rounds N] [--tiny] [--markdown FILE]
 *
 * Prints a table and writes a markdown section (default
 * build/bench/confinement.md) to paste into docs/benchmarks.md. Needs root,
 * runc, busybox-static, gcc (static helpers), wrk and nsenter. `--tiny` uses
 * the smoke test's iteration counts: it checks the harness, not the speed.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { repoRoot } from "../src/core/paths.js";
import { fmt, FULL, median, runRounds, summarize, table, TINY, type Round, type Sizes, type Summary } from "./lib/measure.js";
import { bareTarget, confinedTarget, REALISTIC_POLICY, withBenchContext } from "./lib/targets.js";

export interface BenchOptions {
  readonly rounds: number;
  readonly sizes: Sizes;
  readonly log?: (line: string) => void;
}

export interface BenchResult {
  readonly rounds: readonly Round[];
  readonly summaries: readonly Summary[];
  readonly markdown: string;
}

/** Runs everything in a private data directory (its own image store and runc state), removed afterwards. */
export async function runConfinementBench(o: BenchOptions): Promise<BenchResult> {
  return withBenchContext(async (ctx) => {
    const rounds = await runRounds({ confined: confinedTarget(ctx), bare: bareTarget(ctx) }, o.sizes, o.rounds, o.log);
    const summaries = summarize(rounds);
    return { rounds, summaries, markdown: markdown(summaries, rounds, o) };
  });
}

function markdown(summaries: readonly Summary[], rounds: readonly Round[], o: BenchOptions): string {
  const s = o.sizes;
  const cpu = cpus()[0]?.model.trim() ?? "unknown CPU";
  const verdict = summaries.map((x) => `${x.metric.label}: ${x.met ? "met" : "NOT met"} (median ${x.median.toFixed(3)}×)`).join("; ");
  return [
    `### Run of ${new Date().toISOString().slice(0, 10)}`,
    "",
    "```",
    `npx tsx bench/confinement.ts --rounds ${o.rounds}${o.sizes === TINY ? " --tiny" : ""}`,
    "```",
    "",
    `Machine: ${cpus().length} CPUs (\`nproc\`), ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, kernel ${release()}.`,
    `Sizes: ${s.opens.toLocaleString("en-US")} open+close per run; ${s.execs} execs per loop; wrk -t${s.wrkThreads} -c${s.wrkConnections} -d${s.wrkSeconds}s; ${s.starts} starts per side per round (after ${s.warmup} unrecorded warm-up starts per side); best of ${s.repeats} runs per container for open and exec; ${o.rounds} rounds, interleaved.`,
    "",
    table(summaries),
    "",
    startBreakdown(rounds),
    "",
    openCpu(rounds),
    "",
    `Goals: ${verdict}.`,
  ].join("\n");
}

/** Where start time goes: before runc is called (compile, bundle, overlay) and from there to the first instruction. */
function startBreakdown(rounds: readonly Round[]): string {
  const side = (n: "confined" | "bare") => {
    const total = median(rounds.map((r) => r.start[n].raw));
    const prep = median(rounds.map((r) => r.start[n].prep ?? NaN));
    return `${n} ${fmt(prep)} ms preparing + ${fmt(total - prep)} ms runc → first instruction`;
  };
  return `Start latency split (medians): ${side("confined")}; ${side("bare")}.`;
}

/**
 * The open benchmark by CPU time as well: on a machine shared with other
 * work, wall time also counts the time the loop sat preempted, which is
 * not the confinement's. Shown beside the goal, which stays on wall time.
 */
function openCpu(rounds: readonly Round[]): string {
  const cpu = (n: "confined" | "bare") => median(rounds.map((r) => r.open[n].cpu ?? NaN));
  const ratios = rounds.map((r) => (r.open.bare.cpu ?? NaN) / (r.open.confined.cpu ?? NaN));
  return `File open+close by CPU time (medians): confined ${fmt(cpu("confined"))} ns/op, bare ${fmt(cpu("bare"))} ns/op; rate ratio confined/bare min / median / max ${Math.min(...ratios).toFixed(3)} / ${median(ratios).toFixed(3)} / ${Math.max(...ratios).toFixed(3)}.`;
}

function parseArgs(argv: readonly string[]): { rounds: number; tiny: boolean; markdown: string } {
  let rounds = 5;
  let tiny = false;
  let md = join(repoRoot(), "build", "bench", "confinement.md");
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--rounds") rounds = Number(argv[++i]);
    else if (a === "--tiny") tiny = true;
    else if (a === "--markdown") md = argv[++i] ?? md;
    else throw new Error(`unknown argument ${a}; usage: bench/confinement.ts [--rounds N] [--tiny] [--markdown FILE]`);
  }
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds needs a positive integer");
  return { rounds, tiny, markdown: md };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const opts: BenchOptions = { rounds: args.rounds, sizes: args.tiny ? TINY : FULL, log: (l) => console.error(l) };
  console.error(`confined policy:\n${REALISTIC_POLICY}`);
  const r = await runConfinementBench(opts);
  console.log(r.markdown);
  mkdirSync(dirname(args.markdown), { recursive: true });
  writeFileSync(args.markdown, r.markdown + "\n");
  console.error(`written: ${args.markdown}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
  });
}

/**
 * Agent footprint: resident memory and CPU of an idle `palisade agent`
 * that is enrolled to a real hub and runs one deployed, confined workload
 * (docs/benchmarks.md, "Fleet"). Goal: ≤ 60 MB RSS, < 1 % CPU.
 *
 *   sudo npx tsx bench/agentFootprint.ts [--minutes 3] [--settle 30] [--variants "default;PALISADE_AGENT_V8_FLAGS="]
 *
 * The agent runs as a device would run it: the compiled CLI (`tsc` of
 * src/ into a private directory, so no TypeScript loader sits in the
 * process) under plain `node`, its own data directory, polling every 30 s.
 * A hub (`palisade hub`, SQLite) gets a publisher key, a signed bundle of a
 * busybox `sleep` workload and a deployment; the agent enrolls with an
 * enrollment token, verifies and starts the workload, and is then left
 * alone: after --settle seconds (start-up JIT and GC done) its processes
 * are sampled once a second for --minutes.
 *
 * What is counted (classified by /proc/PID/exe, over the agent's process
 * tree): the agent's own node process; the workload's supervisor
 * (`palisade agent exec`, a node process per workload); Palisade's native
 * helpers (build/native, e.g. the sensor). runc and the workload's own
 * processes are listed but not counted: they are the workload, not Palisade.
 * RSS is VmRSS from /proc/PID/status (includes shared pages of the node
 * binary, so a sum over processes over-counts what they cost together);
 * CPU is Δ(utime+stime) over the window from /proc/PID/stat, in percent of
 * one core.
 *
 * Each variant (node flags for the agent and its supervisors, and
 * NAME=value words for the agent's environment, commas standing for spaces:
 * `PALISADE_AGENT_V8_FLAGS=` runs with V8's defaults, see src/agent/leanV8.ts)
 * is a fresh agent on a fresh data directory; between variants the
 * deployment is deleted, the agent stops the workload, and the agent is
 * stopped. SIGINT ends the sampling window early and still cleans up.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { BUNDLE_FORMAT, signBundle, type BundleEnvelope } from "../src/core/signing/bundleFormat.js";
import { generateEd25519 } from "../src/core/signing/ed25519.js";
import { ImageStore } from "../src/runtime/imageStore.js";
import { buildBusyboxImage } from "../test/fixtures/images.js";
import { HttpPool, HubChild, REPO, scratchDb } from "./lib/fleetHub.js";
import { cmdlineOf, cpuSeconds, percentile, processTree, pssMiB, rssMiB } from "./lib/procStats.js";

const { values: opt } = parseArgs({
  options: {
    minutes: { type: "string", default: "3" },
    settle: { type: "string", default: "30" },
    variants: { type: "string", default: "default;PALISADE_AGENT_V8_FLAGS=" },
    markdown: { type: "string" },
  },
});

const NATIVE_DIR = process.env.PALISADE_NATIVE_DIR ?? join(REPO, "build/native");
const DIST = join(REPO, "build/bench/footprint-dist");

type Kind = "agent" | "supervisor" | "native" | "not counted";

interface Sampled {
  readonly pid: number;
  readonly kind: Kind;
  readonly what: string;
  readonly rss: number[];
  readonly pss: number[];
  cpu0: number;
  cpu1: number;
}

interface VariantResult {
  readonly variant: string;
  readonly seconds: number;
  readonly processes: { kind: Kind; what: string; rssMedian: number; rssMax: number; pssMax: number; cpuPct: number }[];
  readonly agentRssMedian: number;
  readonly agentRssMax: number;
  readonly agentCpuPct: number;
  /** The agent's RSS (MiB) at each sample, in order: growth over the window shows here, not in median/max. */
  readonly agentRssSeries: readonly number[];
  readonly palisadeRssMax: number;
  /** Sum of the counted processes' largest Pss: what they cost together (shared node pages counted once). */
  readonly palisadePssMax: number;
  readonly palisadeCpuPct: number;
}

function classify(pid: number, agentPid: number): { kind: Kind; what: string } {
  let exe = "";
  try {
    exe = readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return { kind: "not counted", what: "?" };
  }
  const args = cmdlineOf(pid);
  if (pid === agentPid) return { kind: "agent", what: "palisade agent (node)" };
  if (exe === process.execPath && args.includes("exec")) return { kind: "supervisor", what: "palisade agent exec (workload supervisor, node)" };
  if (exe.startsWith(NATIVE_DIR)) return { kind: "native", what: exe.slice(NATIVE_DIR.length + 1) };
  return { kind: "not counted", what: `${exe.split("/").pop()} ${args.slice(1, 3).join(" ")}`.trim() };
}

/** SIGINT ends the sampling window early; the run still cleans up (workload stopped, agent and hub ended). */
let interrupted = false;

async function main(): Promise<void> {
  process.on("SIGINT", () => {
    interrupted = true;
    process.stderr.write("SIGINT: ending the sampling window early, then cleaning up\n");
  });
  if (process.getuid?.() !== 0) throw new Error("needs root (the agent runs confined workloads under runc)");
  process.stderr.write(`building the CLI into ${DIST}\n`);
  const built = spawnSync(join(REPO, "node_modules/.bin/tsc"), ["-p", join(REPO, "tsconfig.build.json"), "--outDir", DIST], { cwd: REPO, encoding: "utf8" });
  if (built.status !== 0) process.stderr.write(`tsc reported errors (files were still emitted):\n${built.stdout.slice(0, 2000)}\n`);

  const db = await scratchDb("sqlite");
  const hub = await HubChild.start(db.url);
  const pool = new HttpPool(hub.url, 4);
  const work = mkdtempSync(join(tmpdir(), "palisade-footprint-"));
  // A workload's user-namespace root must be able to reach its files below the data directory.
  chmodSync(work, 0o755);
  const results: VariantResult[] = [];
  const failures: string[] = [];
  try {
    const admin = hub.token;
    const pub = await pool.json<{ id: string }>("POST", "/v1/publishers", admin, { name: "bench" });
    const signer = generateEd25519();
    await pool.json("POST", `/v1/publishers/${pub.id}/keys`, admin, { publicKey: signer.publicKey, name: "bench" });
    let version = 0;
    for (const [i, variant] of opt.variants!.split(";").map((v) => v.trim()).entries()) {
      const dataDir = join(work, `device-${i}`);
      mkdirSync(dataDir, { recursive: true });
      const image = (await buildBusyboxImage(ImageStore.open(join(dataDir, "images")), "busybox:test")).digest;
      version += 1;
      const env: BundleEnvelope = {
        format: BUNDLE_FORMAT,
        name: "idle",
        version,
        workload: `apiVersion: palisade.dev/v1\nkind: Workload\nmetadata:\n  name: idle\nspec:\n  containers:\n  - name: main\n    image: busybox@${image}\n    command: [/bin/sh, -c, "sleep 100000"]\n`,
        policies: "",
        images: [{ ref: "busybox", digest: image }],
        created: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      };
      const bundle = await pool.json<{ digest: string }>("POST", "/v1/bundles", admin, { envelope: env, signature: signBundle(env, signer.privateKey, signer.publicKey) });
      const dep = await pool.json<{ id: string }>("POST", "/v1/deployments", admin, { name: "idle", bundleDigest: bundle.digest, selector: { matchLabels: { device: `d${i}` } } });
      const token = (await pool.json<{ token: string }>("POST", "/v1/enrollment-tokens", admin, { name: `footprint-${i}`, maxUses: 1, labels: { device: `d${i}` } })).token;

      // A variant is node flags, and NAME=value words that go into the agent's environment (e.g. PALISADE_AGENT_V8_FLAGS=).
      const words = variant === "default" ? [] : variant.split(/\s+/).filter((w) => w !== "");
      const flags = words.filter((w) => !/^[A-Z_][A-Z0-9_]*=/.test(w));
      const variantEnv = Object.fromEntries(words.filter((w) => /^[A-Z_][A-Z0-9_]*=/.test(w)).map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1).replace(/,/g, " ")]));
      const agent = spawn(process.execPath, [...flags, join(DIST, "cli/main.js"), "agent", "--data-dir", dataDir, "--hub", hub.url, "--token", token, "--poll", "30s", "--log-format", "json"], {
        cwd: work,
        // Supervisors are started with the agent's own node flags (process.execArgv), so they get the variant too.
        env: { ...process.env, PALISADE_NATIVE_DIR: NATIVE_DIR, PALISADE_DATA_DIR: dataDir, ...variantEnv },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const log: string[] = [];
      agent.stdout!.on("data", (b: Buffer) => log.push(b.toString()));
      agent.stderr!.on("data", (b: Buffer) => log.push(b.toString()));
      try {
        process.stderr.write(`variant "${variant}": agent pid ${agent.pid}, waiting for the workload to run\n`);
        const nodeId = await until("the agent to enroll", () => /"node":"(node_[^"]+)"/.exec(log.join(""))?.[1], 60, log, agent);
        await until(
          "the workload to run (reported to the hub)",
          async () => (await pool.json<{ workloads: { state: string }[] }>("GET", `/v1/nodes/${nodeId}`, admin)).workloads.some((w) => w.state === "running"),
          120,
          log,
          agent,
        );
        process.stderr.write(`  running; settling ${opt.settle} s, then sampling ${opt.minutes} min\n`);
        await sleep(Number(opt.settle) * 1000);
        results.push(await sample(variant, agent));
        printVariant(results.at(-1)!);
      } catch (e) {
        // One variant failing (e.g. a heap too small to start) must not hide the others.
        failures.push(`\`${variant}\`: ${(e as Error).message.split("\n")[0]}; last agent output: ${log.join("").trim().split("\n").slice(-3).join(" | ").slice(0, 400)}`);
        process.stderr.write(`  FAILED: ${failures.at(-1)}\n`);
      } finally {
        await pool.json("DELETE", `/v1/deployments/${dep.id}`, admin).catch(() => undefined);
        await stopAgent(agent, pool, admin, log);
      }
    }
  } finally {
    pool.close();
    await hub.stop();
    await db.drop();
    rmSync(work, { recursive: true, force: true });
  }
  const md = markdown(results) + (failures.length ? `\nVariants that did not run:\n\n${failures.map((f) => `- ${f}`).join("\n")}\n` : "");
  const file = opt.markdown ?? join(REPO, "build/bench/agent-footprint.md");
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, md);
  writeFileSync(file.replace(/\.md$/, ".json"), JSON.stringify(results, null, 2));
  process.stdout.write(`\n${md}\nwritten to ${file}\n`);
}

async function sample(variant: string, agent: ChildProcess): Promise<VariantResult> {
  const procs = new Map<number, Sampled>();
  const t0 = Date.now();
  const end = t0 + Number(opt.minutes) * 60_000;
  const look = () => {
    for (const pid of processTree(agent.pid!)) {
      let s = procs.get(pid);
      if (s === undefined) {
        const c = cpuSeconds(pid);
        if (c === undefined) continue;
        s = { pid, ...classify(pid, agent.pid!), rss: [], pss: [], cpu0: c, cpu1: c };
        procs.set(pid, s);
      }
      const r = rssMiB(pid);
      const c = cpuSeconds(pid);
      if (r !== undefined) s.rss.push(r);
      const p = pssMiB(pid);
      if (p !== undefined) s.pss.push(p);
      if (c !== undefined) s.cpu1 = c;
    }
  };
  look();
  const w0 = performance.now();
  while (Date.now() < end && !interrupted) {
    await sleep(1000);
    look();
  }
  const seconds = (performance.now() - w0) / 1000;
  const processes = [...procs.values()].map((p) => {
    const sorted = Float64Array.from(p.rss).sort();
    return { kind: p.kind, what: p.what, rssMedian: percentile(sorted, 50), rssMax: sorted[sorted.length - 1] ?? NaN, pssMax: p.pss.length > 0 ? Math.max(...p.pss) : NaN, cpuPct: (100 * (p.cpu1 - p.cpu0)) / seconds };
  });
  const agentP = processes.find((p) => p.kind === "agent")!;
  const counted = processes.filter((p) => p.kind !== "not counted");
  return {
    variant,
    seconds,
    processes,
    agentRssMedian: agentP.rssMedian,
    agentRssMax: agentP.rssMax,
    agentCpuPct: agentP.cpuPct,
    agentRssSeries: [...procs.values()].find((p) => p.kind === "agent")!.rss,
    palisadeRssMax: counted.reduce((s, p) => s + p.rssMax, 0),
    palisadePssMax: counted.reduce((s, p) => s + p.pssMax, 0),
    palisadeCpuPct: counted.reduce((s, p) => s + p.cpuPct, 0),
  };
}

async function stopAgent(agent: ChildProcess, pool: HttpPool, admin: string, log: string[]): Promise<void> {
  const nodeId = /"node":"(node_[^"]+)"/.exec(log.join(""))?.[1];
  // The agent stops the workload once the deployment is gone; wait for it so nothing outlives the run.
  if (nodeId && !exited(agent)) {
    await until("the agent to stop the workload", async () => (await pool.json<{ workloads: unknown[] }>("GET", `/v1/nodes/${nodeId}`, admin)).workloads.length === 0, 90, log).catch((e: Error) =>
      process.stderr.write(`  ${e.message}\n`),
    );
  }
  if (!exited(agent)) {
    const gone = new Promise((r) => agent.once("exit", r));
    agent.kill("SIGTERM");
    await gone;
  }
}

function exited(p: ChildProcess): boolean {
  return p.exitCode !== null || p.signalCode !== null;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, seconds: number, log: string[], agent?: ChildProcess): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (agent !== undefined && exited(agent)) break;
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      // not yet
    }
    await sleep(500);
  }
  throw new Error(`${agent && exited(agent) ? `the agent exited (${agent.exitCode ?? agent.signalCode})` : "timed out"} waiting for ${what}; agent log tail:\n${log.join("").split("\n").slice(-15).join("\n")}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "–");
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "–");

function printVariant(r: VariantResult): void {
  process.stderr.write(`  ${r.variant}: agent RSS median ${f1(r.agentRssMedian)} MiB (max ${f1(r.agentRssMax)}), CPU ${f2(r.agentCpuPct)} %; all Palisade processes RSS ${f1(r.palisadeRssMax)} MiB (PSS ${f1(r.palisadePssMax)}), CPU ${f2(r.palisadeCpuPct)} %\n`);
  for (const p of r.processes) process.stderr.write(`    ${p.kind.padEnd(11)} ${p.what.padEnd(50)} RSS ${f1(p.rssMedian)} (max ${f1(p.rssMax)}, PSS max ${f1(p.pssMax)}) MiB, CPU ${f2(p.cpuPct)} %\n`);
}

function markdown(results: readonly VariantResult[]): string {
  const cpu = cpus();
  const lines = [
    `Machine: ${cpu.length} CPUs (${cpu[0]?.model.trim() ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}. Idle window ${opt.minutes} min after ${opt.settle} s settling, sampled every second; poll 30 s, status heartbeat 5 min.`,
    "",
    "| variant (node flags, env) | agent RSS median / max MiB | agent CPU | supervisor RSS max MiB | supervisor CPU | native helpers RSS max MiB | all Palisade RSS max MiB | all Palisade PSS max MiB | all Palisade CPU | goal ≤ 60 MB, < 1 % (agent) |",
    "| --- | --: | --: | --: | --: | --: | --: | --: | --: | :-: |",
  ];
  for (const r of results) {
    const sum = (k: Kind, f: (p: VariantResult["processes"][number]) => number) => r.processes.filter((p) => p.kind === k).reduce((s, p) => s + f(p), 0);
    const mb = (r.agentRssMax * 2 ** 20) / 1e6;
    lines.push(
      `| \`${r.variant}\` | ${f1(r.agentRssMedian)} / ${f1(r.agentRssMax)} | ${f2(r.agentCpuPct)} % | ${f1(sum("supervisor", (p) => p.rssMax))} | ${f2(sum("supervisor", (p) => p.cpuPct))} % | ${f1(sum("native", (p) => p.rssMax))} | ${f1(r.palisadeRssMax)} | ${f1(r.palisadePssMax)} | ${f2(r.palisadeCpuPct)} % | ${mb <= 60 && r.agentCpuPct < 1 ? "met" : "**not met**"} (${f1(mb)} MB) |`,
    );
  }
  lines.push("", "Processes seen (not counted: runc and the workload's own processes):", "");
  for (const r of results) lines.push(`- \`${r.variant}\`: ${r.processes.map((p) => `${p.what} [${p.kind}] ${f1(p.rssMax)} MiB (PSS ${f1(p.pssMax)})`).join("; ")}`);
  return lines.join("\n") + "\n";
}

main().catch((e: Error) => {
  process.stderr.write(`agent footprint bench failed: ${e.message}\n`);
  process.exitCode = 1;
});

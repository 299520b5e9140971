/**
 * Fleet scale: how many devices one hub serves on this machine with p99
 * sync latency under 200 ms, each device polling its desired state every
 * 30 s (docs/benchmarks.md, "Fleet").
 *
 *   npx tsx bench/fleet.ts --db sqlite|postgres [--nodes search|N,N,…] [--duration 60] [--poll 30]
 *
 * Real parts: `palisade hub` runs as its own process on a fresh SQLite file
 * or PostgreSQL database; nodes enroll through POST /v1/enroll (one
 * N-use enrollment token, one Ed25519 key per node, enrollment proof); a
 * publisher key signs a bundle, uploaded and deployed to a label selector
 * that every simulated node matches. The simulated nodes are light clients
 * in this one process: each sends its own palisade-node-v1 signed
 * GET /v1/node/desired-state with If-None-Match every poll ± 10 % (the
 * agent's jitter), and a signed status report every --status-every (the
 * agent's heartbeat, 5 min) at a random phase — so the offered load is
 * N/poll polls per second plus N/status-every reports. The load generator
 * shares the machine's cores with the hub (and PostgreSQL): its own CPU is
 * reported beside the hub's.
 *
 * Per step: a warm-up of one poll interval (every node polls once and
 * learns its ETag; new nodes get their 200), then --duration seconds
 * measured. A step passes when p99 of all node requests < 200 ms and fewer
 * than 0.1 % failed. `--nodes search` tries 2.5k, 5k, 10k, 20k, 40k, 80k
 * until a step fails, then once the midpoint between the last pass and the
 * first failure. Nodes enrolled for one step are kept for the next.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, setPriority, totalmem } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { BUNDLE_FORMAT, signBundle, type BundleEnvelope } from "../src/core/signing/bundleFormat.js";
import { generateEd25519 } from "../src/core/signing/ed25519.js";
import { signEnrollProof, signNodeRequest } from "../src/core/signing/nodeSigning.js";
import { HttpPool, HubChild, REPO, scratchDb } from "./lib/fleetHub.js";
import { cpuSeconds, machineCpuSeconds, percentile, pidsByComm, rssMiB } from "./lib/procStats.js";

const { values: opt } = parseArgs({
  options: {
    db: { type: "string", default: "sqlite" },
    nodes: { type: "string", default: "search" },
    duration: { type: "string", default: "60" },
    poll: { type: "string", default: "30" },
    "status-every": { type: "string", default: "300" },
    sockets: { type: "string", default: "128" },
    "p99-goal": { type: "string", default: "200" },
    "hub-cpu-prof": { type: "string" },
    markdown: { type: "string" },
    nice: { type: "string", default: "0" },
    "sqlite-dir": { type: "string" },
  },
});

const DB = opt.db as "sqlite" | "postgres";
if (DB !== "sqlite" && DB !== "postgres") throw new Error("--db is sqlite or postgres");
const POLL_MS = Number(opt.poll) * 1000;
const DURATION_MS = Number(opt.duration) * 1000;
const STATUS_MS = Number(opt["status-every"]) * 1000;
const P99_GOAL = Number(opt["p99-goal"]);
const MAX_ERROR_RATE = 0.001;
const NICE = Number(opt.nice);
const SEARCH = [2_500, 5_000, 10_000, 20_000, 40_000, 80_000];

interface SimNode {
  readonly id: string;
  readonly key: KeyObject;
  etag: string | undefined;
  statusSeq: number;
  nextStatusAt: number;
}

interface StepResult {
  nodes: number;
  seconds: number;
  polls: number;
  pollsPerSec: number;
  statuses: number;
  answers: Record<string, number>;
  errors: number;
  errorKinds: Record<string, number>;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  statusP99: number;
  hubCpuPct: number;
  hubCpuMsPerReq: number;
  hubRssMiB: number;
  hubRssMaxMiB: number;
  postgresCpuPct: number | null;
  generatorCpuPct: number;
  loopDelayP99: number;
  /** CPU of everything else on the machine (other users' work), percent of one core. */
  otherCpuPct: number;
  /** Seconds of the window with at least one request over the goal, and the worst few (start offset s, slow count, max ms). */
  slowSeconds: number;
  worstSeconds: [number, number, number][];
  pass: boolean;
}

const workload = (image: string) =>
  `apiVersion: palisade.dev/v1\nkind: Workload\nmetadata:\n  name: fleet-bench\nspec:\n  containers:\n  - name: main\n    image: busybox@${image}\n    command: [/bin/sh, -c, "sleep 1000000"]\n`;

async function main(): Promise<void> {
  const db = await scratchDb(DB, opt["sqlite-dir"]);
  const hub = await HubChild.start(db.url, opt["hub-cpu-prof"] ? ["--cpu-prof", "--cpu-prof-dir", opt["hub-cpu-prof"]] : []);
  const pool = new HttpPool(hub.url, Number(opt.sockets));
  if (NICE !== 0) {
    // On a shared machine: the hub, its database and the generator ahead of other work (not of each other).
    // Niceness is per thread on Linux: every thread of each process.
    for (const pid of [process.pid, hub.pid, ...(DB === "postgres" ? pidsByComm("postgres") : [])]) for (const tid of readdirSync(`/proc/${pid}/task`)) setPriority(Number(tid), NICE);
  }
  const results: StepResult[] = [];
  try {
    // Publisher, key, signed bundle, deployment to every node labelled fleet=bench.
    const admin = hub.token;
    const pub = await pool.json<{ id: string }>("POST", "/v1/publishers", admin, { name: "bench" });
    const signer = generateEd25519();
    await pool.json("POST", `/v1/publishers/${pub.id}/keys`, admin, { publicKey: signer.publicKey, name: "bench" });
    const image = `sha256:${"c".repeat(64)}`;
    const env: BundleEnvelope = { format: BUNDLE_FORMAT, name: "fleet-bench", version: 1, workload: workload(image), policies: "", images: [{ ref: "busybox", digest: image }], created: "2026-01-01T00:00:00Z" };
    const bundle = await pool.json<{ digest: string }>("POST", "/v1/bundles", admin, { envelope: env, signature: signBundle(env, signer.privateKey, signer.publicKey) });
    await pool.json("POST", "/v1/deployments", admin, { name: "fleet-bench", bundleDigest: bundle.digest, selector: { matchLabels: { fleet: "bench" } } });
    const enrollToken = (await pool.json<{ token: string }>("POST", "/v1/enrollment-tokens", admin, { name: "bench", maxUses: 1_000_000, expiresInSeconds: 86400, labels: { fleet: "bench" } })).token;

    const nodes: SimNode[] = [];
    const steps = opt.nodes === "search" ? SEARCH : opt.nodes!.split(",").map((s) => Number(s.replace(/k$/i, "000")));
    let lastPass: number | undefined;
    let firstFail: number | undefined;
    for (let i = 0; i < steps.length; i++) {
      const n = steps[i]!;
      await enroll(pool, enrollToken, nodes, n);
      const r = await runStep(pool, hub, nodes.slice(0, n), bundle.digest);
      results.push(r);
      printStep(r);
      if (r.pass) lastPass = n;
      else {
        firstFail = n;
        if (opt.nodes === "search") break;
      }
    }
    if (opt.nodes === "search" && lastPass !== undefined && firstFail !== undefined) {
      const mid = Math.round((lastPass + firstFail) / 2 / 1000) * 1000;
      if (mid > lastPass && mid < firstFail) {
        await enroll(pool, enrollToken, nodes, mid);
        const r = await runStep(pool, hub, nodes.slice(0, mid), bundle.digest);
        results.push(r);
        printStep(r);
      }
    }
  } finally {
    pool.close();
    await hub.stop();
    await db.drop().catch((e: Error) => process.stderr.write(`could not drop the scratch database: ${e.message}\n`));
  }
  const md = markdown(db.label, results);
  const file = opt.markdown ?? join(REPO, `build/bench/fleet-${DB}.md`);
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, md);
  writeFileSync(file.replace(/\.md$/, ".json"), JSON.stringify(results, null, 2));
  process.stdout.write(`\n${md}\nwritten to ${file}\n`);
}

/** Enrolls nodes until there are `target`, 16 at a time, as devices would (own key, proof). */
async function enroll(pool: HttpPool, token: string, nodes: SimNode[], target: number): Promise<void> {
  const start = Date.now();
  const before = nodes.length;
  let next = nodes.length;
  const worker = async () => {
    while (next < target) {
      next += 1;
      const { publicKey, privateKey } = generateKeyPairSync("ed25519");
      const pk = String(publicKey.export({ format: "jwk" }).x);
      const r = await pool.json<{ nodeId: string }>("POST", "/v1/enroll", undefined, { token, publicKey: pk, proof: signEnrollProof(privateKey, pk, token), agentVersion: "0.1.0", hostname: `sim-${next}` }, [201]);
      nodes.push({ id: r.nodeId, key: privateKey, etag: undefined, statusSeq: 0, nextStatusAt: 0 });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  if (target > before) process.stderr.write(`enrolled ${target - before} nodes in ${((Date.now() - start) / 1000).toFixed(1)} s (${Math.round(((target - before) * 1000) / (Date.now() - start))}/s); ${nodes.length} in all\n`);
}

function jitter(ms: number): number {
  return ms * (0.9 + 0.2 * Math.random());
}

async function runStep(pool: HttpPool, hub: HubChild, nodes: readonly SimNode[], digest: string): Promise<StepResult> {
  process.stderr.write(`step: ${nodes.length} nodes, warm-up ${POLL_MS / 1000} s, then ${DURATION_MS / 1000} s measured\n`);
  const t0 = Date.now();
  const measureFrom = t0 + POLL_MS;
  const measureTo = measureFrom + DURATION_MS;
  const latencies: number[] = [];
  // Per second of the window: requests started then that were slow, and their worst latency.
  const slowBySecond = new Map<number, [number, number]>();
  const slow = (startedAt: number, ms: number) => {
    if (ms < P99_GOAL) return;
    const sec = Math.floor((startedAt - measureFrom) / 1000);
    const e = slowBySecond.get(sec) ?? [0, 0];
    slowBySecond.set(sec, [e[0] + 1, Math.max(e[1], ms)]);
  };
  const statusLatencies: number[] = [];
  const answers: Record<string, number> = {};
  const errorKinds: Record<string, number> = {};
  let errors = 0;
  let statuses = 0;
  let stopping = false;
  const inFlight = new Set<Promise<void>>();
  const timers = new Map<SimNode, NodeJS.Timeout>();

  const signed = (n: SimNode, method: string, target: string, body?: Buffer) => signNodeRequest(n.key, { nodeId: n.id, method, target, ...(body ? { body } : {}) });
  const fail = (kind: string, measured: boolean) => {
    if (!measured) return;
    errors += 1;
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  };

  const poll = async (n: SimNode) => {
    const start = performance.now();
    const measured = Date.now() >= measureFrom && Date.now() < measureTo;
    try {
      const headers = { ...signed(n, "GET", "/v1/node/desired-state"), ...(n.etag ? { "if-none-match": n.etag } : {}) };
      const res = await pool.request("GET", "/v1/node/desired-state", headers);
      const ms = performance.now() - start;
      if (measured) {
        latencies.push(ms);
        slow(Date.now() - ms, ms);
        answers[res.status] = (answers[res.status] ?? 0) + 1;
      }
      if (res.status === 200) {
        n.etag = String(res.headers.etag);
        // A wrong answer is an error however fast it came.
        if (!res.body.toString().includes(digest)) fail("200 without the deployed bundle", measured);
      } else if (res.status !== 304) fail(`HTTP ${res.status}`, measured);
    } catch (e) {
      fail((e as Error).message, measured);
    }
    if (Date.now() >= n.nextStatusAt) {
      n.statusSeq += 1;
      n.nextStatusAt = Date.now() + STATUS_MS;
      const body = Buffer.from(
        JSON.stringify({
          items: [{ id: `s-${n.statusSeq}-${Date.now()}`, time: new Date().toISOString(), agentVersion: "0.1.0", workloads: [{ deployment: "fleet-bench", name: "fleet-bench", bundleDigest: digest, state: "running", message: "running" }] }],
        }),
      );
      const s0 = performance.now();
      const sMeasured = Date.now() >= measureFrom && Date.now() < measureTo;
      try {
        const res = await pool.request("POST", "/v1/node/status", { ...signed(n, "POST", "/v1/node/status", body), "content-type": "application/json" }, body);
        if (sMeasured) {
          statuses += 1;
          statusLatencies.push(performance.now() - s0);
          latencies.push(performance.now() - s0);
          slow(Date.now() - (performance.now() - s0), performance.now() - s0);
        }
        if (res.status !== 200) fail(`status HTTP ${res.status}`, sMeasured);
      } catch (e) {
        fail(`status ${(e as Error).message}`, sMeasured);
      }
    }
  };

  const schedule = (n: SimNode, delay: number) => {
    const t = setTimeout(() => {
      if (stopping) return;
      const p = poll(n).finally(() => inFlight.delete(p));
      inFlight.add(p);
      schedule(n, jitter(POLL_MS));
    }, delay);
    timers.set(n, t);
  };
  for (const n of nodes) {
    // Heartbeats at a random phase; the first poll at a random point of the first interval.
    if (n.nextStatusAt === 0) n.nextStatusAt = Date.now() + Math.random() * STATUS_MS;
    schedule(n, Math.random() * POLL_MS);
  }

  const pgPids = DB === "postgres" ? pidsByComm("postgres") : [];
  const loop = monitorEventLoopDelay({ resolution: 10 });
  await sleepUntil(measureFrom);
  const hubCpu0 = cpuSeconds(hub.pid)!;
  const pgCpu0 = pgPids.map((p) => cpuSeconds(p) ?? 0);
  const gen0 = process.cpuUsage();
  const machine0 = machineCpuSeconds();
  const wall0 = performance.now();
  loop.enable();
  let rssMax = 0;
  while (Date.now() < measureTo) {
    rssMax = Math.max(rssMax, rssMiB(hub.pid) ?? 0);
    await sleepUntil(Math.min(measureTo, Date.now() + 1000));
  }
  loop.disable();
  const wall = (performance.now() - wall0) / 1000;
  const hubCpu = cpuSeconds(hub.pid)! - hubCpu0;
  const gen = process.cpuUsage(gen0);
  const pgCpu = pgPids.reduce((s, p, i) => s + ((cpuSeconds(p) ?? pgCpu0[i]!) - pgCpu0[i]!), 0);
  const hubRss = rssMiB(hub.pid) ?? 0;
  const machineBusy = machineCpuSeconds().busy - machine0.busy;

  stopping = true;
  for (const t of timers.values()) clearTimeout(t);
  await Promise.allSettled([...inFlight]);

  const sorted = Float64Array.from(latencies).sort();
  const sortedStatus = Float64Array.from(statusLatencies).sort();
  const total = latencies.length + errors;
  const polls = latencies.length - statuses;
  const p99 = percentile(sorted, 99);
  return {
    nodes: nodes.length,
    seconds: wall,
    polls,
    pollsPerSec: polls / wall,
    statuses,
    answers,
    errors,
    errorKinds,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99,
    max: sorted[sorted.length - 1] ?? NaN,
    statusP99: percentile(sortedStatus, 99),
    hubCpuPct: (100 * hubCpu) / wall,
    hubCpuMsPerReq: (1000 * hubCpu) / Math.max(1, latencies.length),
    hubRssMiB: hubRss,
    hubRssMaxMiB: rssMax,
    postgresCpuPct: DB === "postgres" ? (100 * pgCpu) / wall : null,
    generatorCpuPct: (100 * (gen.user + gen.system)) / 1e6 / wall,
    loopDelayP99: loop.percentile(99) / 1e6,
    otherCpuPct: (100 * (machineBusy - hubCpu - pgCpu - (gen.user + gen.system) / 1e6)) / wall,
    slowSeconds: slowBySecond.size,
    worstSeconds: [...slowBySecond].sort((a, b) => b[1][0] - a[1][0]).slice(0, 5).map(([sec, [n, max]]) => [sec, n, Math.round(max)]),
    pass: total > 0 && p99 < P99_GOAL && errors / total < MAX_ERROR_RATE,
  };
}

function sleepUntil(t: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "–");
const int = (x: number) => Math.round(x).toLocaleString("en-US");

function printStep(r: StepResult): void {
  process.stderr.write(
    `  ${int(r.nodes)} nodes: ${f1(r.pollsPerSec)} polls/s, ${r.statuses} status, answers ${JSON.stringify(r.answers)}, errors ${r.errors} ${JSON.stringify(r.errorKinds)}\n` +
      `  latency ms p50 ${f1(r.p50)} p90 ${f1(r.p90)} p99 ${f1(r.p99)} max ${f1(r.max)} (status p99 ${f1(r.statusP99)}); hub CPU ${f1(r.hubCpuPct)} % (${r.hubCpuMsPerReq.toFixed(2)} ms/req), RSS ${f1(r.hubRssMiB)} MiB (max ${f1(r.hubRssMaxMiB)})` +
      `${r.postgresCpuPct === null ? "" : `, postgres CPU ${f1(r.postgresCpuPct)} %`}; generator CPU ${f1(r.generatorCpuPct)} %, its event-loop delay p99 ${f1(r.loopDelayP99)} ms; other processes ${f1(r.otherCpuPct)} % → ${r.pass ? "PASS" : "FAIL"}\n` +
      `  seconds with a request over ${P99_GOAL} ms: ${r.slowSeconds} of ${Math.round(r.seconds)}; worst [second, slow requests, max ms]: ${JSON.stringify(r.worstSeconds)}\n`,
  );
}

function markdown(dbLabel: string, results: readonly StepResult[]): string {
  const cpu = cpus();
  const rows = results.map(
    (r) =>
      `| ${int(r.nodes)} | ${f1(r.pollsPerSec)} | ${int(r.polls + r.statuses)} | ${r.errors} | ${f1(r.p50)} | ${f1(r.p90)} | **${f1(r.p99)}** | ${f1(r.max)} | ${f1(r.hubCpuPct)} % (${r.hubCpuMsPerReq.toFixed(2)} ms/req) | ${f1(r.hubRssMaxMiB)} | ${r.postgresCpuPct === null ? "–" : `${f1(r.postgresCpuPct)} %`} | ${f1(r.generatorCpuPct)} % | ${f1(r.otherCpuPct)} % | ${r.pass ? "pass" : "**fail**"} |`,
  );
  const passed = results.filter((r) => r.pass).map((r) => r.nodes);
  return [
    `#### ${dbLabel}`,
    "",
    `Machine: ${cpu.length} CPUs (${cpu[0]?.model.trim() ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GiB; hub, ${DB === "postgres" ? "PostgreSQL and " : ""}load generator on the same cores. Poll every ${POLL_MS / 1000} s ± 10 %, status every ${STATUS_MS / 1000} s; ${DURATION_MS / 1000} s measured per step after ${POLL_MS / 1000} s warm-up; ${opt.sockets} keep-alive connections.`,
    "",
    "| nodes | polls/s | requests measured | errors | p50 ms | p90 ms | p99 ms | max ms | hub CPU (of one core) | hub RSS max MiB | PostgreSQL CPU | generator CPU | other processes' CPU | p99 < " + P99_GOAL + " ms |",
    "| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | :-: |",
    ...rows,
    "",
    `Largest fleet held: **${passed.length ? int(Math.max(...passed)) : "none"}** nodes (of those tried).`,
    "",
  ].join("\n");
}

main().catch((e: Error) => {
  process.stderr.write(`fleet bench failed: ${e.message}\n`);
  process.exitCode = 1;
});

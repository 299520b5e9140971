/**
 * `palisade agent`: the device daemon (docs/agent.md).
 *
 *   palisade agent --hub URL --token T [--data-dir D] [--labels k=v,…] [--poll 30s]
 *                  [--on-revoked-key stop|keep] [--log-format text|json] [--sensor-ring-kb 1024] [--no-sensor]
 *   palisade agent status [--data-dir D] [--json]     what this device holds (read-only)
 *   palisade agent exec …                             internal: one workload's supervisor
 *   palisade agent inspect-bundle --bundle D          internal: parses one bundle for the agent (bundleFacts.ts)
 *
 * The agent runs until SIGINT/SIGTERM; its workloads keep running after it
 * exits (they have their own supervisors) and are adopted by the next start.
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
// Only light modules here: the agent's graph (SQLite, the sensor pipeline) and the supervisor's
// (runtime, compiler) load inside the action that needs them, after applyLeanV8Flags.
import { AgentLog, type LogLevel } from "../agent/agentLog.js";
import { agentPaths } from "../agent/agentPaths.js";
import { AGENT_V8_FLAGS, applyLeanV8Flags } from "../agent/leanV8.js";
import { parseDuration } from "../agent/parseDuration.js";
import { PalisadeError } from "../core/errors.js";
import { dataDir as defaultDataDir } from "../core/paths.js";
import { parseLabels } from "./labelArgs.js";
import { formatTable, printJson } from "./output.js";
import { installUtcIsoString } from "../agent/utcIsoString.js";

export interface AgentFlags {
  hub?: string;
  token?: string;
  dataDir?: string;
  labels?: string;
  poll: string;
  onRevokedKey: string;
  statusInterval: string;
  stopGrace: string;
  maxRestartDelay: string;
  queueMax: string;
  logFormat: string;
  logLevel: string;
  sensor: boolean;
  sensorRingKb: string;
}

function resolveDataDir(flag: string | undefined): string {
  const dir = resolve(flag ?? defaultDataDir());
  // The runtime (images, workloads, runc state) reads the same directory.
  process.env.PALISADE_DATA_DIR = dir;
  return dir;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], option: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new PalisadeError("USAGE", `${option} must be one of ${allowed.join(", ")}, not ${JSON.stringify(value)}`);
  return value as T;
}

async function runAgent(flags: AgentFlags): Promise<void> {
  // Before anything formats a time: the built-in touches ICU data that would stay resident (utcIsoString.ts).
  installUtcIsoString();
  // Not the lean defaults: the agent's sensor pipeline needs the optimising compiler; only a young generation that does not grow (leanV8.ts).
  const v8Flags = applyLeanV8Flags(process.env, AGENT_V8_FLAGS);
  const dataDir = resolveDataDir(flags.dataDir);
  if (flags.hub !== undefined && !/^https?:\/\/[^/]+/.test(flags.hub)) throw new PalisadeError("USAGE", `--hub must be an http(s) URL, not ${JSON.stringify(flags.hub)}`);
  const queueMax = Number(flags.queueMax);
  if (!Number.isSafeInteger(queueMax) || queueMax < 1) throw new PalisadeError("USAGE", `--queue-max must be a positive integer, not ${JSON.stringify(flags.queueMax)}`);
  const ringbufKb = Number(flags.sensorRingKb);
  if (!Number.isSafeInteger(ringbufKb) || ringbufKb < 4 || ringbufKb > 1 << 20 || (ringbufKb & (ringbufKb - 1)) !== 0) {
    throw new PalisadeError("USAGE", `--sensor-ring-kb must be a power of two from 4 to 1048576, not ${JSON.stringify(flags.sensorRingKb)}`);
  }
  const log = new AgentLog({ format: oneOf(flags.logFormat, ["text", "json"] as const, "--log-format"), level: oneOf<LogLevel>(flags.logLevel, ["debug", "info", "warn", "error"], "--log-level") });
  if (v8Flags.length > 0) log.debug("V8 set for an idle daemon", { flags: v8Flags.join(" ") });
  const { Agent } = await import("../agent/agent.js");
  const agent = await Agent.open({
    dataDir,
    ...(flags.hub ? { hubUrl: flags.hub.replace(/\/+$/, "") } : {}),
    ...(flags.token ? { token: flags.token } : {}),
    ...(flags.labels ? { labels: parseLabels(flags.labels) } : {}),
    pollMs: parseDuration(flags.poll, "--poll"),
    onRevokedKey: oneOf(flags.onRevokedKey, ["stop", "keep"] as const, "--on-revoked-key"),
    statusIntervalMs: parseDuration(flags.statusInterval, "--status-interval"),
    stopGraceMs: parseDuration(flags.stopGrace, "--stop-grace"),
    maxRestartDelayMs: parseDuration(flags.maxRestartDelay, "--max-restart-delay"),
    queueMax,
    log,
    // The YAML parsers run in a short-lived child per new bundle, never in the long-lived agent.
    inspectInChild: true,
    sensor: flags.sensor ? { ringbufKb } : false,
  });
  const onSignal = (sig: string) => () => {
    log.info(`${sig}: stopping the agent (workloads keep running)`);
    agent.stop();
  };
  const onInt = onSignal("SIGINT");
  const onTerm = onSignal("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  try {
    await agent.run();
    log.info("agent stopped");
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
    agent.close();
  }
}

/** The local view: identity, trust, accepted bundles, instances, queue. */
async function agentStatus(dataDir: string, json: boolean): Promise<void> {
  const paths = agentPaths(dataDir);
  if (!existsSync(paths.db)) throw new PalisadeError("AGENT_STATE", `no agent state in ${dataDir}`, { hint: "enroll first: palisade agent --hub URL --token T" });
  const { AgentStore, openAgentDb } = await import("../agent/agentStore.js");
  const { Outbox } = await import("../agent/outbox.js");
  const db = openAgentDb(paths.db, { readonly: true });
  try {
    const store = new AgentStore(db);
    const outbox = new Outbox(db, { readonly: true });
    const view = {
      identity: store.identity() ?? null,
      revoked: store.getMeta("node_revoked") ?? null,
      pinnedKeys: store.pinnedKeys(),
      revokedKeys: [...store.revokedKeys().keys()].sort(),
      accepted: store.accepted(),
      instances: store.instances(),
      queue: { status: outbox.size("status"), alert: outbox.size("alert"), droppedStatus: outbox.dropped("status"), droppedAlerts: outbox.dropped("alert") },
    };
    if (json) return printJson(view);
    const id = view.identity;
    process.stdout.write(id ? `node ${id.nodeId} (org ${id.orgId}) enrolled ${id.enrolledAt} with ${id.hubUrl}\n` : "not enrolled\n");
    if (view.revoked) process.stdout.write(`REVOKED: ${view.revoked}\n`);
    process.stdout.write(`pinned keys: ${view.pinnedKeys.map((k) => `${k.publisherName}:${k.keyId}${view.revokedKeys.includes(k.keyId) ? " (revoked)" : ""}`).join(", ") || "none"}\n`);
    process.stdout.write(`queue: ${view.queue.status} status, ${view.queue.alert} alerts waiting\n\n`);
    process.stdout.write(formatTable(["DEPLOYMENT", "BUNDLE", "VERSION", "DIGEST", "KEY"], view.accepted.map((a) => [a.deployment, a.name, String(a.version), a.digest.slice(0, 19), a.keyId])));
  } finally {
    db.close();
  }
}

/** `palisade agent`'s options: registered with commander (help, usage errors) and read without it by agentDaemon. */
const AGENT_OPTIONS: readonly (readonly [flags: string, help: string, initial?: string])[] = [
  ["--hub <url>", "hub URL, e.g. https://hub.example.com:8443 (needed to enroll; remembered)"],
  ["--token <token>", "enrollment token (pet_…), needed only the first time"],
  ["--data-dir <dir>", "the device's Palisade data directory (env PALISADE_DATA_DIR, default /var/lib/palisade)"],
  ["--labels <k=v,...>", "labels this device proposes at enrollment (the token's labels win)"],
  ["--poll <duration>", "how often to ask the hub for the desired state", "30s"],
  ["--on-revoked-key <mode>", "stop: stop workloads whose bundle's key was revoked; keep: keep running them (new bundles with that key are refused either way)", "stop"],
  ["--status-interval <duration>", "a status report is sent on every change and at least this often", "5m"],
  ["--stop-grace <duration>", "SIGTERM → SIGKILL grace when stopping a workload", "10s"],
  ["--max-restart-delay <duration>", "cap of the exponential delay (from 1s, doubling) before restarting a workload that exited", "60s"],
  ["--queue-max <n>", "most status reports, and most alerts, kept while the hub is unreachable (oldest dropped first)", "10000"],
  ["--log-format <format>", "text or json (one JSON object per line)", "text"],
  ["--log-level <level>", "debug, info, warn or error", "info"],
  ["--sensor-ring-kb <n>", "the kernel sensor's ring buffer in KiB (a power of two; resident in full; overflows are counted and logged)", "1024"],
  ["--no-sensor", "do not watch workloads in the kernel (no events.db, no kernel alerts to the hub); confinement is unchanged"],
];

/**
 * `palisade agent [options]` — the daemon — read without commander (main.ts
 * asks here first): the agent runs for the device's lifetime, and every
 * module it loads stays resident; commander and the CLI's command tree are
 * ≈ 1.5 MiB it would keep for nothing. Only a plain daemon command line is
 * taken (known options, no subcommand, no --help); anything else returns
 * undefined and goes through commander, with its help and error messages.
 */
export function agentDaemon(args: readonly string[]): (() => Promise<void>) | undefined {
  const flags = agentDaemonFlags(args);
  return flags && (() => runAgent(flags));
}

/** The daemon's flags as commander would give them to its action; undefined for anything but a plain daemon command line. */
export function agentDaemonFlags(args: readonly string[]): AgentFlags | undefined {
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const [flags] of AGENT_OPTIONS) {
    const m = /^--([a-z-]+)( <)?/.exec(flags)!;
    options[m[1]!] = { type: m[2] ? "string" : "boolean" };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch {
    return undefined;
  }
  const flags: Record<string, string | boolean | undefined> = { sensor: values["no-sensor"] !== true };
  for (const [spec, , dflt] of AGENT_OPTIONS) {
    const name = /^--([a-z-]+)/.exec(spec)![1]!;
    if (name === "no-sensor") continue;
    flags[name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = values[name] ?? dflt;
  }
  return flags as unknown as AgentFlags;
}

export function registerAgentCommand(program: Command): void {
  const agent = program
    .command("agent")
    .description("run the device agent: enroll once, then keep this device's workloads as the hub says, verifying every bundle (docs/agent.md)");
  for (const [flags, help, dflt] of AGENT_OPTIONS) agent.option(flags, help, dflt);
  agent.action(async (flags: AgentFlags) => runAgent(flags));

  agent
    .command("status")
    .description("what this device holds: identity, pinned and revoked keys, accepted bundles, instances, queue (read-only)")
    .option("--data-dir <dir>", "the device's Palisade data directory")
    .option("--json", "machine-readable output")
    .action(async (flags: { dataDir?: string; json?: boolean }, cmd: Command) => {
      const parent = (cmd.parent?.opts() ?? {}) as { dataDir?: string };
      await agentStatus(resolve(flags.dataDir ?? parent.dataDir ?? defaultDataDir()), flags.json === true);
    });

  // Started by the agent, one per workload instance; not for people (hence hidden from help).
  agent
    .command("exec", { hidden: true })
    .option("--data-dir <dir>")
    .requiredOption("--instance <name>")
    .requiredOption("--bundle <digest>")
    .action(async (flags: { dataDir?: string; instance: string; bundle: string }, cmd: Command) => {
      // `agent` has --data-dir too; commander gives it to whichever command defined it first.
      const parent = (cmd.parent?.opts() ?? {}) as { dataDir?: string };
      const dir = flags.dataDir ?? parent.dataDir;
      if (!dir) throw new PalisadeError("USAGE", "agent exec needs --data-dir");
      const dataDir = resolveDataDir(dir);
      applyLeanV8Flags();
      const { execBundle } = await import("../agent/execBundle.js");
      process.exitCode = await execBundle({ dataDir, instance: flags.instance, digest: flags.bundle });
    });

  // Started by the agent for each bundle it accepts (bytes on stdin, one JSON line out); not for people.
  agent
    .command("inspect-bundle", { hidden: true })
    .requiredOption("--bundle <digest>")
    .action(async (flags: { bundle: string }) => {
      applyLeanV8Flags();
      const { inspectBundleMain } = await import("../agent/bundleFactsOf.js");
      process.exitCode = await inspectBundleMain(flags.bundle);
    });
}

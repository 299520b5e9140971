/**
 * Real processes for the end-to-end fleet tests: `palisade hub` and
 * `palisade agent` run as their own node processes (the CLI from source, as
 * `bin/palisade` does with PALISADE_FROM_SOURCE=1, but without the tsx
 * wrapper process so that a SIGKILL hits the agent itself), each agent with
 * its own data directory, everything on 127.0.0.1. The fleet verbs run
 * in-process through the CLI's `main`.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, readdirSync, type WriteStream } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { processAlive, readState, type WorkloadState } from "../../src/runtime/workloadState.js";
import { removeWorkload, stopWorkload } from "../../src/runtime/workloads.js";
import { runCli } from "../runCli.js";

export const REPO = resolve(import.meta.dirname, "../..");

/** argv prefix that runs the palisade CLI from source in one node process (tsx's loader, by absolute URL, as its own CLI does). */
export function palisadeArgv(): string[] {
  return [process.execPath, "--import", pathToFileURL(join(REPO, "node_modules/tsx/dist/loader.mjs")).href, join(REPO, "src/cli/main.ts")];
}

/** A child process whose output lines are kept (and copied to a file for post-mortems). */
class Proc {
  readonly lines: string[] = [];
  readonly stderr: string[] = [];
  exitCode: number | null | undefined;
  readonly #done: Promise<void>;
  readonly child: ChildProcess;
  readonly #file: WriteStream;

  constructor(args: readonly string[], env: NodeJS.ProcessEnv, logFile: string) {
    const [cmd, ...rest] = [...palisadeArgv(), ...args];
    this.#file = createWriteStream(logFile, { flags: "a" });
    this.child = spawn(cmd!, rest, { cwd: REPO, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    const split = (into: string[]) => {
      let buf = "";
      return (b: Buffer) => {
        this.#file.write(b);
        buf += b.toString();
        const parts = buf.split("\n");
        buf = parts.pop() ?? "";
        into.push(...parts);
      };
    };
    this.child.stdout!.on("data", split(this.lines));
    this.child.stderr!.on("data", split(this.stderr));
    this.#done = new Promise((r) =>
      this.child.once("close", (code) => {
        this.exitCode = code;
        this.#file.end();
        r();
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  async exited(timeoutMs = 30_000): Promise<number | null> {
    await Promise.race([this.#done, new Promise((_, rej) => setTimeout(() => rej(new Error(`process ${this.pid} did not exit`)), timeoutMs))]);
    return this.exitCode ?? null;
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.exitCode === undefined) this.child.kill(signal);
    await this.exited();
  }
}

export class HubProcess extends Proc {
  url = "";
  bootstrapToken: string | undefined;

  static async start(dbUrl: string, logFile: string, port = 0): Promise<HubProcess> {
    const hub = new HubProcess(["hub", "--listen", `127.0.0.1:${port}`, "--db", dbUrl, "--log-level", "warn"], {}, logFile);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const text = hub.stderr.join("\n");
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (m) {
        hub.url = m[1]!;
        hub.bootstrapToken = /\s(pat_[A-Za-z0-9_-]+)/.exec(text)?.[1];
        return hub;
      }
      if (hub.exitCode !== undefined) throw new Error(`hub exited with ${hub.exitCode}: ${text}`);
      await sleep(50);
    }
    throw new Error(`hub did not start: ${hub.stderr.join("\n")}`);
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }
}

export interface AgentEvent {
  readonly time: string;
  readonly level: string;
  readonly msg: string;
  readonly [k: string]: unknown;
}

export class AgentProcess extends Proc {
  constructor(
    readonly dataDir: string,
    args: readonly string[],
    logFile: string,
  ) {
    super(["agent", "--data-dir", dataDir, "--log-format", "json", ...args], {}, logFile);
  }

  events(): AgentEvent[] {
    return this.lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as AgentEvent];
      } catch {
        return [];
      }
    });
  }

  /** Ids of items this process logged as queued (logged only after they were committed). */
  queued(kind: "status" | "alert"): string[] {
    return this.events()
      .filter((e) => e.msg.startsWith(`queued ${kind} `))
      .map((e) => e.msg.split(" ")[2]!);
  }

  tail(n = 15): string {
    return [...this.lines.slice(-n), ...this.stderr.slice(-5)].join("\n");
  }
}

/** Runs `palisade ARGS` in this process; returns exit code and output. */
export const cli = runCli;

/** `palisade ARGS --json`, parsed; fails the test with the CLI's error otherwise. */
export async function cliJson<T = any>(args: readonly string[]): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any -- test data is checked field by field
  const r = await cli([...args, "--json"]);
  if (r.code !== 0) throw new Error(`palisade ${args.join(" ")} failed (${r.code}): ${r.out}${r.err}`);
  return JSON.parse(r.out) as T;
}

export function workloadStates(dataDir: string): WorkloadState[] {
  let ids: string[] = [];
  try {
    ids = readdirSync(join(dataDir, "workloads"));
  } catch {
    return [];
  }
  return ids.flatMap((id) => {
    try {
      const s = readState(join(dataDir, "workloads", id, "state.json"));
      return s ? [s] : [];
    } catch {
      return [];
    }
  });
}

/** The host pid of instance `name` when it runs under a live supervisor, else undefined. */
export function runningPid(dataDir: string, name: string): number | undefined {
  const s = workloadStates(dataDir).find((x) => x.name === name);
  return s && s.status === "running" && s.pid && processAlive(s.pid) && processAlive(s.supervisorPid) ? s.pid : undefined;
}

function runc(dataDir: string, args: string[]): void {
  spawnSync("runc", ["--root", join(dataDir, "runc"), ...args], { env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` }, stdio: "ignore" });
}

/** What a power cut does to a device's workloads: supervisors and containers die, nothing is cleaned up. */
export function simulateReboot(dataDir: string): void {
  for (const s of workloadStates(dataDir)) {
    if (s.supervisorPid && processAlive(s.supervisorPid)) process.kill(s.supervisorPid, "SIGKILL");
    runc(dataDir, ["kill", "--all", s.id, "KILL"]);
  }
}

/** Stops and forgets every workload of a data directory (test cleanup). */
export async function stopAllWorkloads(dataDir: string): Promise<void> {
  const previous = process.env.PALISADE_DATA_DIR;
  process.env.PALISADE_DATA_DIR = dataDir;
  try {
    for (const s of workloadStates(dataDir)) {
      await stopWorkload(`${s.namespace}/${s.name}`, { graceMs: 2000 }).catch(() => undefined);
      if (s.supervisorPid && processAlive(s.supervisorPid)) process.kill(s.supervisorPid, "SIGKILL");
      runc(dataDir, ["delete", "--force", s.id]);
      await removeWorkload(`${s.namespace}/${s.name}`).catch(() => undefined);
    }
  } finally {
    if (previous === undefined) delete process.env.PALISADE_DATA_DIR;
    else process.env.PALISADE_DATA_DIR = previous;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until `fn` returns something truthy; the error names what was awaited and shows `context()`. */
export async function waitFor<T>(what: string, fn: () => Promise<T> | T, opts: { timeoutMs?: number; context?: () => string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (e) {
      last = e instanceof Error ? e.message : e;
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})${opts.context ? `\n${opts.context()}` : ""}`);
}

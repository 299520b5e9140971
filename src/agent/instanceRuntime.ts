/**
 * How the agent runs workload instances. The runtime's `runWorkload` runs a
 * workload in the foreground of the calling process, so the agent starts one
 * small supervisor process per instance (`palisade agent exec`, see
 * execBundle.ts), detached in its own session with its output in a log file.
 * That way a workload outlives the agent: an agent upgrade, crash or kill -9
 * does not touch it, and the restarted agent adopts it (by the supervisor
 * pid in its store, checked against /proc so a reused pid is not mistaken
 * for it). Only a reboot ends both, and then the agent starts it again from
 * its verified cache.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, rmSync, statSync, truncateSync } from "node:fs";
import { PalisadeError } from "../core/errors.js";
import { statePath, workloadId } from "../runtime/bundle.js";
import { readState, type WorkloadState } from "../runtime/workloadState.js";
import type { AgentPaths } from "./agentPaths.js";
import { instanceLogPath, instanceResultPath } from "./agentPaths.js";
import type { AgentStore, InstanceRecord } from "./agentStore.js";

export type Phase = "starting" | "running" | "exited" | "failed" | "lost";

export interface Observation {
  readonly phase: Phase;
  /** The workload's first process on the host, while running. */
  readonly pid?: number;
  readonly exitCode?: number;
  readonly error?: { readonly code: string; readonly message: string; readonly hint?: string };
  /** When it ended (exited/failed), or when it was last known started (lost): identifies the exit event. */
  readonly endedAt?: string;
}

export interface InstanceSpec {
  readonly instance: string;
  readonly namespace: string;
  readonly deployment: string;
  readonly digest: string;
}

/** What the reconciler needs from a runtime; tests substitute a fake. */
export interface InstanceRuntime {
  start(spec: InstanceSpec): Promise<void>;
  observe(rec: InstanceRecord): Observation;
  stop(rec: InstanceRecord): Promise<void>;
}

/** What the supervisor writes when it ends (execBundle.ts). */
export interface InstanceResult {
  readonly finishedAt: string;
  readonly exitCode?: number;
  readonly error?: { readonly code: string; readonly message: string; readonly hint?: string };
}

export interface ProcessRuntimeOptions {
  /** argv prefix that runs the palisade CLI, e.g. [node, …execArgv, main.js]. */
  readonly command: readonly string[];
  /** SIGTERM → SIGKILL grace when stopping. */
  readonly stopGraceMs: number;
  /** Instance logs are truncated at start once larger than this. */
  readonly maxLogBytes?: number;
}

/** True when `pid` is alive and is the supervisor of `instance` (not a reused pid). */
export function isSupervisor(pid: number | null, instance: string): boolean {
  if (!pid) return false;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return argv.includes("exec") && argv.includes(instance);
  } catch {
    return false;
  }
}

export function readResult(path: string): InstanceResult | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as InstanceResult;
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class ProcessInstanceRuntime implements InstanceRuntime {
  constructor(
    private readonly paths: AgentPaths,
    private readonly store: AgentStore,
    private readonly opts: ProcessRuntimeOptions,
  ) {}

  async start(spec: InstanceSpec): Promise<void> {
    rmSync(instanceResultPath(this.paths, spec.instance), { force: true });
    const log = instanceLogPath(this.paths, spec.instance);
    try {
      if (statSync(log).size > (this.opts.maxLogBytes ?? 10 * 1024 * 1024)) truncateSync(log, 0);
    } catch {
      // no log yet
    }
    const fd = openSync(log, "a", 0o600);
    const [cmd, ...prefix] = this.opts.command;
    if (!cmd) throw new PalisadeError("INTERNAL", "no command to start workload supervisors with");
    try {
      const child = spawn(cmd, [...prefix, "agent", "exec", "--data-dir", this.paths.dataDir, "--instance", spec.instance, "--bundle", spec.digest], {
        detached: true,
        stdio: ["ignore", fd, fd],
        env: { ...process.env, PALISADE_DATA_DIR: this.paths.dataDir },
      });
      const pid = child.pid;
      child.on("error", () => undefined);
      child.unref();
      if (pid === undefined) throw new PalisadeError("RUNTIME", `could not start the supervisor of ${spec.instance}`, { hint: "see the agent log" });
      this.store.putInstance({ ...spec, supervisorPid: pid, spawnedAt: new Date().toISOString(), reportedExit: null });
    } finally {
      closeSync(fd);
    }
  }

  #state(rec: InstanceRecord): WorkloadState | undefined {
    try {
      return readState(statePath(workloadId(rec.namespace, rec.instance)));
    } catch {
      return undefined;
    }
  }

  observe(rec: InstanceRecord): Observation {
    if (isSupervisor(rec.supervisorPid, rec.instance)) {
      const s = this.#state(rec);
      return s?.status === "running" && s.supervisorPid === rec.supervisorPid ? { phase: "running", ...(s.pid ? { pid: s.pid } : {}) } : { phase: "starting" };
    }
    const result = readResult(instanceResultPath(this.paths, rec.instance));
    if (result?.error) return { phase: "failed", error: result.error, endedAt: result.finishedAt };
    if (result) return { phase: "exited", exitCode: result.exitCode ?? 0, endedAt: result.finishedAt };
    // The supervisor is gone without saying how it ended: killed, or the machine rebooted.
    return { phase: "lost", endedAt: rec.spawnedAt ?? "unknown" };
  }

  async stop(rec: InstanceRecord): Promise<void> {
    // The runtime (image store, runc driver, compiler) loads only when something is stopped: an idle agent never needs it.
    const { removeWorkload, stopWorkload } = await import("../runtime/workloads.js");
    const ref = `${rec.namespace}/${rec.instance}`;
    const state = this.#state(rec);
    if (state && (state.status === "running" || state.status === "created")) {
      await stopWorkload(ref, { graceMs: this.opts.stopGraceMs }).catch((e: unknown) => {
        if (!(e instanceof PalisadeError && e.code === "RUNTIME_NOT_FOUND")) throw e;
      });
    }
    // A supervisor still starting (no container yet) is asked, then told, to go.
    const pid = rec.supervisorPid;
    if (pid && isSupervisor(pid, rec.instance)) {
      signal(pid, "SIGTERM");
      const deadline = Date.now() + this.opts.stopGraceMs;
      while (Date.now() < deadline && isSupervisor(pid, rec.instance)) await sleep(100);
      if (isSupervisor(pid, rec.instance)) signal(pid, "SIGKILL");
      // Its container, if it got that far, is torn down by stopWorkload below or by the next start.
      if (this.#state(rec)?.status === "running") await stopWorkload(ref, { graceMs: 0 }).catch(() => undefined);
    }
    await removeWorkload(ref).catch(() => undefined);
    rmSync(instanceResultPath(this.paths, rec.instance), { force: true });
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

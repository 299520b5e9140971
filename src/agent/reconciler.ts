/**
 * The reconcile loop's one step: make the instances on this device match the
 * accepted bundles, apply restart policies, notice exits, and say what the
 * device is doing (status entries for the hub).
 *
 * - An instance whose deployment is gone, or whose digest is not the accepted
 *   one, is stopped (an update is stop-old-then-start-new; transactional A/B
 *   updates with health checks are not implemented yet).
 * - An instance that ended is reported once (an alert whose id is derived
 *   from the exit, then a mark on the instance) and restarted per its
 *   restartPolicy with exponential backoff (1 s doubling to 60 s, reset
 *   after 30 s of running). An instance "lost" without an exit status
 *   (reboot, supervisor killed) is always started again.
 */
import { PALISADE_VERSION } from "../core/version.js";
import { agentAlert, eventAlertId, type AgentEvent } from "./agentAlerts.js";
import type { AgentLog } from "./agentLog.js";
import type { AgentStore, InstanceRecord } from "./agentStore.js";
import type { InstanceRuntime, Observation } from "./instanceRuntime.js";
import type { Outbox } from "./outbox.js";

export interface DesiredInstance {
  readonly instance: string;
  readonly namespace: string;
  readonly deployment: string;
  readonly digest: string;
  readonly name: string;
  readonly version: number;
  readonly restartPolicy: "Always" | "OnFailure" | "Never";
  /** Shown in status, e.g. why a newer bundle was refused. */
  readonly note?: string;
}

export interface StatusEntry {
  readonly deployment: string;
  readonly name: string;
  readonly bundleDigest?: string;
  readonly state: string;
  readonly message?: string;
}

export interface ReconcilerDeps {
  readonly store: AgentStore;
  readonly outbox: Outbox;
  readonly runtime: InstanceRuntime;
  readonly log: AgentLog;
  readonly nodeId: string;
  readonly restartBaseMs?: number;
  readonly restartMaxMs?: number;
  readonly resetAfterMs?: number;
}

export class Reconciler {
  #desired = new Map<string, DesiredInstance>();
  /** Extra status lines (refused deployments that run nothing). */
  #extra: StatusEntry[] = [];
  readonly #restarts = new Map<string, number>();
  readonly #restartAt = new Map<string, number>();
  readonly #runningSince = new Map<string, number>();

  constructor(private readonly deps: ReconcilerDeps) {}

  setDesired(list: readonly DesiredInstance[], extra: readonly StatusEntry[] = []): void {
    this.#desired = new Map(list.map((d) => [d.instance, d]));
    this.#extra = [...extra];
  }

  desired(): DesiredInstance[] {
    return [...this.#desired.values()];
  }

  /** One pass; returns the status of every deployment this device knows about. */
  async tick(now = Date.now()): Promise<StatusEntry[]> {
    const { store, runtime, log } = this.deps;
    const records = new Map(store.instances().map((r) => [r.instance, r]));
    for (const rec of records.values()) {
      const d = this.#desired.get(rec.instance);
      if (d && d.digest === rec.digest) continue;
      log.info(d ? `updating ${rec.instance}: stopping the old bundle` : `stopping ${rec.instance}: no longer desired`, { deployment: rec.deployment, digest: rec.digest });
      try {
        await runtime.stop(rec);
      } catch (err) {
        log.error(`could not stop ${rec.instance}`, err);
        continue;
      }
      store.deleteInstance(rec.instance);
      records.delete(rec.instance);
      this.#forget(rec.instance);
    }

    const statuses: StatusEntry[] = [];
    for (const d of this.#desired.values()) {
      const rec = records.get(d.instance);
      const base = { deployment: d.deployment, name: d.instance, bundleDigest: d.digest };
      const note = d.note ? ` (${d.note})` : "";
      if (!rec) {
        statuses.push({ ...base, ...(await this.#start(d, "starting")) });
        continue;
      }
      const obs = runtime.observe(rec);
      if (obs.phase === "running" || obs.phase === "starting") {
        if (obs.phase === "running") {
          const since = this.#runningSince.get(d.instance) ?? now;
          this.#runningSince.set(d.instance, since);
          if (now - since >= (this.deps.resetAfterMs ?? 30_000)) this.#restarts.delete(d.instance);
        }
        statuses.push({ ...base, state: obs.phase, message: `${d.name} v${d.version}${obs.pid ? `, pid ${obs.pid}` : ""}${note}` });
        continue;
      }
      this.#runningSince.delete(d.instance);
      this.#reportEnd(rec, d, obs);
      const restart = obs.phase === "lost" || d.restartPolicy === "Always" || (d.restartPolicy === "OnFailure" && (obs.phase === "failed" || obs.exitCode !== 0));
      const ended = describeEnd(obs);
      if (!restart) {
        statuses.push({ ...base, state: obs.phase, message: `${ended}; restartPolicy ${d.restartPolicy}${note}` });
        continue;
      }
      const n = this.#restarts.get(d.instance) ?? 0;
      const due = this.#restartAt.get(d.instance) ?? (obs.phase === "lost" && n === 0 ? now : now + this.#delay(n));
      this.#restartAt.set(d.instance, due);
      if (now < due) {
        statuses.push({ ...base, state: "restarting", message: `${ended}; restarting in ${Math.ceil((due - now) / 1000)} s${note}` });
        continue;
      }
      this.#restartAt.delete(d.instance);
      this.#restarts.set(d.instance, n + 1);
      log.info(`restarting ${d.instance}`, { reason: ended, attempt: n + 1 });
      statuses.push({ ...base, ...(await this.#start(d, "starting")) });
    }
    // Code-unit order, not localeCompare: deployment names are DNS labels (same order), and the first
    // localeCompare loads ICU's collation data, ≈ 3 MiB resident for the agent's life.
    return [...statuses, ...this.#extra.filter((e) => !this.#desired.has(e.name))].sort((a, b) => (a.deployment < b.deployment ? -1 : a.deployment > b.deployment ? 1 : 0));
  }

  /** A status report item for the outbox. */
  static statusItem(id: string, workloads: readonly StatusEntry[], now = new Date()): Record<string, unknown> {
    return { id, time: now.toISOString(), agentVersion: PALISADE_VERSION, workloads };
  }

  #delay(restarts: number): number {
    return Math.min(this.deps.restartMaxMs ?? 60_000, (this.deps.restartBaseMs ?? 1000) * 2 ** restarts);
  }

  #forget(instance: string): void {
    this.#restarts.delete(instance);
    this.#restartAt.delete(instance);
    this.#runningSince.delete(instance);
  }

  async #start(d: DesiredInstance, state: string): Promise<Pick<StatusEntry, "state" | "message">> {
    const { runtime, log } = this.deps;
    try {
      await runtime.start({ instance: d.instance, namespace: d.namespace, deployment: d.deployment, digest: d.digest });
      log.info(`started ${d.instance}`, { bundle: `${d.name} v${d.version}`, digest: d.digest });
      return { state, message: `${d.name} v${d.version}` };
    } catch (err) {
      log.error(`could not start ${d.instance}`, err);
      return { state: "failed", message: (err as Error).message };
    }
  }

  /** Alerts about an end once: the alert and the "reported" mark commit together. */
  #reportEnd(rec: InstanceRecord, d: DesiredInstance, obs: Observation): void {
    const key = `${obs.phase}:${obs.endedAt ?? ""}`;
    if (rec.reportedExit === key) return;
    const { store, outbox, log, nodeId } = this.deps;
    const ev: AgentEvent = {
      operation: "Workload",
      resource: d.digest,
      action: "Audit",
      severity: obs.phase === "failed" ? 7 : obs.phase === "lost" ? 3 : obs.exitCode === 0 ? 1 : 5,
      message: `${d.instance} ${describeEnd(obs)}`,
      result: obs.phase === "failed" ? (obs.error?.code ?? "failed") : obs.phase === "lost" ? "lost" : `exit ${obs.exitCode}`,
      namespace: d.namespace,
      instance: d.instance,
      deployment: d.deployment,
      tags: ["palisade-agent", "workload-lifecycle"],
    };
    const id = eventAlertId(nodeId, "end", rec.instance, rec.digest, key);
    // Alert first, then the mark: a crash in between re-raises the same id, which the outbox and the hub de-duplicate.
    outbox.enqueue("alert", (i) => agentAlert(i, nodeId, ev), id);
    store.putInstance({ ...rec, reportedExit: key });
    const fields = { deployment: d.deployment, alert: id, ...(obs.error?.hint ? { hint: obs.error.hint } : {}) };
    if (obs.phase === "failed") log.warn(`${d.instance} ${describeEnd(obs)}`, fields);
    else log.info(`${d.instance} ${describeEnd(obs)}`, fields);
  }
}

function describeEnd(obs: Observation): string {
  switch (obs.phase) {
    case "failed":
      return `failed to run: ${obs.error?.code ?? "error"}: ${obs.error?.message ?? "unknown"}`;
    case "lost":
      return "is not running (its supervisor is gone: reboot or killed)";
    default:
      return `exited with status ${obs.exitCode ?? "?"}`;
  }
}

/**
 * The agent's view of what its workloads do in the kernel: one EventPipeline
 * (src/sensor/eventPipeline.ts: BPF sensor + audit reader) per agent, which
 * watches the cgroup of every instance the agent runs and stores KubeArmor
 * logs and alerts in `<data dir>/events.db` (read locally with `palisade
 * logs`); every ALERT record of the agent's instances is forwarded through
 * the outbox to the hub.
 *
 * Watching from the first instruction: the supervisor (`palisade agent
 * exec`, execBundle.ts) creates the workload's cgroup before anything runs
 * in it and announces it on a Unix socket, `<data dir>/agent/sensor.sock`
 * (0600, root only); the agent watches the cgroup and only then answers, so
 * the entrypoint's exec is seen. The wire format (one JSON line each way) and
 * the supervisor's side are in sensorAnnounce.ts. The runtime's implicit
 * grants come with the announcement and are kept in the agent's store
 * (meta `sensor_grants:<instance>`) for when the instance is adopted.
 *
 * The supervisor waits at most ANNOUNCE_TIMEOUT_MS and starts the workload
 * either way (enforcement never depends on the sensor). Instances the agent
 * finds already running — adopted after an agent restart, or started while
 * the socket was not there — are watched from their workload pid's cgroup
 * on the next sync, so their events from that moment on are seen.
 *
 * Forwarding is a cursor over events.db, not a callback: the highest seq
 * already queued is kept in the agent's store (meta `sensor_forwarded_seq`)
 * and every sync queues the alerts after it. An alert's outbox id is
 * derived from its seq and its content, so if the agent dies between
 * queueing and moving the cursor, the alert is queued again under the same
 * id and the hub stores it once.
 */
import { createHash } from "node:crypto";
import { chmodSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join, resolve } from "node:path";
import { PalisadeError } from "../core/errors.js";
import { parseBundleBytes } from "../core/signing/bundleFormat.js";
import type { Workload } from "../policy/workload.js";
import { statePath, workloadId } from "../runtime/bundle.js";
import { readState, type WorkloadState } from "../runtime/workloadState.js";
import { cgroup2Mount, cgroupIdOfPath, cgroupPathOfPid } from "../sensor/cgroup.js";
import { EventPipeline } from "../sensor/eventPipeline.js";
import { EventStore, eventStorePath, type StoredRecord } from "../sensor/eventStore.js";
import type { SensorOptions } from "../sensor/sensorProcess.js";
import type { AgentLog } from "./agentLog.js";
import type { AgentPaths } from "./agentPaths.js";
import type { AgentStore, InstanceRecord } from "./agentStore.js";
import type { BundleCache } from "./bundleCache.js";
import type { BundleFacts } from "./bundleFacts.js";
import type { Outbox } from "./outbox.js";
import { parseAnnouncedGrants, sensorSocketPath, type AnnouncedGrant, type Announcement } from "./sensorAnnounce.js";

// The supervisor's side of the socket lives in sensorAnnounce.ts (the supervisor must not load the pipeline).
export { ANNOUNCE_TIMEOUT_MS, announceToAgent, sensorSocketPath, type Announcement } from "./sensorAnnounce.js";

/**
 * The BPF ring buffer the agent's sensor gets, in KiB (power of two). The
 * kernel maps a ring's data pages twice (so records can wrap), all resident
 * from the start: the pipeline's 16 MiB default costs the sensor process
 * 32 MiB of RSS whether events come or not. An idle device's workloads send
 * few events (repeats are folded in the kernel), so 1 MiB is plenty; a ring
 * that does overflow loses events counted in the kernel, logged by the agent
 * ("sensor: the bpf source lost N events") and kept in events.db's
 * sensor_stats. `palisade agent --sensor-ring-kb` sets it.
 */
export const AGENT_RINGBUF_KB = 1024;
const FORWARDED_META = "sensor_forwarded_seq";
/** Meta key of an instance's implicit grants as its supervisor announced them: {"digest","grants"}. */
const GRANTS_META = (instance: string) => `sensor_grants:${instance}`;
const SYNC_MS = 2_000;
const PAGE = 500;

export interface AgentSensorOptions {
  readonly paths: AgentPaths;
  readonly store: AgentStore;
  readonly cache: BundleCache;
  readonly outbox: Outbox;
  readonly log: AgentLog;
  readonly nodeId: string;
  /**
   * The labels and effective policy of an accepted bundle, kept by the agent
   * since acceptance (bundleFacts.ts), so the sensor never parses YAML.
   */
  readonly factsOf: (digest: string) => Promise<BundleFacts>;
  /** Passed to the pipeline's SensorProcess (tests: binaries, ring size). */
  readonly sensor?: SensorOptions;
  readonly maxRecords?: number;
}

/** The outbox id of a kernel alert: stable for the same stored record. */
export function kernelAlertId(nodeId: string, r: StoredRecord): string {
  const h = createHash("sha256").update(`${nodeId}\nkernel\n${r.seq}\n${r.workload}\n${JSON.stringify(r.record)}`).digest("hex");
  return `k-${h.slice(0, 32)}`;
}

/** A stored alert as the hub's AlertItem: the KubeArmor record unchanged, plus the node id. */
export function kernelAlertItem(id: string, nodeId: string, r: StoredRecord): Record<string, unknown> {
  const rec = r.record as unknown as Record<string, unknown>;
  const t = typeof rec.UpdatedTime === "string" ? Date.parse(rec.UpdatedTime) : NaN;
  const ts = typeof rec.Timestamp === "number" ? rec.Timestamp * 1000 : NaN;
  const time = new Date(Number.isFinite(t) ? t : Number.isFinite(ts) ? ts : Date.now()).toISOString();
  return { id, time, alert: { ...rec, NodeID: nodeId } };
}

export class AgentSensor {
  /** Instance name → the cgroup id watched for it (a restart recreates the directory: same path, new id). */
  readonly #watched = new Map<string, { readonly cgroupId: string; readonly since: number }>();
  /** Every instance this agent watched: alerts of these (and of current instances) are forwarded. */
  readonly #ours = new Set<string>();
  #server: Server | undefined;
  #timer: NodeJS.Timeout | undefined;
  #forwardScheduled = false;
  #closed = false;
  #syncing: Promise<void> | undefined;

  private constructor(
    private readonly opts: AgentSensorOptions,
    private readonly events: EventStore,
    private readonly pipeline: EventPipeline,
  ) {}

  /** Starts the pipeline and the announcement socket; undefined (and a warning) when no sensor source can run. */
  static async start(opts: AgentSensorOptions): Promise<AgentSensor | undefined> {
    let events: EventStore | undefined;
    let pipeline: EventPipeline | undefined;
    try {
      events = EventStore.open(eventStorePath(opts.paths.dataDir), opts.maxRecords ? { maxRecords: opts.maxRecords } : {});
      // The pipeline's callback needs the sensor that is built from the pipeline.
      const ref: { self?: AgentSensor } = {};
      pipeline = await EventPipeline.start({
        store: events,
        onStored: (b) => {
          if (b.alerts > 0) ref.self?.scheduleForward();
        },
        log: (msg) => opts.log.warn(msg),
        sensor: { ringbufKb: AGENT_RINGBUF_KB, ...opts.sensor },
      });
      const self = new AgentSensor(opts, events, pipeline);
      ref.self = self;
      await self.#listen();
      self.#timer = setInterval(() => void self.sync(), SYNC_MS);
      self.#timer.unref();
      const mode = pipeline.status().mode;
      opts.log.info(`sensor on: kernel events of workloads → ${events.path}; alerts → the hub`, { mode });
      return self;
    } catch (err) {
      await pipeline?.close().catch(() => undefined);
      events?.close();
      opts.log.error("sensor off: workloads are confined as before, but their kernel alerts are not reported", err, {}, "warn");
      return undefined;
    }
  }

  /** Names being watched now (for tests and status). */
  watched(): string[] {
    return [...this.#watched.keys()].sort();
  }

  async #listen(): Promise<void> {
    const path = sensorSocketPath(this.opts.paths);
    rmSync(path, { force: true });
    const server = createServer((sock) => {
      let buf = "";
      sock.setEncoding("utf8");
      sock.on("error", () => undefined);
      sock.on("data", (d: string) => {
        buf += d;
        if (buf.length > 64 * 1024) return void sock.destroy();
        const nl = buf.indexOf("\n");
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = "";
        this.#onAnnouncement(line).then(
          () => sock.end('{"ok":true}\n'),
          (err: unknown) => sock.end(JSON.stringify({ ok: false, error: err instanceof Error ? err.message : String(err) }) + "\n"),
        );
      });
    });
    await new Promise<void>((res, rej) => {
      server.once("error", rej);
      server.listen(path, () => {
        server.off("error", rej);
        res();
      });
    });
    chmodSync(path, 0o600);
    this.#server = server;
  }

  async #onAnnouncement(line: string): Promise<void> {
    const a = JSON.parse(line) as Partial<Announcement>;
    if (a.v !== 1 || typeof a.instance !== "string" || typeof a.cgroupPath !== "string" || typeof a.id !== "string" || typeof a.image !== "string") {
      throw new PalisadeError("AGENT_STATE", "malformed sensor announcement");
    }
    const rec = this.opts.store.instance(a.instance);
    if (!rec) throw new PalisadeError("AGENT_STATE", `${a.instance} is not an instance of this agent`);
    const grants = parseAnnouncedGrants(a.implicitGrants);
    // Kept for after an agent restart, when the instance is adopted without an announcement.
    this.opts.store.setMeta(GRANTS_META(rec.instance), grants ? JSON.stringify({ digest: rec.digest, grants }) : undefined);
    await this.#watch(rec, resolve(a.cgroupPath), a.id, a.image);
  }

  /** The runtime's implicit grants for `rec`: as announced by its supervisor, else computed from the bundle. */
  async #grantsOf(rec: InstanceRecord): Promise<AnnouncedGrant[]> {
    try {
      const stored = JSON.parse(this.opts.store.getMeta(GRANTS_META(rec.instance)) ?? "null") as { digest?: string; grants?: unknown } | null;
      const grants = stored?.digest === rec.digest ? parseAnnouncedGrants(stored.grants) : undefined;
      if (grants) return grants;
    } catch {
      // not stored, or unreadable: compute below
    }
    const bytes = this.opts.cache.get(rec.digest);
    if (!bytes) throw new PalisadeError("AGENT_STATE", `bundle ${rec.digest} of ${rec.instance} is not in the cache`);
    // Only for an instance whose supervisor did not announce its grants: the parsers load here, not with the agent.
    const { workloadOfEnvelope } = await import("./bundleWorkload.js");
    return runtimeGrantsOf(workloadOfEnvelope(parseBundleBytes(bytes, rec.digest)).workload);
  }

  /** Watches `rec` in `cgroupPath` with the policy of its verified bundle. */
  async #watch(rec: InstanceRecord, cgroupPath: string, containerId: string, image: string): Promise<void> {
    const cgroupId = cgroupIdOfPath(cgroupPath);
    if (this.#watched.get(rec.instance)?.cgroupId === cgroupId) return;
    // The same combination runWorkload compiles the confinement from, made when the bundle was accepted.
    const { labels, effective } = await this.opts.factsOf(rec.digest);
    await this.pipeline.watch({
      name: rec.instance,
      cgroupPath,
      containerId,
      containerName: rec.instance,
      podName: rec.instance,
      namespace: rec.namespace,
      labels: { ...labels, "palisade.dev/deployment": rec.deployment },
      image,
      effective,
      auditOnly: false,
      implicitGrants: await this.#grantsOf(rec),
    });
    this.#watched.set(rec.instance, { cgroupId, since: Date.now() });
    this.#ours.add(rec.instance);
    this.opts.log.info(`sensor: watching ${rec.instance}`, { cgroup: cgroupPath });
  }

  /**
   * Watches running instances not yet watched (adopted ones), stops watching
   * those that ended, and forwards new alerts. Called periodically; safe to call any time.
   */
  sync(): Promise<void> {
    this.#syncing ??= this.#sync().finally(() => (this.#syncing = undefined));
    return this.#syncing;
  }

  async #sync(): Promise<void> {
    if (this.#closed) return;
    const instances = this.opts.store.instances();
    const mount = cgroup2Mount();
    for (const rec of instances) {
      let s: WorkloadState | undefined;
      try {
        s = readState(statePath(workloadId(rec.namespace, rec.instance)));
      } catch {
        s = undefined;
      }
      const w = this.#watched.get(rec.instance);
      if (s?.status === "exited" || s?.status === "failed") {
        // Ended — unless a new run was announced after this one ended (a restart is under way).
        const ended = s.finishedAt ? Date.parse(s.finishedAt) : Date.now();
        if (w && w.since <= ended) await this.#unwatch(rec.instance);
        continue;
      }
      // "created" or no state yet: starting, and announced (or about to be); nothing to do until it runs.
      if (s?.status !== "running" || !s.pid) continue;
      const rel = cgroupPathOfPid(s.pid);
      if (rel === undefined || mount === undefined) continue;
      const path = resolve(join(mount, rel));
      await this.#watch(rec, path, s.id, s.image).catch((err: unknown) => this.opts.log.error(`sensor: cannot watch ${rec.instance}`, err, {}, "warn"));
    }
    const current = new Set(instances.map((i) => i.instance));
    for (const name of [...this.#watched.keys()]) if (!current.has(name)) await this.#unwatch(name);
    this.forward();
  }

  async #unwatch(name: string): Promise<void> {
    this.#watched.delete(name);
    if (!this.opts.store.instance(name)) this.opts.store.setMeta(GRANTS_META(name), undefined);
    await this.pipeline.unwatch(name).catch((err: unknown) => this.opts.log.error(`sensor: unwatch ${name}`, err, {}, "warn"));
    this.opts.log.info(`sensor: stopped watching ${name}`);
  }

  scheduleForward(): void {
    if (this.#forwardScheduled || this.#closed) return;
    this.#forwardScheduled = true;
    setImmediate(() => {
      this.#forwardScheduled = false;
      this.forward();
    });
  }

  /** Queues every stored alert of this agent's instances after the cursor; returns how many were queued. */
  forward(): number {
    const { store, outbox, nodeId, log } = this.opts;
    try {
      return forwardAlerts({ events: this.events, store, outbox, nodeId, ours: new Set([...this.#ours, ...store.instances().map((i) => i.instance)]) });
    } catch (err) {
      log.error("sensor: could not forward alerts (kept in events.db; retried)", err, {}, "warn");
      return 0;
    }
  }

  /** Stores what is pending, forwards it, stops the sensor. Workloads keep running (unwatched). */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#syncing;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
    rmSync(sensorSocketPath(this.opts.paths), { force: true });
    try {
      await this.pipeline.close();
      this.forward();
    } finally {
      this.events.close();
    }
  }
}

/**
 * Queues the alerts stored after the cursor (meta sensor_forwarded_seq) whose
 * workload is in `ours`, moving the cursor page by page after each page is
 * queued. Returns how many were newly queued.
 */
export function forwardAlerts(o: { events: EventStore; store: AgentStore; outbox: Outbox; nodeId: string; ours: ReadonlySet<string> }): number {
  let after = Number(o.store.getMeta(FORWARDED_META) ?? "0");
  // A new events.db (the old one moved aside) starts at 1 again.
  if (after > (o.events.stats().newestSeq ?? 0)) after = 0;
  let queued = 0;
  for (;;) {
    const page = o.events.query({ kind: "alert", afterSeq: after, limit: PAGE });
    const entries = page.filter((r) => o.ours.has(r.workload)).map((r) => ({ id: kernelAlertId(o.nodeId, r), build: (i: string) => kernelAlertItem(i, o.nodeId, r) }));
    // One transaction per page; the cursor moves only after it committed, and ids make a re-queue harmless.
    if (entries.length > 0) queued += o.outbox.enqueueMany("alert", entries).filter((x) => x.added).length;
    if (page.length > 0) after = page[page.length - 1]!.seq;
    if (page.length > 0) o.store.setMeta(FORWARDED_META, String(after));
    if (page.length < PAGE) return queued;
  }
}

/**
 * What the runtime grants the workload's containers whatever the policy says
 * (the sensor logs, not alerts, on them). Only for instances whose supervisor
 * did not announce them (started by an older agent): the compiler and the
 * runtime load here, not with the agent.
 */
async function runtimeGrantsOf(workload: Workload): Promise<AnnouncedGrant[]> {
  const { resolveInterfaceGrants } = await import("../compiler/index.js");
  const { implicitGrantsOf } = await import("../runtime/workloads.js");
  return workload.containers.flatMap((c) => {
    let grants: Parameters<typeof implicitGrantsOf>[0] = { devices: [], mounts: [], sysfs: false };
    try {
      grants = resolveInterfaceGrants(workload, c);
    } catch {
      // An interface this host cannot serve: the workload would not start either; only the baseline applies.
    }
    return implicitGrantsOf(grants, c.volumeMounts);
  });
}

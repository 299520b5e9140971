/**
 * EventPipeline: the live path from kernel events to stored records. One
 * SensorProcess (BPF sensor + palisade-auditd) serves every watched
 * workload:
 *
 *   SensorProcess event ─► attribute (cgroup id → WatchedWorkload; audit
 *   events get the cgroup from the process table) ─► refusals wait for their
 *   other half (DenialCorrelator) ─► toKubeArmor ─► operationOf + evaluate()
 *   decide log or alert (implicitGrants.ts: what the runtime grants anyway is
 *   a log) ─► batched EventStore.append (one transaction per ≤ 100 ms or
 *   2000 records; on a StoreWriter worker thread once the batches are large)
 *
 * Log or alert (docs/sensor.md, "Alerts"):
 * - the kernel refused (EACCES/EPERM): alert, Action "Block"; PolicyName,
 *   Severity, Tags, Message from the Block verdict when the policy explains
 *   it, else "DefaultPosture"; Enforcer from the audit record (Landlock,
 *   Seccomp), "eBPF Monitor" when only BPF saw it.
 * - it passed but evaluate() says Block: alert, Action "Block" with Result
 *   "Passed" (an enforcement gap worth seeing) — or Action "Audit" for an
 *   auditOnly workload, where nothing in policy blocks.
 * - it passed and evaluate() says Audit: alert, Action "Audit".
 * - otherwise: a log.
 *
 * Loss is never silent: stats() sums the kernel's drop counters (both
 * sources) and the async-queue overflow, and every stats interval (and at
 * close) the counters are stored as a sensor_stats row; `palisade logs`
 * warns when they show drops.
 */
import { hostname } from "node:os";
import { PalisadeError } from "../core/errors.js";
// The matcher's own modules, not policy/index.js: that one also loads the YAML parsers, ≈ 2 MiB
// of an idle agent's memory it never uses (docs/agent.md, "Footprint").
import { evaluate, type Verdict } from "../policy/evaluate.js";
import type { EffectivePolicy } from "../policy/model.js";
import { decide, decidingOperations } from "./decide.js";
import { cgroupIdOfPath } from "./cgroup.js";
import { DenialCorrelator, isRefusal, type Refusal } from "./denialCorrelator.js";
import { ImplicitGrants, type ImplicitGrant } from "./implicitGrants.js";
import type { SensorEvent } from "./events.js";
import type { EncodedRecord } from "./eventChunks.js";
import { encodeRecord, type EventStore } from "./eventStore.js";
import { timeMs } from "./eventTime.js";
import { logParts } from "./logJson.js";
import { operation, toAlert, toKubeArmor, type KubeArmorAlert, type KubeArmorLog, type KubeArmorMapOptions, type WorkloadInfo } from "./kubearmor.js";
import { operationOf } from "./logOperation.js";
import { PackedBatch, unpackRows, type Packed } from "./packedBatch.js";
import { SensorProcess, type SensorOptions, type SensorStatus } from "./sensorProcess.js";
import { StoreWriter } from "./storeWriter.js";

export interface WatchedWorkload extends WorkloadInfo {
  /** Instance name, as `palisade ps` shows it; the store's `workload`. */
  readonly name: string;
  /** The workload's cgroup v2 directory (must exist: watch before the entrypoint runs). */
  readonly cgroupPath: string;
  readonly effective: EffectivePolicy;
  readonly auditOnly: boolean;
  /**
   * Programs whose exec is still the runtime's setup, not the workload
   * (Palisade's launcher, "/.palisade/launch"): the workload starts at the
   * first exec of anything else. Before that, the cgroup holds runc init and
   * the launcher, whose opens and refusals are not the workload's doing.
   */
  readonly setupExecs?: readonly string[];
  /**
   * What the runtime grants whatever the policy says (baseline devices, /proc,
   * /tmp, libraries, interface paths, volumes): a passed access to them is a
   * log, not a "DefaultPosture" alert. See implicitGrants.ts.
   */
  readonly implicitGrants?: readonly ImplicitGrant[];
}

/** Per watched cgroup: the workload and which of its processes run workload code (pid → since, ms). */
interface Watched {
  readonly w: WatchedWorkload;
  readonly started: Map<number, number>;
  /** Exited workload processes, oldest first (pid, its `started` time, exit seen at ms): forgotten after a while. */
  readonly exited: [number, number, number][];
  /** Record Operations the policy can say anything about (a rule of that kind, or an allow-list); others skip evaluate(). */
  readonly decides: ReadonlySet<string>;
  readonly grants: ImplicitGrants;
  /** toKubeArmor's options for this workload's records, made once (record() runs per event). */
  readonly mapOptions: KubeArmorMapOptions;
}

export interface PipelineStats {
  /** Events received from the sensor (lines; a repeat line is one). */
  received: number;
  /** Occurrences lost before the pipeline saw them: kernel ring drops + audit socket overruns + queue overflow. */
  dropped: number;
  /** Records appended to the store. */
  stored: number;
  /** Sensor lines that did not parse. */
  parseErrors: number;
  /** Events of cgroups no watched workload owns (audit denials of host processes). */
  unattributed: number;
  /** Events of the runtime's setup inside the cgroup (runc init, the launcher) before the workload's first exec: not recorded. */
  setup: number;
  /** Appends that failed (the store is full, locked or broken); their records are lost and counted here. */
  storeErrors: number;
}

/** One batch committed to the store: seqs first … last, of which `alerts` alerts. */
export interface StoredBatch {
  readonly first: number;
  readonly last: number;
  readonly alerts: number;
}

export interface PipelineOptions {
  readonly store: EventStore;
  /**
   * After each batch is committed. Counts only: the records themselves are
   * not kept in memory until then (they are in the store; docs/sensor.md, "Live pipeline").
   */
  readonly onStored?: (b: StoredBatch) => void;
  readonly log?: (msg: string) => void;
  /** Passed to SensorProcess.start (ring size, binaries, …); bpf/audit default "optional". */
  readonly sensor?: SensorOptions;
  /** Max wait before buffered records are appended (default 100 ms). */
  readonly batchMs?: number;
  readonly batchMax?: number;
  /** How long a refusal waits for its BPF/audit partner (default 500 ms). */
  readonly correlateMs?: number;
  readonly clusterName?: string;
  /**
   * Append on a worker thread (StoreWriter; default true) once a batch of
   * WORKER_FROM_BATCH records shows a busy workload: the inserts then overlap
   * the parsing of later events. Idle pipelines append inline (no worker memory).
   */
  readonly storeWorker?: boolean;
}

const DEFAULT_SETUP_EXECS = ["/.palisade/launch"];
/**
 * runc init re-executing itself from a sealed copy of the runc binary
 * (runc's cloned-binary protection: execveat on a memfd, seen as /dev/fd/N or
 * /proc/self/fd/N). runc moves its child into the workload's cgroup right
 * after starting it, so whether this exec happens before or after the move
 * is a race — on some machines it always lands inside the watched cgroup.
 * Only a process not yet known as the workload's can be setup (isWorkload),
 * so a workload process exec'ing a memfd stays the workload's.
 */
const RUNC_REEXEC = /^\/(?:dev|proc\/self)\/fd\/\d+$/;
/** How long a workload's cgroup id stays attributable after unwatch (late audit records). */
const RETIRE_MS = 5_000;
const STATS_STORE_MS = 5_000;
/** A batch this large means a busy workload: from then on, appends go to the store worker. */
const WORKER_FROM_BATCH = 200;

export class EventPipeline {
  private readonly byCgroup = new Map<string, Watched>();
  private readonly byName = new Map<string, string>();
  private readonly batch = new PackedBatch();
  private readonly counters = { received: 0, stored: 0, unattributed: 0, setup: 0, storeErrors: 0 };
  private readonly correlator: DenialCorrelator;
  private readonly hostName = hostname();
  private batchTimer?: NodeJS.Timeout;
  private readonly ticker: NodeJS.Timeout;
  private readonly statsTimer: NodeJS.Timeout;
  private lastStoredStats = "";
  private closing?: Promise<void>;
  /** The store worker, started at the first large batch (an idle agent does not pay its memory). */
  private writer?: StoreWriter;
  private writerStarting?: Promise<void>;

  private constructor(
    private readonly sensor: SensorProcess,
    private readonly opts: PipelineOptions,
  ) {
    const windowMs = opts.correlateMs ?? 500;
    this.correlator = new DenialCorrelator((r) => this.onRefusal(r), windowMs);
    this.ticker = setInterval(() => (this.correlator.tick(), this.forgetExited()), Math.max(10, windowMs / 2));
    this.ticker.unref();
    this.statsTimer = setInterval(() => this.storeStats(), STATS_STORE_MS);
    this.statsTimer.unref();
    sensor.on("event", (ev: SensorEvent) => this.onEvent(ev));
    sensor.on("dropped", (d: { source: string; dropped: number; delta: number }) => opts.log?.(`sensor: the ${d.source} source lost ${d.delta} events (${d.dropped} in total)`));
    sensor.on("warning", (w: { message: string }) => opts.log?.(`sensor: ${w.message}`));
    sensor.on("exit", (x: { source: string; code: number | null; signal: string | null }) => {
      if (!this.closing) opts.log?.(`sensor: the ${x.source} source exited (${x.signal ?? x.code}); events from it stop here`);
    });
  }

  /** Starts the sensor (nothing watched yet). Throws PalisadeError when neither source can run. */
  static async start(opts: PipelineOptions): Promise<EventPipeline> {
    const sensor = await SensorProcess.start({ bpf: "optional", audit: "optional", ringbufKb: 16384, ...opts.sensor });
    const st = sensor.status();
    if (st.mode === "none") {
      await sensor.stop();
      throw new PalisadeError("NATIVE", `no sensor source could start (bpf: ${st.bpf.reason ?? "?"}; audit: ${st.audit.reason ?? "?"})`, {
        hint: "the sensor needs root, kernel BTF and tp_btf tracepoints (BPF) or kernel audit; build it with: make -C src/native/sensor",
      });
    }
    return new EventPipeline(sensor, opts);
  }

  status(): SensorStatus {
    return this.sensor.status();
  }

  /** Starts attributing the workload's cgroup; events of processes in it from now on are stored. */
  async watch(w: WatchedWorkload): Promise<void> {
    // Attributable before the kernel starts reporting it: the sensor's ack and the cgroup's first
    // events can arrive in one read, and those events are handled before this function resumes.
    const id = cgroupIdOfPath(w.cgroupPath);
    const old = this.byName.get(w.name);
    if (old !== undefined && old !== id) this.byCgroup.delete(old);
    this.byCgroup.set(id, { w, started: new Map(), exited: [], decides: decidingOperations(w.effective), grants: new ImplicitGrants(w.implicitGrants ?? []), mapOptions: this.mapOptions(() => w) });
    this.byName.set(w.name, id);
    if (!this.sensor.status().bpf.running) return;
    try {
      await this.sensor.watch(w.cgroupPath);
    } catch (e) {
      this.byCgroup.delete(id);
      this.byName.delete(w.name);
      throw e;
    }
  }

  /** Stores what the workload's processes did up to now, then stops watching it. */
  async unwatch(name: string): Promise<void> {
    const id = this.byName.get(name);
    if (id === undefined) return;
    await this.drainSensor();
    this.correlator.flushAll();
    this.flushBuffer();
    await this.writer?.sync();
    if (this.sensor.status().bpf.running) await this.sensor.unwatch(id).catch((e: unknown) => this.opts.log?.(`sensor: unwatch ${name}: ${e instanceof Error ? e.message : String(e)}`));
    this.byName.delete(name);
    // Late audit records (they can trail the exit) still find their workload for a while. Only
    // this watch's entry goes: after a watch again (and maybe another unwatch) within RETIRE_MS,
    // the cgroup's newer entry stays until its own unwatch's time is up.
    const entry = this.byCgroup.get(id);
    setTimeout(() => {
      // Any watch of the cgroup since this unwatch made a new entry.
      if (this.byCgroup.get(id) === entry) this.byCgroup.delete(id);
    }, RETIRE_MS).unref();
  }

  /**
   * Stores everything the sources reported before this call (BPF repeat
   * counts included, refusals released without waiting for their window)
   * and returns fresh counters.
   */
  async flush(): Promise<PipelineStats> {
    await this.drainSensor();
    this.correlator.flushAll();
    this.flushBuffer();
    await this.writer?.sync();
    return this.stats();
  }

  stats(): PipelineStats {
    const st = this.sensor.status();
    const c = this.sensor.counters;
    return {
      received: this.counters.received,
      dropped: (st.bpf.stats?.dropped ?? 0) + (st.audit.stats?.dropped ?? 0) + c.queueOverflow,
      stored: this.counters.stored,
      parseErrors: c.invalidLines,
      unattributed: this.counters.unattributed,
      setup: this.counters.setup,
      storeErrors: this.counters.storeErrors,
    };
  }

  /** Workload processes the pipeline knows now (an exited one is forgotten a few seconds after its exit). */
  trackedProcesses(): number {
    let n = 0;
    for (const { started } of this.byCgroup.values()) n += started.size;
    return n;
  }

  /** Flushes (every event the kernel reported before this call is stored), stores the final stats, stops the sensor. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.drainSensor();
      await this.sensor.refreshStats().catch(() => undefined);
      this.correlator.flushAll();
      this.flushBuffer();
      clearInterval(this.ticker);
      clearInterval(this.statsTimer);
      await this.sensor.stop();
      this.correlator.flushAll();
      this.flushBuffer();
      await this.writerStarting;
      await this.writer?.close();
      this.storeStats(true);
    })();
    return this.closing;
  }

  /** When this resolves, every event the sources produced before the call has been handled. */
  private async drainSensor(): Promise<void> {
    const st = this.sensor.status();
    await Promise.all([
      st.bpf.running ? this.sensor.flush().catch(() => undefined) : undefined,
      // palisade-auditd answers commands in order with its output: its ack follows every record read before.
      st.audit.running ? this.sensor.refreshStats().catch(() => undefined) : undefined,
    ]);
  }

  private onEvent(ev: SensorEvent): void {
    this.counters.received++;
    const watched = ev.cgroupId === undefined ? undefined : this.byCgroup.get(ev.cgroupId);
    if (ev.type === "denial" && (watched || ev.cgroupId === undefined)) {
      // An audit record can overtake the BPF fork/exec of its process (two pipes): its cgroup
      // and whether it is the workload's are settled when it leaves the correlator.
      this.correlator.offer(ev);
      return;
    }
    if (!watched) {
      if (ev.type !== "fork" && ev.type !== "exit") this.counters.unattributed++;
      return;
    }
    if (!this.isWorkload(watched, ev)) {
      if (ev.type !== "fork" && ev.type !== "exit") this.counters.setup++;
      return;
    }
    if (ev.type === "exit") watched.exited.push([ev.pid, watched.started.get(ev.pid)!, Date.now()]);
    if (ev.type === "fork" || ev.type === "exit") return; // no KubeArmor record
    if (isRefusal(ev)) this.correlator.offer(ev);
    else this.record(watched, ev, undefined, ev.count);
  }

  /** Tracks which processes run workload code; false for the runtime's setup (see WatchedWorkload.setupExecs). */
  private isWorkload(watched: Watched, ev: SensorEvent): boolean {
    const { started } = watched;
    const t = timeMs(ev.firstTime ?? ev.time);
    if (ev.type === "exec" && ev.result === 0 && !started.has(ev.pid)) {
      if ((watched.w.setupExecs ?? DEFAULT_SETUP_EXECS).includes(ev.filename) || RUNC_REEXEC.test(ev.filename)) return false;
      started.set(ev.pid, t);
      return true;
    }
    if (ev.type === "fork") {
      const parent = ev.ppid === undefined ? undefined : started.get(ev.ppid);
      if (parent !== undefined) started.set(ev.pid, t);
      return parent !== undefined;
    }
    const since = started.get(ev.pid);
    // Audit times come from another clock conversion (syscall entry, ms) and can precede the
    // BPF fork/exec time of the same process: for them the process alone decides. (Landlock
    // denials cannot come from setup: the launcher restricts itself only just before its exec.)
    return since !== undefined && (ev.source === "audit" || t >= since);
  }

  /**
   * `started` would otherwise grow by every process a workload ever ran (an
   * exec loop: hundreds a second). An exited process is forgotten once its
   * late records are in: audit records can trail the exit, and a repeat line
   * naming it comes at the next flush of the kernel's counts.
   */
  private forgetExited(): void {
    const keepMs = RETIRE_MS + (this.opts.sensor?.flushMs ?? 1000);
    const now = Date.now();
    for (const { started, exited } of this.byCgroup.values()) {
      let n = 0;
      for (; n < exited.length && now - exited[n]![2] > keepMs; n++) {
        const [pid, since] = exited[n]!;
        if (started.get(pid) === since) started.delete(pid); // not a new process with the same pid
      }
      if (n) exited.splice(0, n);
    }
  }

  private onRefusal(r: Refusal): void {
    const ev = r.event;
    const id = ev.cgroupId ?? this.sensor.processes.get(ev.pid)?.cgroupId;
    const watched = id === undefined ? undefined : this.byCgroup.get(id);
    if (!watched) {
      this.counters.unattributed++;
      return;
    }
    // BPF events were checked on arrival; an audit record alone is the workload's if its process is.
    if (ev.type === "denial" && !watched.started.has(ev.pid)) {
      this.counters.setup++;
      return;
    }
    this.record(watched, ev.cgroupId === undefined ? ({ ...ev, cgroupId: id } as SensorEvent) : ev, r.audit, r.count);
  }

  private record(watched: Watched, ev: SensorEvent, audit: SensorEvent | undefined, count: number): void {
    const w = watched.w;
    const e = count === ev.count ? ev : ({ ...ev, count } as SensorEvent);
    const refused = isRefusal(ev);
    // The common case — a log the policy has nothing to say about — is written as JSON straight
    // from the event (logJson.ts): no KubeArmor object, no evaluate().
    const opName = refused || audit ? null : operation(e);
    if (opName !== null && !watched.decides.has(opName)) {
      const p = logParts(e, watched.mapOptions);
      if (p !== null) return this.push([timeMs(e.time), "log", w.name, p.json, p.at, p.fragment]);
    }
    // record() is only called with the event's own workload: its options answer for ev.cgroupId.
    const base = toKubeArmor(e, watched.mapOptions);
    if (!base) return;
    const op = watched.decides.has(base.Operation) ? operationOf(base) : undefined;
    let verdict: Verdict | undefined = op ? evaluate(w.effective, op) : undefined;
    // Only the posture, not a rule, objects to a path the runtime grants anyway (and it passed): a log.
    if (verdict?.reason === "posture" && !refused && op?.kind === "file" && watched.grants.grants(op.path, op.write)) verdict = undefined;
    const match = decide(verdict, refused, w.auditOnly);
    let out: KubeArmorLog | KubeArmorAlert = match ? toAlert(base, e, match) : base;
    if (audit?.type === "denial" && "Enforcer" in out) {
      // Not on Process records: operationOf reads a denial record's whole Resource as the path.
      const extra = audit !== ev && audit.blockers.length && out.Operation !== "Process" ? ` blockers=${audit.blockers.join(",")}` : "";
      out = { ...out, Enforcer: audit.enforcer, Data: `${out.Data}${extra}` };
    }
    this.push(encodeRecord({ kind: "Enforcer" in out ? "alert" : "log", workload: w.name, record: out }));
  }

  private push(row: EncodedRecord): void {
    // Every row made here packs (its JSON text comes from JSON.stringify: no raw TAB or LF); were one
    // not to, it would be lost — counted and logged like a failed append, never silently.
    if (!this.batch.add(row)) return this.notStored(1, "a record's JSON text holds a raw TAB or line feed");
    if (this.batch.rows >= (this.opts.batchMax ?? 2000)) this.flushBuffer();
    else this.batchTimer ??= setTimeout(() => this.flushBuffer(), this.opts.batchMs ?? 100);
  }

  private mapOptions(lookup: (id: string) => WorkloadInfo | undefined): KubeArmorMapOptions {
    return { lookup, hostName: this.hostName, ...(this.opts.clusterName ? { clusterName: this.opts.clusterName } : {}) };
  }

  private flushBuffer(): void {
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (this.batch.rows === 0) return;
    this.send(this.batch.take());
  }

  /** Appends a packed batch to the store: on the worker once it runs, else inline. */
  private send(b: Packed): void {
    const { rows, alerts } = b;
    if (!this.writer && !this.writerStarting && rows >= WORKER_FROM_BATCH && this.opts.storeWorker !== false && !this.closing) {
      // Until the worker is up, appends stay inline (and complete), so the order of records is kept.
      this.writerStarting = StoreWriter.start(this.opts.store.path, this.opts.store.maxRecords).then(
        (w) => void (this.writer = w),
        () => undefined,
      );
    }
    if (this.writer) {
      void this.writer.appendPacked(b).then((o) => (o.ok ? this.stored(rows, alerts, o.last) : this.notStored(rows, o.error)));
      return;
    }
    try {
      this.stored(rows, alerts, this.opts.store.appendEncoded(unpackRows(b)));
    } catch (e) {
      this.notStored(rows, e instanceof Error ? e.message : String(e));
    }
  }

  private stored(rows: number, alerts: number, last: number): void {
    this.counters.stored += rows;
    this.opts.onStored?.({ first: last - rows + 1, last, alerts });
  }

  private notStored(rows: number, error: string | undefined): void {
    this.counters.storeErrors += rows;
    this.opts.log?.(`sensor: ${rows} records could not be stored: ${error ?? "unknown error"}`);
  }

  private storeStats(force = false): void {
    const s = this.stats();
    const key = JSON.stringify(s);
    if (!force && key === this.lastStoredStats) return;
    this.lastStoredStats = key;
    const st = this.sensor.status();
    try {
      this.opts.store.appendSensorStats({
        time: new Date().toISOString(),
        received: s.received,
        dropped: s.dropped,
        stored: s.stored,
        parseErrors: s.parseErrors,
        detail: { mode: st.mode, bpf: st.bpf.stats, audit: st.audit.stats, unattributed: s.unattributed, setup: s.setup, storeErrors: s.storeErrors, queueOverflow: this.sensor.counters.queueOverflow },
      });
    } catch (e) {
      this.opts.log?.(`sensor: could not store sensor stats: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

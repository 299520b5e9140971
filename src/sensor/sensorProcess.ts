/**
 * SensorProcess: runs palisade-sensor (BPF) and palisade-auditd (audit
 * netlink) as child processes and turns their JSON lines into typed events.
 *
 *   const s = await SensorProcess.start({ cgroupIds: [id] });
 *   s.on("event", (ev) => ...);            // or: for await (const ev of s.events())
 *   await s.watch(otherId); await s.flush(); await s.stop();
 *
 * Robustness: a line that is not valid is counted (counters.invalidLines),
 * never thrown; a child that dies is reported ("exit") and its pending
 * commands rejected. Loss is never silent: the kernel's drop counters arrive
 * in stats lines ("stats", and "dropped" when they grow), and events that a
 * slow async-iterator consumer could not take are counted too.
 * Fallback: when BPF cannot load (exit status 2) and bpf is "optional", the
 * sensor runs on audit records alone (status().mode === "audit").
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { EventEmitter } from "node:events";
import { join } from "node:path";
import { PalisadeError } from "../core/errors.js";
import { nativeBuildDir } from "../core/paths.js";
import { parseSensorLine, type ControlLine, type EventSource, type SensorEvent, type SourceStats } from "./events.js";
import { ProcessTable } from "./processTable.js";

export const SENSOR_BINARY = "palisade-sensor";
export const AUDITD_BINARY = "palisade-auditd";
const MAX_LINE = 1 << 20;

export type Need = "required" | "optional" | false;

export interface SensorOptions {
  /** Where the binaries are (default: nativeBuildDir(), i.e. build/native or PALISADE_NATIVE_DIR). */
  readonly binDir?: string;
  /** The BPF sensor: "optional" (default) falls back to audit-only when it cannot load. */
  readonly bpf?: Need;
  /** The audit reader (Landlock/seccomp denials): "optional" by default. */
  readonly audit?: Need;
  /** cgroup v2 ids (decimal strings) or cgroupfs paths to watch from the start. */
  readonly cgroupIds?: readonly string[];
  readonly ringbufKb?: number;
  readonly aggEntries?: number;
  /** false: every event goes through the ring buffer (no in-kernel aggregation). */
  readonly aggregate?: boolean;
  readonly flushMs?: number;
  readonly statsMs?: number;
  /** Turn kernel audit on while running (restored on exit). Default true. */
  readonly enableAudit?: boolean;
  readonly startTimeoutMs?: number;
  /** Fill exe/parentExe/cmdline/cgroupId from the process table (default true). */
  readonly enrich?: boolean;
  /** Events buffered per async iterator before they are counted as overflow (default 100000). */
  readonly maxQueued?: number;
}

export interface SourceState {
  running: boolean;
  /** Why the source is not running (failed to start, exited). */
  reason?: string;
  ready?: ControlLine;
  stats?: SourceStats;
}

export interface SensorStatus {
  readonly mode: "bpf+audit" | "bpf" | "audit" | "none";
  readonly bpf: Readonly<SourceState>;
  readonly audit: Readonly<SourceState>;
}

export interface SensorCounters {
  lines: number;
  events: number;
  /** Sum of `count`: occurrences the events stand for. */
  occurrences: number;
  invalidLines: number;
  lastInvalid?: string;
  /** Events a slow async-iterator consumer could not take (its queue was full). */
  queueOverflow: number;
}

type Ack = Extract<ControlLine, { type: "ack" }>;

/** One child binary speaking JSON lines on stdout and commands on stdin. */
class Child {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderrTail = "";
  lastError?: string;
  private readonly pending: { cmd: string; resolve: (a: Ack) => void; reject: (e: Error) => void }[] = [];
  private buf = "";
  private gone = false;

  constructor(bin: string, args: readonly string[], private readonly source: EventSource, onLine: (line: string) => void) {
    // Own process group: Ctrl-C at a terminal signals the whole foreground group, and the
    // sensor must outlive that long enough to be flushed by its owner (`palisade run` stores
    // the workload's last events after it exits). It still dies with us (PR_SET_PDEATHSIG).
    this.proc = spawn(bin, args, { stdio: ["pipe", "pipe", "pipe"], detached: true });
    this.proc.stdout.setEncoding("utf8");
    this.proc.stdout.on("data", (chunk: string) => {
      const buf = this.buf + chunk;
      let start = 0;
      let nl: number;
      while ((nl = buf.indexOf("\n", start)) >= 0) {
        if (nl > start) onLine(buf.slice(start, nl));
        start = nl + 1;
      }
      this.buf = start === 0 ? buf : buf.slice(start);
      if (this.buf.length > MAX_LINE) {
        onLine(this.buf.slice(0, 200)); // counted as invalid by the caller
        this.buf = "";
      }
    });
    this.proc.stderr.setEncoding("utf8");
    this.proc.stderr.on("data", (d: string) => (this.stderrTail = (this.stderrTail + d).slice(-8192)));
    this.proc.stdin.on("error", () => {}); // EPIPE after the child exits: reported by "exit"
    this.exited = new Promise((resolve) => {
      this.proc.on("error", (e) => {
        this.lastError = e.message;
        this.markGone(e.message);
        resolve({ code: null, signal: null });
      });
      this.proc.on("close", (code, signal) => {
        this.markGone(`${this.source} process exited (${signal ?? code})`);
        resolve({ code, signal });
      });
    });
  }

  get alive(): boolean {
    return !this.gone;
  }

  /** Sends a command; resolves with its ack (commands are acked in order). */
  send(cmd: string): Promise<Ack> {
    if (this.gone) return Promise.reject(new PalisadeError("NATIVE", `the ${this.source} sensor is not running`));
    return new Promise((resolve, reject) => {
      this.pending.push({ cmd, resolve, reject });
      this.proc.stdin.write(`${cmd}\n`);
    });
  }

  onAck(a: Ack): void {
    this.pending.shift()?.resolve(a);
  }

  private markGone(why: string): void {
    this.gone = true;
    for (const p of this.pending.splice(0)) p.reject(new PalisadeError("NATIVE", `${p.cmd}: ${why}`));
  }

  async stop(timeoutMs: number): Promise<void> {
    if (!this.gone) {
      this.proc.stdin.end("quit\n");
      const t1 = setTimeout(() => this.proc.kill("SIGTERM"), timeoutMs);
      const t2 = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs * 2);
      await this.exited;
      clearTimeout(t1);
      clearTimeout(t2);
    }
    await this.exited;
  }
}

interface Subscriber {
  queue: SensorEvent[];
  wake?: () => void;
  done: boolean;
}

export class SensorProcess extends EventEmitter {
  readonly counters: SensorCounters = { lines: 0, events: 0, occurrences: 0, invalidLines: 0, queueOverflow: 0 };
  readonly processes = new ProcessTable();
  private readonly state: Record<EventSource, SourceState> = { bpf: { running: false }, audit: { running: false } };
  private readonly children: Partial<Record<EventSource, Child>> = {};
  private readonly readyWaiters: Partial<Record<EventSource, (l: ControlLine) => void>> = {};
  private readonly subscribers = new Set<Subscriber>();
  private stopping?: Promise<void>;
  /** Events that arrived before start() returned: the caller cannot be listening yet. */
  private early: SensorEvent[] | undefined = [];
  private starting = false;

  private constructor(private readonly opts: SensorOptions) {
    super();
  }

  /** Starts the sources and resolves once each is ready (or has failed, when optional). */
  static async start(opts: SensorOptions = {}): Promise<SensorProcess> {
    const s = new SensorProcess(opts);
    s.starting = true;
    try {
      const bin = opts.binDir ?? nativeBuildDir();
      const bpfArgs = [
        ...(opts.cgroupIds ?? []).flatMap((id) => [id.startsWith("/") ? "--cgroup" : "--cgroup-id", id]),
        ...(opts.ringbufKb ? ["--ringbuf-kb", String(opts.ringbufKb)] : []),
        ...(opts.aggEntries ? ["--agg-entries", String(opts.aggEntries)] : []),
        ...(opts.aggregate === false ? ["--no-agg"] : []),
        ...(opts.flushMs ? ["--flush-ms", String(opts.flushMs)] : []),
        ...(opts.statsMs ? ["--stats-ms", String(opts.statsMs)] : []),
      ];
      const auditArgs = [...(opts.enableAudit === false ? ["--no-enable"] : []), ...(opts.statsMs ? ["--stats-ms", String(opts.statsMs)] : [])];
      await Promise.all([
        s.startSource("bpf", opts.bpf ?? "optional", join(bin, SENSOR_BINARY), bpfArgs),
        s.startSource("audit", opts.audit ?? "optional", join(bin, AUDITD_BINARY), auditArgs),
      ]);
    } catch (e) {
      await s.stop();
      throw e;
    }
    s.starting = false;
    // Deliver what arrived during start once the caller has attached its
    // listeners (it resumes before this macrotask runs).
    setImmediate(() => s.releaseEarly());
    return s;
  }

  private releaseEarly(): void {
    const early = this.early;
    this.early = undefined;
    for (const ev of early ?? []) this.dispatch(ev);
  }

  private async startSource(source: EventSource, need: Need, bin: string, args: string[]): Promise<void> {
    if (need === false) {
      this.state[source] = { running: false, reason: "disabled" };
      return;
    }
    const child = new Child(bin, args, source, (line) => this.onLine(source, line));
    this.children[source] = child;
    const ready = new Promise<ControlLine>((resolve) => (this.readyWaiters[source] = resolve));
    const timeoutMs = this.opts.startTimeoutMs ?? 15_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
    const first = await Promise.race([ready, child.exited, timeout]);
    clearTimeout(timer);
    if (first !== "timeout" && "type" in first) {
      this.state[source] = { running: true, ready: first };
      void child.exited.then((x) => this.onExit(source, x.code, x.signal));
      return;
    }
    if (first === "timeout") child.proc.kill("SIGKILL");
    const exit = await child.exited;
    const why =
      first === "timeout"
        ? `${bin} did not report ready within ${timeoutMs} ms`
        : `${bin} ${child.lastError ?? `exited with ${exit.signal ?? exit.code}`}${child.stderrTail ? `: ${lastLine(child.stderrTail)}` : ""}`;
    this.state[source] = { running: false, reason: why };
    if (need === "required") {
      throw new PalisadeError("NATIVE", `the ${source} sensor could not start: ${why}`, {
        hint: source === "bpf" ? "needs root, kernel BTF and tp_btf tracepoints; build with: make -C src/native/sensor" : "needs root (CAP_AUDIT_CONTROL, CAP_AUDIT_READ)",
      });
    }
    this.emit("warning", { source, message: `${source} sensor unavailable: ${why}` });
  }

  private onExit(source: EventSource, code: number | null, signal: NodeJS.Signals | null): void {
    const s = this.state[source];
    s.running = false;
    s.reason ??= this.stopping ? "stopped" : `exited with ${signal ?? code}`;
    this.emit("exit", { source, code, signal });
  }

  private onLine(source: EventSource, line: string): void {
    if (this.early?.length && !this.starting) this.releaseEarly(); // keep order with what follows
    this.counters.lines++;
    const p = parseSensorLine(line);
    if (p.kind === "invalid") {
      this.counters.invalidLines++;
      this.counters.lastInvalid = `${source}: ${p.reason}: ${line.slice(0, 200)}`;
      this.emit("invalid", { source, reason: p.reason, line: line.slice(0, 200) });
      return;
    }
    if (p.kind === "control") {
      const c = p.line;
      if (c.type === "ready") this.readyWaiters[source]?.(c);
      else if (c.type === "ack") this.children[source]?.onAck(c);
      else if (c.type === "error") this.emit("warning", { source, message: c.message });
      else if (c.type === "stats") this.onStats(source, c);
      return;
    }
    const enrich = this.opts.enrich ?? true;
    if (enrich) this.processes.observe(p.event);
    const ev = enrich ? this.processes.enrich(p.event) : p.event;
    this.counters.events++;
    this.counters.occurrences += ev.count;
    if (this.early) this.early.push(ev);
    else this.dispatch(ev);
  }

  private dispatch(ev: SensorEvent): void {
    this.emit("event", ev);
    for (const sub of this.subscribers) {
      if (sub.queue.length >= (this.opts.maxQueued ?? 100_000)) {
        this.counters.queueOverflow++;
        continue;
      }
      sub.queue.push(ev);
      sub.wake?.();
    }
  }

  private onStats(source: EventSource, st: SourceStats): void {
    const before = this.state[source].stats?.dropped ?? 0;
    this.state[source].stats = st;
    this.emit("stats", st);
    if (st.dropped > before) this.emit("dropped", { source, dropped: st.dropped, delta: st.dropped - before });
  }

  status(): SensorStatus {
    const b = this.state.bpf.running;
    const a = this.state.audit.running;
    return { mode: b && a ? "bpf+audit" : b ? "bpf" : a ? "audit" : "none", bpf: { ...this.state.bpf }, audit: { ...this.state.audit } };
  }

  /** Starts reporting a cgroup (id as decimal string/bigint, or its cgroupfs path). Resolves with the cgroup id. */
  async watch(cgroup: string | bigint | number): Promise<string> {
    return this.watchCmd("watch", String(cgroup));
  }

  async unwatch(cgroup: string | bigint | number): Promise<string> {
    return this.watchCmd("unwatch", String(cgroup));
  }

  private async watchCmd(cmd: string, arg: string): Promise<string> {
    if (!/^(\d+|\/\S+)$/.test(arg)) throw new PalisadeError("USAGE", `not a cgroup id or absolute path: ${JSON.stringify(arg)}`);
    const child = this.children.bpf;
    if (!child?.alive) throw new PalisadeError("NATIVE", `cannot ${cmd} a cgroup: the BPF sensor is not running (${this.state.bpf.reason ?? "not started"})`);
    const ack = await child.send(`${cmd} ${arg}`);
    if (!ack.ok) throw new PalisadeError("NATIVE", ack.error ?? `${cmd} ${arg} failed`);
    return ack.cgroupId ?? arg;
  }

  /**
   * Reports the in-kernel aggregation counts now and returns fresh BPF stats.
   * When it resolves, every event the kernel produced before the call has
   * been emitted. Without the BPF source it returns undefined.
   */
  async flush(): Promise<SourceStats | undefined> {
    const child = this.children.bpf;
    if (!child?.alive) return undefined;
    await child.send("flush");
    return this.state.bpf.stats;
  }

  /** Asks every running source for a stats line and returns the status. */
  async refreshStats(): Promise<SensorStatus> {
    await Promise.all(Object.values(this.children).filter((c) => c.alive).map((c) => c.send("stats").catch(() => undefined)));
    return this.status();
  }

  /** All events from now on; ends when the sensor stops. */
  events(): AsyncIterableIterator<SensorEvent> {
    const sub: Subscriber = { queue: [], done: false };
    this.subscribers.add(sub);
    if (this.stopping) sub.done = true;
    const unsubscribe = () => {
      sub.done = true;
      this.subscribers.delete(sub);
    };
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next(): Promise<IteratorResult<SensorEvent>> {
        for (;;) {
          const ev = sub.queue.shift();
          if (ev) return { value: ev, done: false };
          if (sub.done) return { value: undefined, done: true };
          await new Promise<void>((r) => (sub.wake = r));
          sub.wake = undefined;
        }
      },
      async return(): Promise<IteratorResult<SensorEvent>> {
        unsubscribe();
        return { value: undefined, done: true };
      },
    };
  }

  /** Stops the children (audit state is restored by palisade-auditd) and ends the iterators. Idempotent. */
  stop(timeoutMs = 5000): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all(Object.values(this.children).map((c) => c.stop(timeoutMs)));
      for (const sub of this.subscribers) {
        sub.done = true;
        sub.wake?.();
      }
      this.subscribers.clear();
    })();
    return this.stopping;
  }
}

function lastLine(s: string): string {
  return s.trim().split("\n").pop() ?? "";
}

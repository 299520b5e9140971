/**
 * What the sensor knows about each process, learned from its own exec and
 * fork events, so that file, network and audit events can name the process
 * (exe, command line) and its parent the way KubeArmor's logs do, and audit
 * events — which carry no cgroup — can be attributed to a workload.
 *
 * Bounded: exited processes are forgotten first, oldest first, once the
 * table is full; they are kept a while because audit denials can arrive
 * after the process is gone.
 */
import { readFileSync, readlinkSync } from "node:fs";
import { cgroupIdOfPid } from "./cgroup.js";
import type { SensorEvent } from "./events.js";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface ProcInfo {
  exe?: string;
  cmdline?: string;
  ppid?: number;
  cgroupId?: string;
  exited?: boolean;
}

export interface ProcessTableOptions {
  readonly maxEntries?: number;
  /** Read /proc for processes that exist but were not seen starting (default true). */
  readonly procFallback?: boolean;
}

/** How long a pid /proc could not name is not asked again. */
const MISS_RETRY_MS = 1000;

export class ProcessTable {
  private readonly procs = new Map<number, ProcInfo>();
  private readonly misses = new Map<number, number>();
  private readonly max: number;
  private readonly procFallback: boolean;

  constructor(opts: ProcessTableOptions = {}) {
    this.max = opts.maxEntries ?? 8192;
    this.procFallback = opts.procFallback ?? true;
  }

  get size(): number {
    return this.procs.size;
  }

  get(pid: number): ProcInfo | undefined {
    return this.procs.get(pid);
  }

  /** Updates the table from an event (exec, fork, exit; others may add the cgroup). */
  observe(ev: SensorEvent): void {
    if (ev.source !== "bpf") return;
    switch (ev.type) {
      case "exec": {
        if (ev.result !== 0) return; // a failed execve changes nothing
        const prev = this.procs.get(ev.pid);
        // Busybox and others re-exec themselves through /proc/self/exe: the
        // binary is the one the process was already running.
        const exe = /^\/proc\/(self|\d+)\/exe$/.test(ev.filename) && prev?.exe ? prev.exe : ev.filename;
        this.set(ev.pid, { exe, cmdline: [exe, ...ev.argv.slice(1)].join(" "), ppid: ev.ppid, cgroupId: ev.cgroupId });
        return;
      }
      case "fork": {
        // A forked child runs its parent's binary until it execs.
        const parent = ev.ppid === undefined ? undefined : this.lookup(ev.ppid);
        this.set(ev.pid, { exe: parent?.exe, cmdline: parent?.cmdline, ppid: ev.ppid, cgroupId: ev.cgroupId });
        return;
      }
      case "exit": {
        const p = this.procs.get(ev.pid);
        if (p) p.exited = true;
        return;
      }
      default:
        if (!this.procs.has(ev.pid) && ev.cgroupId !== undefined) {
          const p = this.fromProc(ev.pid);
          this.set(ev.pid, { ...p, cgroupId: ev.cgroupId, ppid: ev.ppid ?? p.ppid });
        }
    }
  }

  /** Fills in the event's exe, parentExe, cmdline and (for audit events) cgroupId when known; returns the same object. */
  enrich<E extends SensorEvent>(ev: E): E {
    const p = this.lookup(ev.pid);
    const ppid = ev.ppid ?? p?.ppid;
    const parent = ppid === undefined ? undefined : this.lookup(ppid);
    // Filled in place: the event is the parser's own fresh object, and a copy of
    // every event (~25 fields) was a measurable share of the pipeline's time.
    const out = ev as Mutable<SensorEvent>;
    const exe = ev.type === "exec" && ev.result === 0 ? p?.exe ?? ev.filename : ev.exe ?? p?.exe;
    if (exe !== undefined) out.exe = exe;
    if (parent?.exe !== undefined) out.parentExe = parent.exe;
    if (p?.cmdline !== undefined) out.cmdline = p.cmdline;
    if (ev.cgroupId === undefined && p?.cgroupId !== undefined) out.cgroupId = p.cgroupId;
    if (ev.ppid === undefined && ppid !== undefined) out.ppid = ppid;
    return ev;
  }

  private lookup(pid: number): ProcInfo | undefined {
    const known = this.procs.get(pid);
    if (known || !this.procFallback) return known;
    // A pid /proc could not name (gone, a kernel thread, an unreadable exe such as a VM's pid 1)
    // is not asked again for a while: the events of its children would otherwise each cost a
    // failed readlink — measured at ≈ 23 µs per event, more than the rest of the pipeline.
    const missed = this.misses.get(pid);
    const now = Date.now();
    if (missed !== undefined && now - missed < MISS_RETRY_MS) return undefined;
    const p = this.fromProc(pid);
    if (p.exe === undefined) {
      if (this.misses.size >= this.max) this.misses.clear();
      this.misses.set(pid, now);
      return undefined;
    }
    this.misses.delete(pid);
    this.set(pid, p);
    return p;
  }

  /** What /proc says about a live process (nothing once it has exited). */
  private fromProc(pid: number): ProcInfo {
    if (!this.procFallback) return {};
    const info: ProcInfo = {};
    try {
      info.exe = readlinkSync(`/proc/${pid}/exe`);
      info.cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0+$/, "").replace(/\0/g, " ");
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
      info.ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      info.cgroupId = cgroupIdOfPid(pid);
    } catch {
      // Gone, or a kernel thread: keep what we have.
    }
    return info;
  }

  private set(pid: number, info: ProcInfo): void {
    this.procs.delete(pid); // re-insert: Map order is age order
    this.procs.set(pid, info);
    if (this.procs.size <= this.max) return;
    for (const [k, v] of this.procs) {
      if (v.exited) {
        this.procs.delete(k);
        if (this.procs.size <= this.max) return;
      }
    }
    for (const k of this.procs.keys()) {
      this.procs.delete(k);
      if (this.procs.size <= this.max) return;
    }
  }
}

/**
 * One refusal, two reports: the BPF sensor sees the syscall fail (-EACCES /
 * -EPERM, with the process's own view of path and arguments) and, when
 * Landlock or seccomp refused it, the audit reader gets the kernel's denial
 * record (which backend, which access right). DenialCorrelator pairs them so
 * a refusal becomes one alert that carries both: the BPF event's fields and
 * the audit record's Enforcer and blockers.
 *
 * Pairing key: host pid + syscall name (+ the path for opens, the address
 * for connect/bind: audit names what Landlock resolved, so a relative path
 * does not pair and yields two alerts, one per source). A refused event from either source is
 * held for `windowMs` waiting for its partner, then released as a Refusal:
 * `{ event, audit?, count }`.
 *
 * Counts: audit reports every occurrence, while the BPF sensor folds repeats
 * into a "repeat" line up to a flush interval later. So a released pair
 * stands for max(BPF count, audit records held); audit records beyond the BPF
 * count, and audit records released without a BPF partner, are remembered
 * per key (`credit`) and deducted from later BPF lines of the same key —
 * those occurrences were already reported. The last audit record per key is
 * remembered too, so a late repeat line still names its Enforcer. Both
 * memories expire after `memoryMs`.
 *
 * Order: held events are released up to windowMs after events that followed
 * them; the store's seq order is arrival order, not strictly time order.
 */
import type { DenialEvent, SensorEvent } from "./events.js";

export interface Refusal {
  /** The BPF event when there was one, else the audit denial. */
  readonly event: SensorEvent;
  /** The audit denial that explains it (when audit reported one). */
  readonly audit?: DenialEvent;
  /** Occurrences this refusal stands for. */
  readonly count: number;
}

interface Pending {
  bpf?: SensorEvent;
  audits: DenialEvent[];
  deadline: number;
}

interface Memory {
  credit: number;
  audit?: DenialEvent;
  expires: number;
}

/** Is this event a refusal the correlator should see? */
export function isRefusal(ev: SensorEvent): boolean {
  if (ev.type === "denial") return true;
  return "denied" in ev && ev.denied === true;
}

function keyOf(ev: SensorEvent): string | undefined {
  const sc = "syscall" in ev ? ev.syscall : undefined;
  // exec: one attempt at a time per process, and audit names the symlink's target, so no path.
  if (ev.type === "exec") return ev.result < 0 ? `${ev.pid}:${sc ?? "execve"}` : undefined;
  if (sc === undefined) return undefined;
  if (ev.type === "file") return `${ev.pid}:${sc}:${ev.path}`;
  if (ev.type === "net") return `${ev.pid}:${sc}:${ev.addr ?? ""}:${ev.port ?? ""}`;
  if (ev.type === "denial") {
    if (ev.blockers.includes("fs.execute")) return `${ev.pid}:${sc}`;
    if (ev.blockers.some((b) => b.startsWith("fs."))) return `${ev.pid}:${sc}:${ev.path ?? ""}`;
    if (ev.blockers.some((b) => b.startsWith("net."))) return `${ev.pid}:${sc}:${ev.addr ?? ""}:${ev.port ?? ""}`;
  }
  return `${ev.pid}:${sc}`;
}

export class DenialCorrelator {
  private readonly pending = new Map<string, Pending>();
  private readonly memory = new Map<string, Memory>();

  constructor(
    private readonly emit: (r: Refusal) => void,
    private readonly windowMs = 250,
    private readonly memoryMs = 10_000,
  ) {}

  get held(): number {
    return this.pending.size;
  }

  /** Takes a refused event (isRefusal) to be released, paired, by tick() or flushAll(). */
  offer(ev: SensorEvent, now = Date.now()): void {
    const key = keyOf(ev);
    if (key === undefined) {
      this.emit(ev.type === "denial" ? { event: ev, audit: ev, count: ev.count } : { event: ev, count: ev.count });
      return;
    }
    let p = this.pending.get(key);
    if (ev.type === "denial") {
      if (!p) this.pending.set(key, (p = { audits: [], deadline: now + this.windowMs }));
      p.audits.push(ev);
      return;
    }
    let count = ev.count;
    const mem = this.memory.get(key);
    if (mem && mem.expires > now && mem.credit > 0) {
      const take = Math.min(mem.credit, count);
      mem.credit -= take;
      count -= take;
      if (count === 0) return; // every occurrence was already reported by audit
    }
    const bpf = count === ev.count ? ev : { ...ev, count };
    if (p?.bpf) {
      this.release(key, p);
      p = undefined;
    }
    if (!p) this.pending.set(key, (p = { audits: [], deadline: now + this.windowMs }));
    p.bpf = bpf;
  }

  /** Releases what waited long enough; call every ~windowMs/2. */
  tick(now = Date.now()): void {
    for (const [key, p] of this.pending) if (p.deadline <= now) this.release(key, p);
    for (const [key, m] of this.memory) if (m.expires <= now) this.memory.delete(key);
  }

  /** Releases everything held (before a store flush, unwatch or close). */
  flushAll(): void {
    for (const [key, p] of this.pending) this.release(key, p);
  }

  private release(key: string, p: Pending): void {
    this.pending.delete(key);
    const now = Date.now();
    const old = this.memory.get(key);
    const mem: Memory = old && old.expires > now ? old : { credit: 0, expires: 0 };
    mem.expires = now + this.memoryMs;
    const lastAudit = p.audits.at(-1);
    if (lastAudit) mem.audit = lastAudit;
    if (p.bpf) {
      const count = Math.max(p.bpf.count, p.audits.length);
      mem.credit += Math.max(0, p.audits.length - p.bpf.count);
      this.memory.set(key, mem);
      const audit = lastAudit ?? mem.audit;
      this.emit(audit ? { event: p.bpf, audit, count } : { event: p.bpf, count });
      return;
    }
    mem.credit += p.audits.length;
    this.memory.set(key, mem);
    this.emit({ event: lastAudit!, audit: lastAudit!, count: p.audits.length });
  }
}

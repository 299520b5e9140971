/**
 * One refusal, two reports: the BPF sensor sees the syscall fail (-EACCES /
 * -EPERM, with the process's own view of path and arguments) and, when
 * Landlock or seccomp refused it, the audit reader gets the kernel's denial
 * record (which backend, which access right). DenialCorrelator pairs them so
 * a refusal becomes one alert that carries both: the BPF event's fields and
 * the audit record's Enforcer and blockers.
 *
 * Pairing key: host pid + syscall name (+ the path for opens, the address
 * for connect/bind). A refused event from either source is held for
 * `windowMs` waiting for its partner, then released as a Refusal:
 * `{ event, audit?, count }`.
 *
 * Relative paths: BPF reports the path as the process passed it
 * ("secret.txt", "./a/b"), audit the one Landlock resolved
 * ("/data/secret.txt"). They pair when the audit path ends with "/" + the
 * relative path (leading "./" dropped; a path with ".." never pairs — its
 * resolved form is not a suffix), same pid and syscall, within the window.
 * The pair lives under the BPF key, and the audit key is aliased to it (for
 * memoryMs) so later occurrences of the same refusal pair and count the
 * same way.
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

/** "a/b" for "./a/b"; undefined for an absolute path or one with "..". */
function relativeTail(path: string): string | undefined {
  if (path.startsWith("/")) return undefined;
  const tail = path.replace(/^(\.\/+)+/, "");
  return tail === "" || tail.split("/").includes("..") ? undefined : tail;
}

/** Does this audit denial name the file a BPF event reached by a relative path? */
function resolves(audit: DenialEvent, bpf: SensorEvent): boolean {
  if (bpf.type !== "file" || audit.path === undefined || audit.pid !== bpf.pid || audit.syscall !== bpf.syscall) return false;
  const tail = relativeTail(bpf.path);
  return tail !== undefined && audit.path.endsWith(`/${tail}`);
}

export class DenialCorrelator {
  private readonly pending = new Map<string, Pending>();
  private readonly memory = new Map<string, Memory>();
  /** Audit key → the BPF key of a relative path it was paired with (expires with the memory). */
  private readonly alias = new Map<string, { key: string; expires: number }>();

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
    let key = keyOf(ev);
    if (key === undefined) {
      this.emit(ev.type === "denial" ? { event: ev, audit: ev, count: ev.count } : { event: ev, count: ev.count });
      return;
    }
    if (ev.type === "denial") {
      const a = this.alias.get(key);
      if (a && a.expires > now) key = a.key;
      else if (!this.pending.get(key)?.bpf) key = this.relativePartner(ev, now) ?? key;
    } else if (ev.type === "file" && relativeTail(ev.path) !== undefined) {
      this.adoptAudits(key, ev, now);
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
    for (const [key, a] of this.alias) if (a.expires <= now) this.alias.delete(key);
  }

  /** The key of a held BPF refusal with a relative path that this audit denial resolves, if any. */
  private relativePartner(audit: DenialEvent, now: number): string | undefined {
    for (const [key, p] of this.pending) {
      if (p.bpf && p.audits.length === 0 && resolves(audit, p.bpf)) {
        this.alias.set(keyOf(audit)!, { key, expires: now + this.memoryMs });
        return key;
      }
    }
    return undefined;
  }

  /** A relative-path BPF refusal takes over audit denials already held that resolve it. */
  private adoptAudits(key: string, bpf: SensorEvent, now: number): void {
    if (this.pending.has(key)) return;
    for (const [k, p] of this.pending) {
      if (!p.bpf && p.audits.length > 0 && resolves(p.audits[0]!, bpf)) {
        this.pending.delete(k);
        this.pending.set(key, p);
        this.alias.set(k, { key, expires: now + this.memoryMs });
        return;
      }
    }
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

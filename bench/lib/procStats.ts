/**
 * CPU time and resident memory of processes, read from /proc (Linux only),
 * for the fleet and agent footprint benchmarks.
 *
 * /proc/PID/stat fields 14 and 15 (utime, stime) are in clock ticks
 * (USER_HZ, 100 on every Linux this runs on: `getconf CLK_TCK`); the command
 * name (field 2) may contain spaces and parentheses, so fields are counted
 * after its last ")". VmRSS in /proc/PID/status is in kB. Pss in
 * /proc/PID/smaps_rollup (kB) divides each shared page among the processes
 * that map it, so a sum of Pss over processes is what they cost together.
 */
import { readdirSync, readFileSync } from "node:fs";

export const CLK_TCK = 100;

/** utime+stime in seconds from a stat file (/proc/PID/stat or /proc/PID/task/TID/stat), or undefined when it is gone. */
function statCpuSeconds(path: string): number | undefined {
  try {
    const stat = readFileSync(path, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // After ")" the first field is state (field 3), so utime (14) is index 11 and stime (15) index 12.
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** utime+stime of one process in seconds, or undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** utime+stime of each thread of a process in seconds, keyed "TID comm" (threads that are gone are left out). */
export function threadCpuSeconds(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    const cpu = statCpuSeconds(`/proc/${pid}/task/${tid}/stat`);
    const comm = commOf(Number(tid));
    if (cpu !== undefined) out.set(`${tid} ${comm ?? "?"}`, cpu);
  }
  return out;
}

/** Ids of the BPF programs a process holds open (its fds' fdinfo "prog_id:" lines; links hold their program too). */
export function progIdsOfPid(pid: number): number[] {
  const ids = new Set<number>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    try {
      const m = /^prog_id:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"));
      if (m) ids.add(Number(m[1]));
    } catch {
      // the fd closed meanwhile
    }
  }
  return [...ids];
}

/** VmRSS of one process in MiB, or undefined when it is gone (or a kernel thread). */
export function rssMiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Proportional set size of one process in MiB (shared pages split among their users), or undefined when it is gone. */
export function pssMiB(pid: number): number | undefined {
  try {
    const m = /^Pss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}

export function cmdlineOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((s) => s !== "");
  } catch {
    return [];
  }
}

function allPids(): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** Pids whose comm is `comm` (e.g. every PostgreSQL server process). */
export function pidsByComm(comm: string): number[] {
  return allPids().filter((p) => commOf(p) === comm);
}

/** Direct children of `pid` (from /proc/PID/task/TID/children, all threads). */
export function childrenOf(pid: number): number[] {
  const out = new Set<number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      for (const c of text.split(/\s+/)) if (c !== "") out.add(Number(c));
    }
  } catch {
    // gone
  }
  return [...out];
}

/** `pid` and all its descendants. */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...childrenOf(p));
  }
  return out;
}

/** Sum of cpuSeconds over a set of pids (the ones that are gone count 0). */
export function totalCpuSeconds(pids: readonly number[]): number {
  return pids.reduce((s, p) => s + (cpuSeconds(p) ?? 0), 0);
}

/** Percentile (0–100) of an ascending array, nearest-rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Busy and total CPU seconds of the whole machine so far (first line of /proc/stat; all cores). */
export function machineCpuSeconds(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …: idle and iowait are the only idle fields.
  const total = f.slice(0, 8).reduce((s, x) => s + x, 0);
  const idle = f[3]! + f[4]!;
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK };
}

/**
 * What a workload did, per binary (`palisade profile`): what it executed and
 * was executed as, the files it read and wrote, its network use (protocols
 * and peers) and what was refused or alerted. The same record reading as
 * `recommend` (operationOf + observations.ts), but nothing is skipped: a
 * refused operation is listed under `denials`, a relative path as written.
 */
import { keyValues, operationOf, type LogFields } from "../sensor/logOperation.js";
import { canonicalPath, wasRefused } from "./observations.js";

export interface FileUse {
  readonly path: string;
  readonly reads: number;
  readonly writes: number;
}

export interface Counted {
  readonly name: string;
  readonly count: number;
}

export interface Denial {
  readonly operation: string;
  readonly resource: string;
  readonly result: string;
  /** PolicyName of the alert, when the record is one. */
  readonly policy?: string;
  readonly action?: string;
  /** The kernel refused it; false for an alert on an operation that went through (Audit). */
  readonly refused: boolean;
  readonly count: number;
}

export interface BinaryProfile {
  /** The executable (absolute), or "(unknown)" when the record named none. */
  readonly binary: string;
  /** Times this binary was executed. */
  readonly execs: number;
  /** Programs it executed. */
  readonly executed: readonly Counted[];
  readonly files: readonly FileUse[];
  /** Sockets by protocol ("tcp", "udp", …; "unix" and others as the record names the family). */
  readonly protocols: readonly Counted[];
  /** connect/bind/accept peers: "10.0.0.5:443", "bind :8080", "from 10.0.0.9" (accepted from), "unix:/run/x.sock". */
  readonly peers: readonly Counted[];
  readonly capabilities: readonly Counted[];
  readonly denials: readonly Denial[];
}

export interface Profile {
  readonly records: number;
  readonly workloads: readonly string[];
  readonly binaries: readonly BinaryProfile[];
  readonly totals: { readonly execs: number; readonly fileReads: number; readonly fileWrites: number; readonly network: number; readonly denials: number };
}

export const UNKNOWN_BINARY = "(unknown)";

interface Acc {
  execs: number;
  executed: Map<string, number>;
  files: Map<string, { reads: number; writes: number }>;
  protocols: Map<string, number>;
  peers: Map<string, number>;
  capabilities: Map<string, number>;
  denials: Map<string, { d: Omit<Denial, "count">; count: number }>;
}

const bump = (m: Map<string, number>, k: string, n: number) => m.set(k, (m.get(k) ?? 0) + n);
const counted = (m: Map<string, number>): Counted[] => [...m].map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count || (a.name < b.name ? -1 : 1));

function peerOf(resource: string, syscall: string | undefined): string | undefined {
  const kv = keyValues(resource);
  if (kv.sa_family === "AF_UNIX") return kv.sun_path ? `unix:${kv.sun_path}` : undefined;
  const addr = kv.sin_addr ?? kv.sin6_addr ?? kv.remoteip;
  const port = kv.sin_port ?? kv.sin6_port ?? kv.port;
  if (addr === undefined && port === undefined) return undefined;
  const host = addr !== undefined && addr.includes(":") ? `[${addr}]` : (addr ?? "");
  // A client's port is its ephemeral choice (and the sensor keeps it only on the first of a
  // run of accepts): a server's peers are the addresses connecting to it.
  if (syscall === "SYS_ACCEPT" || syscall === "SYS_ACCEPT4") return `from ${addr ?? "?"}`;
  return syscall === "SYS_BIND" ? `bind ${host}:${port ?? 0}` : `${host}:${port ?? 0}`;
}

export type ProfileRecord = LogFields & { readonly Count?: unknown; readonly Action?: unknown; readonly PolicyName?: unknown; readonly ContainerName?: unknown };

export function summarizeProfile(records: readonly ProfileRecord[], workloads: readonly string[] = []): Profile {
  const bins = new Map<string, Acc>();
  const acc = (b: string | undefined): Acc => {
    const k = b ?? UNKNOWN_BINARY;
    let a = bins.get(k);
    if (!a) bins.set(k, (a = { execs: 0, executed: new Map(), files: new Map(), protocols: new Map(), peers: new Map(), capabilities: new Map(), denials: new Map() }));
    return a;
  };
  const totals = { execs: 0, fileReads: 0, fileWrites: 0, network: 0, denials: 0 };
  for (const r of records) {
    const n = typeof r.Count === "number" && r.Count > 0 ? r.Count : 1;
    const op = operationOf(r);
    const refused = wasRefused(r);
    const actor = op?.source ?? (canonicalPath(r.ProcessName ?? "") || undefined);
    const isAlert = typeof r.PolicyName === "string";
    if (refused || (isAlert && r.Action !== "Allow")) {
      const d: Omit<Denial, "count"> = {
        operation: r.Operation ?? "",
        resource: r.Resource ?? "",
        result: r.Result ?? "",
        refused,
        ...(isAlert ? { policy: r.PolicyName as string, action: String(r.Action ?? "") } : {}),
      };
      const k = JSON.stringify(d);
      const a = acc(actor);
      const cur = a.denials.get(k);
      a.denials.set(k, { d, count: (cur?.count ?? 0) + n });
      totals.denials += n;
      if (refused) continue;
    }
    switch (op?.kind) {
      case "process":
        acc(op.path).execs += n;
        bump(acc(op.source).executed, op.path, n);
        totals.execs += n;
        break;
      case "file": {
        const path = canonicalPath(op.path) ?? op.path;
        const f = acc(op.source).files;
        const cur = f.get(path) ?? { reads: 0, writes: 0 };
        f.set(path, op.write ? { reads: cur.reads, writes: cur.writes + n } : { reads: cur.reads + n, writes: cur.writes });
        if (op.write) totals.fileWrites += n;
        else totals.fileReads += n;
        break;
      }
      case "network":
        bump(acc(op.source).protocols, op.protocol, n);
        totals.network += n;
        break;
      case "capability":
        bump(acc(op.source).capabilities, op.capability, n);
        break;
      default:
        break;
    }
    if (r.Operation === "Network") {
      const data = keyValues(r.Data);
      const peer = peerOf(r.Resource ?? "", data.syscall);
      if (peer) bump(acc(actor).peers, peer, n);
      else if (!op) {
        const family = keyValues(r.Resource).domain;
        if (family) bump(acc(actor).protocols, family.replace(/^AF_/, "").toLowerCase(), n);
      }
    }
  }
  const binaries: BinaryProfile[] = [...bins]
    .map(([binary, a]) => ({
      binary,
      execs: a.execs,
      executed: counted(a.executed),
      files: [...a.files].map(([path, c]) => ({ path, ...c })).sort((x, y) => (x.path < y.path ? -1 : 1)),
      protocols: counted(a.protocols),
      peers: counted(a.peers),
      capabilities: counted(a.capabilities),
      denials: [...a.denials.values()].map(({ d, count }) => ({ ...d, count })),
    }))
    .sort((x, y) => (x.binary === UNKNOWN_BINARY ? 1 : y.binary === UNKNOWN_BINARY ? -1 : x.binary < y.binary ? -1 : 1));
  return { records: records.length, workloads, binaries, totals };
}

/** The human view: one table row per binary, then the details of each. */
export function renderProfile(p: Profile): string {
  if (p.binaries.length === 0) return `no records${p.workloads.length ? ` for ${p.workloads.join(", ")}` : ""}\n`;
  const rows = [["BINARY", "EXECS", "FILES R/W", "NETWORK", "PEERS", "DENIALS"]];
  for (const b of p.binaries) {
    const reads = b.files.filter((f) => f.reads > 0).length;
    const writes = b.files.filter((f) => f.writes > 0).length;
    rows.push([b.binary, String(b.execs), `${reads}/${writes}`, b.protocols.map((c) => c.name).join(",") || "-", String(b.peers.length), String(b.denials.reduce((n, d) => n + d.count, 0))]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  let out = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n") + "\n";
  for (const b of p.binaries) {
    out += `\n${b.binary}${b.execs ? ` (executed ${b.execs}×)` : ""}\n`;
    for (const e of b.executed) out += `  exec     ${e.name}${e.count > 1 ? ` ×${e.count}` : ""}\n`;
    for (const f of b.files) out += `  ${f.writes > 0 ? "write" : "read "}    ${f.path}  (${f.reads} read${f.reads === 1 ? "" : "s"}, ${f.writes} write${f.writes === 1 ? "" : "s"})\n`;
    for (const c of b.protocols) out += `  net      ${c.name} ×${c.count}\n`;
    for (const c of b.peers) out += `  peer     ${c.name} ×${c.count}\n`;
    for (const c of b.capabilities) out += `  cap      ${c.name} ×${c.count}\n`;
    for (const d of b.denials) out += `  ${d.refused ? "DENIED " : "ALERT  "}  ${d.operation} ${d.resource}: ${d.result}${d.policy ? ` [${d.policy} ${d.action}]` : ""}${d.count > 1 ? ` ×${d.count}` : ""}\n`;
  }
  const t = p.totals;
  out += `\n${p.records} records: ${t.execs} execs, ${t.fileReads} file reads, ${t.fileWrites} file writes, ${t.network} sockets, ${t.denials} denials/alerts\n`;
  return out;
}

/**
 * The effective confinement of a compiled workload as plain data: what
 * `palisade inspect` prints and `palisade run` summarises in one line before
 * the workload starts. Derived only from the compile result, so what is
 * shown is exactly what was handed to runc and the launcher.
 */
import type { CompiledWorkload } from "./compileWorkload.js";
import type { SeccompSummary } from "./seccompProfile.js";
import type { BackendSummary } from "./types.js";

export interface ConfinementReport {
  readonly policies: readonly string[];
  readonly auditOnly: boolean;
  readonly namespaces: readonly string[];
  readonly userNamespace: { readonly enabled: boolean; readonly reason: string };
  readonly user: { readonly uid: number; readonly gid: number; readonly additionalGids: readonly number[] };
  readonly capabilities: readonly string[];
  readonly noNewPrivileges: boolean;
  readonly rootReadOnly: boolean;
  readonly seccomp: SeccompSummary;
  readonly landlock: null | {
    readonly minAbi: number;
    readonly handledFs: readonly string[];
    readonly handledNet: readonly string[];
    readonly pathRules: number;
    readonly ports: readonly number[];
    readonly scopes: readonly string[];
  };
  readonly apparmor: { readonly name: string; readonly loaded: boolean };
  readonly backends: readonly BackendSummary[];
  readonly enforced: readonly { readonly backend: string; readonly rule: string; readonly where: string; readonly how: string }[];
  readonly audited: readonly { readonly rule: string; readonly where: string }[];
  readonly unsupported: readonly { readonly rule: string; readonly where: string; readonly backend: string; readonly reason: string }[];
  readonly interfaces: readonly string[];
  readonly devices: readonly { readonly path: string; readonly type: string; readonly major: number; readonly minor: number; readonly interface: string }[];
  readonly mounts: readonly { readonly destination: string; readonly type: string; readonly source: string; readonly options: readonly string[] }[];
  readonly maskedPaths: readonly string[];
  readonly readonlyPaths: readonly string[];
  readonly resources: { readonly memoryBytes?: number; readonly cpuQuota?: string; readonly pids?: number };
  readonly network: string;
}

export function confinementReport(c: CompiledWorkload): ConfinementReport {
  const s = c.spec;
  const r = s.linux.resources;
  const netns = s.linux.namespaces.find((n) => n.type === "network");
  return {
    policies: c.policies,
    auditOnly: c.auditOnly,
    namespaces: s.linux.namespaces.map((n) => n.type),
    userNamespace: c.userns,
    user: { uid: s.process.user.uid, gid: s.process.user.gid, additionalGids: s.process.user.additionalGids ?? [] },
    capabilities: c.capabilities,
    noNewPrivileges: s.process.noNewPrivileges,
    rootReadOnly: s.root.readonly,
    seccomp: c.seccompSummary,
    landlock: c.launch
      ? {
          minAbi: c.launch.minAbi,
          handledFs: c.launch.handledFs,
          handledNet: c.launch.handledNet,
          pathRules: c.launch.paths.length,
          ports: c.launch.ports.map((p) => p.port),
          scopes: c.launch.scopes ?? [],
        }
      : null,
    apparmor: { name: c.apparmor.name, loaded: c.apparmor.loaded },
    backends: Object.values(c.backends),
    enforced: c.enforced.map((e) => ({ backend: e.backend, rule: e.ref.text, where: e.ref.where, how: e.how })),
    audited: c.audited.map((a) => ({ rule: a.text, where: a.where })),
    unsupported: c.unsupported.map((u) => ({ rule: u.ref.text, where: u.ref.where, backend: u.backend, reason: u.reason })),
    interfaces: c.grants.summary,
    devices: c.grants.devices.map((d) => ({ path: d.path, type: d.type, major: d.major, minor: d.minor, interface: d.interface })),
    mounts: s.mounts.map((m) => ({ destination: m.destination, type: m.type, source: m.source, options: m.options })),
    maskedPaths: s.linux.maskedPaths,
    readonlyPaths: s.linux.readonlyPaths,
    resources: {
      ...(r.memory ? { memoryBytes: r.memory.limit } : {}),
      ...(r.cpu ? { cpuQuota: `${r.cpu.quota}/${r.cpu.period}` } : {}),
      ...(r.pids ? { pids: r.pids.limit } : {}),
    },
    network: netns?.path ? `private namespace ${netns.path} with outbound NAT` : "private namespace, loopback only",
  };
}

/** One line, printed by `palisade run` before the workload starts. */
export function confinementLine(r: ConfinementReport): string {
  const parts = [
    `ns ${r.namespaces.join(",")}`,
    r.capabilities.length ? `caps ${r.capabilities.join(",")}` : "caps none",
    `seccomp ${r.seccomp.defaultAction} (${r.seccomp.allowed} allowed)`,
    r.landlock ? `landlock ABI≥${r.landlock.minAbi} ${r.landlock.pathRules} paths` : "landlock off",
    r.rootReadOnly ? "ro root" : "WRITABLE root",
    `net ${r.network.startsWith("private namespace /") ? "NAT" : "loopback-only"}`,
    `devices ${r.devices.length ? r.devices.map((d) => d.path).join(",") : "none"}`,
    `rules ${r.enforced.length} enforced, ${r.audited.length} audited`,
  ];
  return `palisade: confinement: ${parts.join("; ")}${r.auditOnly ? " [AUDIT MODE: policy blocks nothing]" : ""}`;
}

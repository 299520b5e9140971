/**
 * Sensor events → KubeArmor's log and alert JSON (the fields of the `Log` and
 * `Alert` messages in KubeArmor's protobuf/kubearmor.proto, as documented in
 * "KubeArmor Events"). Our own mapping, written from that documentation:
 *
 * - Operation: exec → Process, file → File, net → Network, other syscalls →
 *   Syscall; audit denials by what was blocked (Landlock fs.execute →
 *   Process, fs.* → File, net.* → Network, otherwise Syscall).
 * - Source: for Process operations the parent's binary, for the others the
 *   acting process's command line (as KubeArmor does).
 * - Resource: the command (exec), the path (file), "sa_family=… sin_port=…
 *   sin_addr=…" or "domain=… type=… protocol=…" (network).
 * - Data: "syscall=SYS_OPENAT fd=-100 flags=O_RDONLY" and friends.
 * - Capability checks → Operation "Capabilities", Resource the name
 *   ("CAP_NET_RAW"), Data "lsm=SECURITY_CAPABLE syscall=SYS_SOCKET
 *   userns=own|ancestor", Result "Passed" when the task held it, else
 *   "Operation not permitted". Never an alert by itself: a failed check is
 *   no refused syscall (see CapabilityEvent); a policy rule makes it one.
 * - Result: "Passed" for success, else the errno text ("Permission denied").
 * - HostPID/HostPPID are host pids; PID/PPID the container's (pid namespace).
 * - A log becomes an alert when a policy matched (`match`) or when the kernel
 *   refused the action: then PolicyName "DefaultPosture", Action "Block", as
 *   KubeArmor reports blocks it did not cause itself.
 * Events without a workload (host processes) get HostLog / MatchedHostPolicy.
 * fork/exit events have no KubeArmor equivalent and map to null.
 * Two additions: "Count" when an event stands for several occurrences, and
 * "OtherPIDs" when some of them were by other processes of the same program
 * instance than the one named (a server's forked children: docs/sensor.md).
 */
import { hostname } from "node:os";
import { getSystemErrorMap } from "node:util";
import type { DenialEvent, NetEvent, SensorEvent } from "./events.js";
import { timeMs, updatedTime } from "./eventTime.js";

export interface WorkloadInfo {
  readonly containerId: string;
  readonly containerName: string;
  readonly namespace: string;
  readonly podName?: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Image reference, ideally with its digest ("name:tag@sha256:…"). */
  readonly image: string;
}

/** Who runs in a cgroup: the runtime knows; the sensor only knows cgroup ids. */
export type WorkloadLookup = (cgroupId: string) => WorkloadInfo | undefined;

/** The policy rule an event matched (from the policy matcher), when it did. */
export interface PolicyMatch {
  readonly policyName: string;
  readonly severity?: number | string;
  readonly tags?: readonly string[];
  readonly message?: string;
  readonly action: "Allow" | "Audit" | "Block";
  /** Host policy (KubeArmorHostPolicy) rather than a workload policy. */
  readonly host?: boolean;
}

export interface KubeArmorMapOptions {
  readonly lookup: WorkloadLookup;
  readonly clusterName?: string;
  readonly hostName?: string;
}

export type KubeArmorOperation = "Process" | "File" | "Network" | "Capabilities" | "Syscall";

/** KubeArmor `Log` fields (container fields are empty strings for host logs). */
export interface KubeArmorLog {
  Timestamp: number;
  UpdatedTime: string;
  ClusterName: string;
  HostName: string;
  NamespaceName?: string;
  PodName?: string;
  Labels?: string;
  ContainerID?: string;
  ContainerName?: string;
  ContainerImage?: string;
  HostPPID: number;
  HostPID: number;
  PPID: number;
  PID: number;
  UID: number;
  ParentProcessName: string;
  ProcessName: string;
  Type: "ContainerLog" | "HostLog" | "MatchedPolicy" | "MatchedHostPolicy";
  Source: string;
  Operation: KubeArmorOperation;
  Resource: string;
  Data: string;
  Result: string;
  Count?: number;
  /** Of Count, the occurrences by other processes of the same program instance than PID (forked children that did not exec). */
  OtherPIDs?: number;
}

/** KubeArmor `Alert` fields: a log plus the policy that matched. */
export interface KubeArmorAlert extends KubeArmorLog {
  Type: "MatchedPolicy" | "MatchedHostPolicy";
  PolicyName: string;
  Severity: string;
  Tags: string;
  ATags: string[];
  Message: string;
  Enforcer: string;
  Action: string;
}

const ERRNO_TEXT = (() => {
  const m = new Map<string, string>();
  for (const [, [name, text]] of getSystemErrorMap()) m.set(name, text.charAt(0).toUpperCase() + text.slice(1));
  return m;
})();

/** "Passed", or the errno's text as strerror() words it (libuv's wording, capitalised). */
export function resultText(result: number | undefined, errno: string | undefined): string {
  if (result === undefined || result >= 0) return "Passed";
  return (errno && ERRNO_TEXT.get(errno)) ?? errno ?? `Error ${-result}`;
}

/** Workload infos are long-lived and not changed once watched: sort and join their labels once. */
const LABELS = new WeakMap<WorkloadInfo, string>();

export function labelsText(w: WorkloadInfo): string {
  let t = LABELS.get(w);
  if (t === undefined) {
    t = Object.entries(w.labels)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    LABELS.set(w, t);
  }
  return t;
}

function sysName(s: string | undefined): string {
  return s ? `SYS_${s.toUpperCase()}` : "SYS_UNKNOWN";
}

export function operation(ev: SensorEvent): KubeArmorOperation | null {
  switch (ev.type) {
    case "exec":
      return "Process";
    case "file":
      return "File";
    case "net":
      return "Network";
    case "syscall":
      return "Syscall";
    case "capability":
      return "Capabilities";
    case "denial":
      return denialOperation(ev);
    default:
      return null;
  }
}

function denialOperation(ev: DenialEvent): KubeArmorOperation {
  if (ev.blockers.some((b) => b === "fs.execute")) return "Process";
  if (ev.blockers.some((b) => b.startsWith("fs."))) return "File";
  if (ev.blockers.some((b) => b.startsWith("net."))) return "Network";
  return "Syscall";
}

function netResource(ev: Pick<NetEvent, "syscall" | "family" | "sockType" | "protocol" | "addr" | "port">): string {
  if (ev.syscall === "socket") return `domain=${ev.family} type=${ev.sockType ?? "0"} protocol=${ev.protocol}`;
  // No port: the repeat line of accepts from one address (the peer's port is not in the kernel's key).
  if (ev.family === "AF_INET") return `sa_family=AF_INET ${ev.port === undefined ? "" : `sin_port=${ev.port} `}sin_addr=${ev.addr ?? ""}`;
  if (ev.family === "AF_INET6") return `sa_family=AF_INET6 ${ev.port === undefined ? "" : `sin6_port=${ev.port} `}sin6_addr=${ev.addr ?? ""}`;
  if (ev.family === "AF_UNIX") return `sa_family=AF_UNIX sun_path=${ev.addr ?? ""}`;
  return `sa_family=${ev.family}`;
}

export function resourceAndData(ev: SensorEvent): [string, string] {
  switch (ev.type) {
    case "exec": {
      const exe = ev.result === 0 ? ev.exe ?? ev.filename : ev.filename;
      const cmd = [exe, ...ev.argv.slice(1)].join(" ");
      return [cmd, `syscall=${sysName(ev.syscall ?? "execve")}`];
    }
    case "file":
      return [ev.path, `syscall=${sysName(ev.syscall)} fd=${ev.dirfd} flags=${ev.flagNames}`];
    case "net":
      return [netResource(ev), `syscall=${sysName(ev.syscall)}${ev.fd !== undefined ? ` fd=${ev.fd}` : ""}`];
    case "syscall":
      return ["", `syscall=${sysName(ev.syscall)}`];
    case "capability":
      return [ev.capName, `lsm=SECURITY_CAPABLE${ev.syscall ? ` syscall=${sysName(ev.syscall)}` : ""} userns=${ev.ownUserNs ? "own" : "ancestor"}`];
    case "denial": {
      const data = `syscall=${sysName(ev.syscall)} ${ev.enforcer === "Landlock" ? `blockers=${ev.blockers.join(",")}` : `action=${ev.seccompAction ?? ""}`}`;
      if (ev.path !== undefined) return [ev.path, data];
      if (ev.addr !== undefined) return [`remoteip=${ev.addr} port=${ev.port ?? 0}`, data];
      return [ev.exe ?? "", data];
    }
    default:
      return ["", ""];
  }
}

/** A container record's workload fields (logJson.ts serialises the same object once per workload). */
export function workloadFields(w: WorkloadInfo): Pick<KubeArmorLog, "NamespaceName" | "PodName" | "Labels" | "ContainerID" | "ContainerName" | "ContainerImage"> {
  return {
    NamespaceName: w.namespace,
    PodName: w.podName ?? w.containerName,
    Labels: labelsText(w),
    ContainerID: w.containerId,
    ContainerName: w.containerName,
    ContainerImage: w.image,
  };
}

/** ProcessName and ParentProcessName of an event (a failed exec is named by the process that tried it). */
export function processNames(ev: SensorEvent): { processName: string; parentName: string } {
  const processName = ev.type === "exec" && ev.result !== 0 ? ev.exe ?? "" : ev.exe ?? (ev.type === "exec" ? ev.filename : ev.comm ?? "");
  return { processName, parentName: ev.parentExe ?? "" };
}

/**
 * Maps one event. Returns a KubeArmor alert when `match` is given or the
 * kernel denied the action, a log otherwise, and null for events KubeArmor
 * has no record for (fork, exit).
 */
export function toKubeArmor(ev: SensorEvent, opts: KubeArmorMapOptions, match?: PolicyMatch): KubeArmorLog | KubeArmorAlert | null {
  const op = operation(ev);
  if (op === null) return null;
  const w = ev.cgroupId === undefined ? undefined : opts.lookup(ev.cgroupId);
  const ms = timeMs(ev.time);
  const [resource, data] = resourceAndData(ev);
  const { processName, parentName } = processNames(ev);
  const result = "result" in ev ? ev.result : undefined;
  const errno = "errno" in ev ? ev.errno : undefined;
  const denied = "denied" in ev && ev.denied === true;
  const host = w === undefined;
  const log: KubeArmorLog = {
    Timestamp: Number.isNaN(ms) ? 0 : Math.floor(ms / 1000),
    UpdatedTime: updatedTime(ev.time),
    ClusterName: opts.clusterName ?? "default",
    HostName: opts.hostName ?? hostname(),
    ...(w ? workloadFields(w) : {}),
    HostPPID: ev.ppid ?? 0,
    HostPID: ev.pid,
    PPID: ev.nsPpid ?? ev.ppid ?? 0,
    PID: ev.nsPid ?? ev.pid,
    UID: ev.uid ?? 0,
    ParentProcessName: parentName,
    ProcessName: processName,
    Type: host ? "HostLog" : "ContainerLog",
    Source: op === "Process" ? parentName : ev.cmdline ?? processName,
    Operation: op,
    Resource: resource,
    Data: data,
    Result: ev.type === "denial" ? resultText(result ?? -13, errno ?? "EACCES") : resultText(result, errno),
    ...(ev.count > 1 ? { Count: ev.count } : {}),
    ...(ev.otherPids ? { OtherPIDs: ev.otherPids } : {}),
  };
  if (!match && !denied) return log;
  return toAlert(log, ev, match);
}

/**
 * The alert for a record toKubeArmor already mapped (`log`, from the same
 * event): the pipeline maps first and asks the policy after, without mapping
 * the event twice.
 */
export function toAlert(log: KubeArmorLog, ev: SensorEvent, match: PolicyMatch | undefined): KubeArmorAlert {
  const host = log.ContainerID === undefined;
  const tags = [...(match?.tags ?? [])];
  return {
    ...log,
    Type: (match?.host ?? host) ? "MatchedHostPolicy" : "MatchedPolicy",
    PolicyName: match?.policyName ?? "DefaultPosture",
    Severity: String(match?.severity ?? ""),
    Tags: tags.join(","),
    ATags: tags,
    Message: match?.message ?? "",
    Enforcer: ev.type === "denial" ? ev.enforcer : "eBPF Monitor",
    Action: match?.action ?? "Block",
  };
}

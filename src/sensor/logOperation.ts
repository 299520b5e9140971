/**
 * What a KubeArmor log or alert record did, as a policy Operation for
 * evaluate(). The live pipeline and `policy simulate` (replaying stored
 * records) both go through here, so a live alert and a simulation of the same
 * record cannot disagree.
 *
 * Record fields read (as src/sensor/kubearmor.ts writes them, and as
 * KubeArmor itself does):
 *
 * - Process: `Resource` = "<exe> <args…>"; for a successful exec the new
 *   program is `ProcessName` and the actor is its parent (`ParentProcessName`,
 *   else `Source`). For a failed exec (`Result` ≠ "Passed") the process is
 *   still the caller: the actor is `ProcessName`, the program the first word
 *   of `Resource` — or all of it for a kernel denial record, whose `Data`
 *   holds `blockers=` (Landlock) or `action=` (seccomp) and whose `Resource`
 *   is the denied path.
 * - File: `Resource` = the path as the program passed it (may be relative);
 *   `Data` = "syscall=SYS_OPENAT fd=-100 flags=O_WRONLY|O_CREAT". Written
 *   when flags hold O_WRONLY, O_RDWR, O_CREAT or O_TRUNC, or, in a Landlock
 *   denial, when a missing right is anything but fs.read_file, fs.read_dir
 *   or fs.execute.
 * - Network: `Resource` = "domain=AF_INET type=SOCK_STREAM protocol=6"
 *   (socket) or "sa_family=AF_INET sin_port=… sin_addr=…" (connect, bind);
 *   Landlock denials "remoteip=… port=…" with blockers=net.connect_tcp.
 *   The protocol comes from protocol=, else type=, else the blocker; a
 *   connect/bind record names no socket type, so it yields an operation
 *   only when Resource or Data carries type=/protocol= (optional tokens the
 *   mapper may add) or a blocker — otherwise undefined, as its socket() was
 *   already reported with the protocol.
 * - Capabilities: `Resource` = "CAP_NET_RAW" / "net_raw" (or capability= in Data);
 *   a `Result` other than "Passed" means the task lacked it (`granted: false`).
 * - Syscall: `Data` = "syscall=SYS_MOUNT"; `Resource` is the path when it is
 *   absolute and the record is no seccomp denial (those carry the exe there).
 * For every operation but Process the actor (`source`) is `ProcessName`,
 * else the first word of `Source` (KubeArmor puts the command line there).
 * Sources and paths that are not absolute are left out / kept as written.
 */
// Deep imports, not policy/index.js (which also loads the YAML parsers): the agent imports this.
import type { Operation } from "../policy/evaluate.js";
import type { NetworkProtocol } from "../policy/model.js";
import { normalizeCapability } from "../policy/vocabulary.js";

/** The record fields this module reads; any KubeArmor log or alert has them. */
export type LogFields = Partial<Record<"Operation" | "Resource" | "Data" | "Result" | "Source" | "ProcessName" | "ParentProcessName", string>>;

/** "key=value key=value" → map (KubeArmor's Data and network Resource form). Values never hold spaces. */
export function keyValues(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const word of (text ?? "").split(/\s+/)) {
    const eq = word.indexOf("=");
    if (eq > 0) out[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return out;
}

const firstWord = (s: string | undefined): string => (s ?? "").trim().split(/\s+/)[0] ?? "";
const absolute = (s: string | undefined): string | undefined => (s !== undefined && s.startsWith("/") ? s : undefined);

/** Is this record the kernel refusing something (Landlock/seccomp audit), not a traced syscall? */
function isDenialRecord(data: Record<string, string>): boolean {
  return data.blockers !== undefined || data.action !== undefined;
}

/** The executable that acted, for fromSource (not for Process, see above). */
export function actorOf(log: LogFields): string | undefined {
  return absolute(log.ProcessName) ?? absolute(firstWord(log.Source));
}

const WRITE_FLAGS = ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"];
const READ_RIGHTS = new Set(["fs.read_file", "fs.read_dir", "fs.execute"]);

/** Did a File record write (open for writing, create, truncate)? */
export function isWrite(data: Record<string, string>): boolean {
  if (data.blockers !== undefined) return data.blockers.split(",").some((b) => b !== "" && !READ_RIGHTS.has(b));
  const flags = (data.flags ?? "").split("|");
  return flags.some((f) => WRITE_FLAGS.includes(f));
}

const PROTOCOL_NUMBERS: Readonly<Record<string, NetworkProtocol>> = { "1": "icmp", "6": "tcp", "17": "udp", "58": "icmpv6", "132": "sctp", "255": "raw" };
const PROTOCOL_NAMES: Readonly<Record<string, NetworkProtocol>> = { icmp: "icmp", tcp: "tcp", udp: "udp", icmpv6: "icmpv6", ipv6_icmp: "icmpv6", sctp: "sctp", raw: "raw" };
const INET = new Set(["AF_INET", "AF_INET6"]);

/**
 * The model protocol of a Network record, or undefined when it cannot be told
 * or is no IP socket (AF_UNIX, AF_NETLINK…, which network rules do not cover).
 * SOCK_RAW sockets are "raw" unless they name ICMP (ping sockets), as in KubeArmor.
 */
export function protocolOf(resource: Record<string, string>, data: Record<string, string>): NetworkProtocol | undefined {
  const all = { ...data, ...resource };
  const family = all.domain ?? all.sa_family;
  if (family !== undefined && !INET.has(family) && family !== "AF_PACKET") return undefined;
  if (family === "AF_PACKET") return "raw";
  const number = all.protocol;
  const byNumber = number !== undefined && number !== "0" ? (PROTOCOL_NUMBERS[number] ?? PROTOCOL_NAMES[number.toLowerCase()]) : undefined;
  if (byNumber && byNumber !== "raw") return byNumber;
  const type = (all.type ?? "").split("|")[0];
  if (type === "SOCK_RAW" || byNumber === "raw") return "raw";
  if (type === "SOCK_STREAM") return "tcp";
  if (type === "SOCK_DGRAM") return "udp";
  if (type === "SOCK_SEQPACKET") return "sctp";
  const blocker = (data.blockers ?? "").split(",").find((b) => b.startsWith("net."));
  if (blocker?.endsWith("_tcp")) return "tcp";
  if (blocker?.endsWith("_udp")) return "udp";
  return undefined;
}

/** `SYS_OPENAT` → `openat`. */
export function syscallOf(data: Record<string, string>): string | undefined {
  const s = data.syscall;
  if (s === undefined || s === "" || s === "SYS_UNKNOWN") return undefined;
  return s.replace(/^SYS_/, "").toLowerCase();
}

function processOperation(log: LogFields, data: Record<string, string>): Operation | undefined {
  if (log.Result === undefined || log.Result === "Passed") {
    const path = absolute(log.ProcessName) ?? firstWord(log.Resource);
    if (path === "") return undefined;
    const source = absolute(log.ParentProcessName) ?? absolute(firstWord(log.Source));
    return { kind: "process", path, ...(source ? { source } : {}) };
  }
  const path = isDenialRecord(data) ? (log.Resource ?? "").trim() : firstWord(log.Resource);
  if (path === "") return undefined;
  const source = absolute(log.ProcessName);
  return { kind: "process", path, ...(source ? { source } : {}) };
}

/**
 * The operation a record stands for, or undefined when it has none a policy
 * rule could match (fork/exit never become records; AF_UNIX sockets, a
 * connect whose protocol is unknown, empty or unknown capability names do).
 */
export function operationOf(log: LogFields): Operation | undefined {
  const data = keyValues(log.Data);
  const source = actorOf(log);
  const withSource = source ? { source } : {};
  switch (log.Operation) {
    case "Process":
      return processOperation(log, data);
    case "File": {
      const path = (log.Resource ?? "").trim();
      if (path === "") return undefined;
      return { kind: "file", path, write: isWrite(data), ...withSource };
    }
    case "Network": {
      const protocol = protocolOf(keyValues(log.Resource), data);
      return protocol ? { kind: "network", protocol, ...withSource } : undefined;
    }
    case "Capabilities": {
      const capability = normalizeCapability(data.capability ?? firstWord(log.Resource));
      const lacked = log.Result !== undefined && log.Result !== "Passed";
      return capability ? { kind: "capability", capability, ...withSource, ...(lacked ? { granted: false } : {}) } : undefined;
    }
    case "Syscall": {
      const syscall = syscallOf(data);
      if (!syscall) return undefined;
      const path = data.action === undefined ? absolute((log.Resource ?? "").trim()) : undefined;
      return { kind: "syscall", syscall, ...(path ? { path } : {}), ...withSource };
    }
    default:
      return undefined;
  }
}

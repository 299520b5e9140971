/**
 * Palisade's seccomp profile (OCI JSON, applied by runc before the launcher
 * runs). Allow-list semantics: anything not listed fails with EPERM. On top
 * of the default tables (seccompSyscalls.ts) the policy adds:
 *
 * - syscall rules: Block removes the syscall from the allow-list (EPERM),
 *   Audit/Allow turn it into SCMP_ACT_LOG (allowed and logged);
 * - network rules: socket() is allowed only for argument tuples
 *   (family, type & SOCK_TYPE_MASK, protocol) of the protocols the workload
 *   may use, so Block tcp/udp/icmp/raw/sctp is exact; Audit logs them.
 *
 * What seccomp cannot express is reported, never dropped: it cannot see the
 * calling executable (fromSource) and cannot read pointer arguments (syscall
 * rules with matchPaths). docs/seccomp.md is the reference.
 */
import type { EffectivePolicy, NetworkProtocol, NetworkRule, SyscallRule } from "../policy/index.js";
import type { SeccompAction, SeccompArg, SeccompProfile, SeccompSyscall } from "./ociTypes.js";
import { ALLOWED_PERSONALITIES, CLONE_NAMESPACE_FLAGS, DEFAULT_ALLOWED, ERRNO, NOTABLE_BLOCKED, X86_64_ONLY } from "./seccompSyscalls.js";
import { ruleRef, type EnforcedRule, type UnsupportedRule } from "./types.js";

const AF = { UNIX: 1, INET: 2, INET6: 10, NETLINK: 16, PACKET: 17 } as const;
const SOCK = { STREAM: 1, DGRAM: 2, RAW: 3, SEQPACKET: 5 } as const;
/** SOCK_TYPE_MASK: the type argument also carries SOCK_NONBLOCK | SOCK_CLOEXEC. */
const SOCK_TYPE_MASK = 0xf;
const IPPROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58, SCTP: 132 } as const;

interface SocketTuple {
  readonly family: number;
  readonly type?: number;
  readonly protocol?: number;
}

/** Which socket() argument tuples make up each protocol class of KubeArmor's network rules. */
export const PROTOCOL_SOCKETS: Readonly<Record<NetworkProtocol, readonly SocketTuple[]>> = {
  tcp: [AF.INET, AF.INET6].flatMap((family) => [0, IPPROTO.TCP].map((protocol) => ({ family, type: SOCK.STREAM, protocol }))),
  udp: [AF.INET, AF.INET6].flatMap((family) => [0, IPPROTO.UDP].map((protocol) => ({ family, type: SOCK.DGRAM, protocol }))),
  icmp: [{ family: AF.INET, type: SOCK.DGRAM, protocol: IPPROTO.ICMP }],
  icmpv6: [{ family: AF.INET6, type: SOCK.DGRAM, protocol: IPPROTO.ICMPV6 }],
  sctp: [AF.INET, AF.INET6].flatMap((family) => [SOCK.STREAM, SOCK.SEQPACKET].map((type) => ({ family, type, protocol: IPPROTO.SCTP }))),
  raw: [{ family: AF.INET, type: SOCK.RAW }, { family: AF.INET6, type: SOCK.RAW }, { family: AF.PACKET }],
};

const PROTOCOLS = Object.keys(PROTOCOL_SOCKETS) as NetworkProtocol[];

export const SECCOMP_ARCH: Readonly<Record<string, string>> = {
  x86_64: "SCMP_ARCH_X86_64",
  amd64: "SCMP_ARCH_X86_64",
  x64: "SCMP_ARCH_X86_64",
  aarch64: "SCMP_ARCH_AARCH64",
  arm64: "SCMP_ARCH_AARCH64",
};

export interface SeccompInputs {
  /** Host architecture as the probe reports it (uname -m). */
  readonly arch: string;
  readonly policy: EffectivePolicy;
  /** Raw and packet sockets are granted (the workload keeps CAP_NET_RAW). */
  readonly rawSockets: boolean;
}

export interface SeccompSummary {
  readonly defaultAction: string;
  readonly architectures: readonly string[];
  /** Syscalls allowed without condition. */
  readonly allowed: number;
  /** Syscalls allowed with argument conditions (socket, clone, personality). */
  readonly conditional: readonly string[];
  readonly logged: readonly string[];
  /** Syscalls refused by policy rules. */
  readonly blockedByPolicy: readonly string[];
  /** Notable syscalls refused by the default profile. */
  readonly blockedNotable: readonly string[];
  /** Per protocol: allow, log or block (socket() filter). */
  readonly protocols: Readonly<Record<NetworkProtocol, "allow" | "log" | "block">>;
}

export interface SeccompResult {
  readonly profile: SeccompProfile;
  readonly summary: SeccompSummary;
  readonly enforced: readonly EnforcedRule[];
  readonly unsupported: readonly UnsupportedRule[];
  readonly notes: readonly string[];
}

export function compileSeccomp(input: SeccompInputs): SeccompResult {
  const arch = SECCOMP_ARCH[input.arch];
  if (arch === undefined) throw new Error(`no seccomp architecture for ${input.arch}`);
  const aarch64 = arch === "SCMP_ARCH_AARCH64";
  const enforced: EnforcedRule[] = [];
  const unsupported: UnsupportedRule[] = [];
  const notes: string[] = [];

  const allowed = new Set(DEFAULT_ALLOWED.filter((s) => !(aarch64 && X86_64_ONLY.has(s))));
  const logged = new Set<string>();
  const blockedByPolicy = new Set<string>();
  // Conditional syscalls: present unless a Block rule names them; LOG instead of ALLOW when audited.
  const conditional = new Map<string, SeccompAction>([
    ["socket", "SCMP_ACT_ALLOW"],
    ["clone", "SCMP_ACT_ALLOW"],
    ["personality", "SCMP_ACT_ALLOW"],
  ]);
  let clone3: "ENOSYS" | "EPERM" = "ENOSYS";

  for (const rule of input.policy.rules) {
    if (rule.kind !== "syscall") continue;
    const problem = syscallProblem(rule, aarch64);
    if (problem) {
      if (rule.action === "Block") unsupported.push({ rule, ref: ruleRef(rule), backend: "seccomp", reason: problem });
      else notes.push(`${ruleRef(rule).text}: ${problem}; recorded for the sensor only`);
      continue;
    }
    for (const name of rule.syscalls) {
      if (rule.action === "Block") {
        allowed.delete(name);
        logged.delete(name);
        conditional.delete(name);
        if (name === "clone3") clone3 = "EPERM";
        blockedByPolicy.add(name);
      } else if (allowed.has(name) && !blockedByPolicy.has(name)) {
        allowed.delete(name);
        logged.add(name);
      } else if (conditional.has(name)) {
        conditional.set(name, "SCMP_ACT_LOG");
      } else if (!blockedByPolicy.has(name)) {
        notes.push(`${name}: audited by ${ruleRef(rule).where}, but the default profile refuses it (EPERM); attempts are left to the sensor`);
      }
    }
    if (rule.action === "Block") enforced.push({ ref: ruleRef(rule), backend: "seccomp", how: `EPERM for ${rule.syscalls.join(", ")}` });
    if (rule.syscalls.includes("execve") && rule.action === "Block") notes.push("execve is blocked: the launcher cannot start the workload's program");
  }

  const protocols = protocolActions(input, enforced, unsupported);
  const socketAction = conditional.get("socket");
  const syscalls: SeccompSyscall[] = [
    { names: [...allowed].sort(), action: "SCMP_ACT_ALLOW", comment: "default allow-list (docs/seccomp.md)" },
  ];
  if (logged.size) syscalls.push({ names: [...logged].sort(), action: "SCMP_ACT_LOG", comment: "audited by policy: allowed and logged" });
  const cloneAction = conditional.get("clone");
  if (cloneAction) {
    // clone's flags are argument 0 on x86_64 and aarch64 alike.
    syscalls.push({
      names: ["clone"],
      action: cloneAction,
      args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
      comment: "threads and processes, but no new namespaces",
    });
  }
  syscalls.push({ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ERRNO[clone3], comment: "clone3's flags are behind a pointer: ENOSYS makes libc fall back to clone" });
  const personalityAction = conditional.get("personality");
  if (personalityAction) {
    for (const value of ALLOWED_PERSONALITIES) {
      syscalls.push({ names: ["personality"], action: personalityAction, args: [{ index: 0, value, op: "SCMP_CMP_EQ" }] });
    }
  }
  if (socketAction) {
    for (const family of [AF.UNIX, AF.NETLINK]) {
      syscalls.push({ names: ["socket"], action: socketAction, args: [{ index: 0, value: family, op: "SCMP_CMP_EQ" }], comment: family === AF.UNIX ? "AF_UNIX" : "AF_NETLINK" });
    }
    for (const p of PROTOCOLS) {
      const a = protocols[p];
      if (a === "block") continue;
      const action: SeccompAction = a === "log" || socketAction === "SCMP_ACT_LOG" ? "SCMP_ACT_LOG" : "SCMP_ACT_ALLOW";
      for (const t of PROTOCOL_SOCKETS[p]) syscalls.push({ names: ["socket"], action, args: socketArgs(t), comment: p });
    }
  } else {
    for (const p of PROTOCOLS) protocols[p] = "block";
  }

  const profile: SeccompProfile = { defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: ERRNO.EPERM, architectures: [arch], syscalls };
  const summary: SeccompSummary = {
    defaultAction: "SCMP_ACT_ERRNO(EPERM)",
    architectures: [arch],
    allowed: allowed.size,
    conditional: [...conditional.keys()],
    logged: [...logged, ...[...conditional].filter(([, a]) => a === "SCMP_ACT_LOG").map(([n]) => n)].sort(),
    blockedByPolicy: [...blockedByPolicy].sort(),
    blockedNotable: Object.keys(NOTABLE_BLOCKED).filter((n) => !allowed.has(n) && !logged.has(n) && !conditional.has(n) && n !== "clone3"),
    protocols,
  };
  return { profile, summary, enforced, unsupported, notes };
}

function socketArgs(t: SocketTuple): SeccompArg[] {
  const args: SeccompArg[] = [{ index: 0, value: t.family, op: "SCMP_CMP_EQ" }];
  if (t.type !== undefined) args.push({ index: 1, value: SOCK_TYPE_MASK, valueTwo: t.type, op: "SCMP_CMP_MASKED_EQ" });
  if (t.protocol !== undefined) args.push({ index: 2, value: t.protocol, op: "SCMP_CMP_EQ" });
  return args;
}

function syscallProblem(rule: SyscallRule, aarch64: boolean): string | undefined {
  if (rule.fromSource.length > 0) {
    return "seccomp filters cannot tell which executable makes the call (fromSource needs BPF-LSM, which cannot load on this kernel)";
  }
  if (rule.paths.length > 0) {
    return "seccomp cannot read path arguments (they are pointers into the process's memory), so matchPaths cannot be checked";
  }
  const missing = aarch64 ? rule.syscalls.filter((s) => X86_64_ONLY.has(s)) : [];
  if (missing.length > 0) {
    return `${missing.join(", ")} does not exist on aarch64 (programs there use the *at variants, e.g. openat); name this architecture's syscalls`;
  }
  return undefined;
}

/**
 * Each protocol's fate: Block rules and the network allow-list's posture
 * block it, Audit rules and the audit posture log it. Raw and packet sockets
 * are blocked unless granted, whatever the policy says.
 */
function protocolActions(input: SeccompInputs, enforced: EnforcedRule[], unsupported: UnsupportedRule[]): Record<NetworkProtocol, "allow" | "log" | "block"> {
  const { policy } = input;
  const rules = policy.rules.filter((r): r is NetworkRule => r.kind === "network");
  const out = {} as Record<NetworkProtocol, "allow" | "log" | "block">;
  for (const p of PROTOCOLS) {
    const mine = rules.filter((r) => r.protocol === p && r.fromSource.length === 0);
    let a: "allow" | "log" | "block" = "allow";
    if (policy.allowList.network && !mine.some((r) => r.action === "Allow")) a = policy.posture.network === "block" ? "block" : "log";
    if (mine.some((r) => r.action === "Audit") && a === "allow") a = "log";
    if (mine.some((r) => r.action === "Block")) a = "block";
    if (p === "raw" && !input.rawSockets) a = "block";
    out[p] = a;
  }
  for (const r of rules) {
    if (r.fromSource.length > 0) {
      if (r.action === "Audit" || (r.action === "Allow" && policy.posture.network === "audit")) continue;
      // An Allow with fromSource still makes the category an allow-list; what it grants to its sources cannot be scoped.
      unsupported.push({
        rule: r,
        ref: ruleRef(r),
        backend: "seccomp",
        reason: "seccomp filters cannot tell which executable creates a socket (fromSource needs BPF-LSM, which cannot load on this kernel)",
      });
    } else if (r.action === "Block") {
      enforced.push({ ref: ruleRef(r), backend: "seccomp", how: `socket() refused for ${r.protocol}` });
    } else if (r.action === "Allow" && policy.posture.network === "block") {
      enforced.push({ ref: ruleRef(r), backend: "seccomp", how: `socket() allow-list includes ${r.protocol}` });
    }
  }
  return out;
}

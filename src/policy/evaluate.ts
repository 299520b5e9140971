/**
 * The policy matcher: what an EffectivePolicy (combinePolicies) decides for
 * one operation a workload did. The live sensor pipeline uses it to turn
 * events into alerts, `policy simulate` to replay recorded events and
 * `palisade recommend` to check its own output, so all three agree with the
 * semantics in docs/policy.md ("Combining policies"):
 *
 * - Block beats Allow: any matching Block rule blocks.
 * - An Allow rule in a category makes the category an allow-list; what no
 *   Allow rule grants gets the posture ("DefaultPosture").
 * - Audit never grants: a matching Audit rule reports, and the operation
 *   proceeds only where it would have proceeded without it.
 * - fromSource scopes a rule to the acting executable; an operation whose
 *   source is unknown matches no scoped rule.
 * - ownerOnly: an Allow grants only to the file's owner; a Block/Audit hits
 *   everyone but the owner. Operations do not always know whether the actor
 *   owns the file (`owner` unset): then the actor is taken as not the owner,
 *   the restrictive reading of both.
 * - readOnly: an Allow grants reads only; a Block/Audit hits writes only.
 * - A capability check the task failed (`granted: false`) is matched by
 *   Block and Audit rules but never by the posture.
 * - Syscall rules never form an allow-list: Block blocks, Audit and Allow
 *   report (model.ts, SyscallRule).
 * - Host policies (target "host"): an allow-list confines only the processes
 *   its Allow rules name in fromSource.
 * Unenforced features (EffectivePolicy.unenforced) are not rules and never
 * match; the compiler fails closed on them instead.
 */
import { posix } from "node:path";
import type { EffectivePolicy, Match, NetworkProtocol, PostureCategory, Rule, SourceMatch } from "./model.js";
import { patternToRegExp } from "./pathSyntax.js";
import { describeSource, describeTarget, qualifiers } from "./ruleText.js";

export type Operation =
  /** exec of `path` by binary `source`; `owner`: the actor owns the executable. */
  | { kind: "process"; path: string; source?: string; owner?: boolean }
  /** `owner`: the actor owns the file (ownerOnly rules); unknown = not the owner. */
  | { kind: "file"; path: string; write: boolean; source?: string; owner?: boolean }
  | { kind: "network"; protocol: NetworkProtocol; source?: string }
  /**
   * Lower-case, no CAP_ ("net_raw"). `granted: false`: the kernel checked the
   * capability and the task lacked it (a sensor record), so nothing was used.
   */
  | { kind: "capability"; capability: string; source?: string; granted?: boolean }
  | { kind: "syscall"; syscall: string; path?: string; source?: string };

export interface Verdict {
  readonly action: "Allow" | "Audit" | "Block";
  /** "rule": a rule matched; "posture": not on an allow-list, default posture applied; "none": no rule, not allow-listed. */
  readonly reason: "rule" | "posture" | "none";
  /** The deciding rule when reason === "rule". */
  readonly rule?: Rule;
  /** The rule's policy (metadata.name); "DefaultPosture" for posture; "" for none. */
  readonly policyName: string;
  readonly severity?: number;
  readonly tags: readonly string[];
  readonly message: string;
}

export const DEFAULT_POSTURE_POLICY = "DefaultPosture";

const patternCache = new Map<string, RegExp>();

function patternMatches(pattern: string, path: string): boolean {
  let re = patternCache.get(pattern);
  if (!re) {
    re = patternToRegExp(pattern);
    if (patternCache.size > 1000) patternCache.clear();
    patternCache.set(pattern, re);
  }
  return re.test(path);
}

/**
 * A directory entry covers the directory itself (opening it to list it) and
 * the files directly in it, or, recursive, everything below it.
 */
function inDirectory(dir: string, recursive: boolean, path: string): boolean {
  if (path === dir || path === dir.slice(0, -1)) return true;
  if (!path.startsWith(dir)) return false;
  const rest = path.slice(dir.length);
  return rest !== "" && (recursive || !rest.includes("/"));
}

export function matchesPath(m: Match, path: string): boolean {
  switch (m.kind) {
    case "path":
      return m.path === path;
    case "directory":
      return inDirectory(m.dir, m.recursive, path);
    case "pattern":
      return patternMatches(m.pattern, path);
  }
}

function sourceMatches(sources: readonly SourceMatch[], source: string | undefined): boolean {
  if (sources.length === 0) return true;
  if (source === undefined || source === "") return false;
  return sources.some((s) => (s.kind === "path" ? s.path === source : inDirectory(s.dir, s.recursive, source) && source !== s.dir.slice(0, -1)));
}

/** Does `rule` (of the operation's category) apply to `op`, qualifiers included? */
function ruleApplies(rule: Rule, op: Exclude<Operation, { kind: "syscall" }>): boolean {
  if (rule.kind !== op.kind) return false;
  if (!sourceMatches(rule.fromSource, op.source)) return false;
  switch (rule.kind) {
    case "process":
    case "file": {
      const o = op as Extract<Operation, { kind: "process" | "file" }>;
      if (!matchesPath(rule.match, o.path)) return false;
      const owner = o.owner === true;
      const write = o.kind === "file" && o.write;
      if (rule.action === "Allow") {
        if (rule.ownerOnly && !owner) return false;
        if (rule.kind === "file" && rule.readOnly && write) return false;
      } else {
        if (rule.ownerOnly && owner) return false;
        if (rule.kind === "file" && rule.readOnly && !write) return false;
      }
      return true;
    }
    case "network":
      return rule.protocol === (op as Extract<Operation, { kind: "network" }>).protocol;
    case "capability":
      return rule.capability === (op as Extract<Operation, { kind: "capability" }>).capability;
  }
}

function syscallRuleApplies(rule: Rule, op: Extract<Operation, { kind: "syscall" }>): boolean {
  if (rule.kind !== "syscall" || !rule.syscalls.includes(op.syscall)) return false;
  if (!sourceMatches(rule.fromSource, op.source)) return false;
  if (rule.paths.length === 0) return true;
  return op.path !== undefined && rule.paths.some((m) => matchesPath(m, op.path!));
}

function ownerOf(effective: EffectivePolicy, rule: Rule): string {
  const i = effective.rules.indexOf(rule);
  const owner = i >= 0 ? effective.ruleOwners?.[i] : undefined;
  if (owner !== undefined) return owner;
  // Hand-built EffectivePolicy without owners: one policy is unambiguous.
  const only = effective.policies.length === 1 ? effective.policies[0]! : "";
  return only.includes("/") ? only.slice(only.indexOf("/") + 1) : only;
}

/** One line naming a rule: "BLOCK file /etc/shadow (read-only) from /bin/cat". */
export function ruleText(rule: Rule): string {
  const q = qualifiers(rule);
  const scope = rule.fromSource.length > 0 ? ` from ${describeSource(rule.fromSource)}` : "";
  return `${rule.action.toUpperCase()} ${rule.kind} ${describeTarget(rule)}${q.length ? ` (${q.join(", ")})` : ""}${scope}`;
}

function byRule(effective: EffectivePolicy, rule: Rule, action: Verdict["action"]): Verdict {
  return {
    action,
    reason: "rule",
    rule,
    policyName: ownerOf(effective, rule),
    severity: rule.severity,
    tags: rule.tags,
    message: rule.message !== "" ? rule.message : ruleText(rule),
  };
}

const NONE: Verdict = Object.freeze({ action: "Allow", reason: "none", policyName: "", tags: Object.freeze([]) as readonly string[], message: "" });

/**
 * Sensors report paths as the program passed them; rules name canonical
 * ones. "/etc/./app//x" and "/etc/app/" are the files "/etc/app/x" and
 * "/etc/app" (symlinks aside, which no path rule resolves either).
 */
function canonical(path: string): string {
  if (!path.startsWith("/")) return path;
  const n = posix.normalize(path);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

export function evaluate(effective: EffectivePolicy, operation: Operation): Verdict {
  const op: Operation =
    operation.kind === "file" || operation.kind === "process"
      ? { ...operation, path: canonical(operation.path) }
      : operation.kind === "syscall" && operation.path !== undefined
        ? { ...operation, path: canonical(operation.path) }
        : operation;
  if (op.kind === "syscall") {
    const hits = effective.rules.filter((r) => syscallRuleApplies(r, op));
    const block = hits.find((r) => r.action === "Block");
    if (block) return byRule(effective, block, "Block");
    // Allow on syscalls builds no allow-list; it is reported like Audit.
    const report = hits.find((r) => r.action === "Audit") ?? hits[0];
    return report ? byRule(effective, report, "Audit") : NONE;
  }
  const category: PostureCategory = op.kind;
  const hits = effective.rules.filter((r) => ruleApplies(r, op));
  const block = hits.find((r) => r.action === "Block");
  if (block) return byRule(effective, block, "Block");
  const audit = hits.find((r) => r.action === "Audit");
  const allow = hits.find((r) => r.action === "Allow");
  if (confined(effective, op)) {
    if (allow) return audit ? byRule(effective, audit, "Audit") : byRule(effective, allow, "Allow");
    // A capability the task lacked: the allow-list is enforced by its absence, and the kernel
    // probes capabilities it can do without (CAP_DAC_READ_SEARCH before a DAC check), so the
    // posture has nothing to report. Block and Audit rules above still name it.
    if (op.kind === "capability" && op.granted === false) return audit ? byRule(effective, audit, "Audit") : NONE;
    const posture = effective.posture[category];
    const also = audit ? `; audited by ${ruleText(audit)}` : "";
    return {
      action: posture === "block" ? "Block" : "Audit",
      reason: "posture",
      policyName: DEFAULT_POSTURE_POLICY,
      tags: [],
      message: `not on the ${category} allow-list of ${effective.policies.join(", ")}: default posture ${posture}${also}`,
    };
  }
  if (audit) return byRule(effective, audit, "Audit");
  if (allow) return byRule(effective, allow, "Allow");
  return NONE;
}

/**
 * Is the operation subject to its category's allow-list? For workloads,
 * whenever the category has one; for hosts, only when some Allow rule of
 * the category names the acting executable in fromSource.
 */
function confined(effective: EffectivePolicy, op: Exclude<Operation, { kind: "syscall" }>): boolean {
  if (!effective.allowList[op.kind]) return false;
  if (effective.target !== "host") return true;
  return effective.rules.some((r) => r.kind === op.kind && r.action === "Allow" && r.fromSource.length > 0 && sourceMatches(r.fromSource, op.source));
}

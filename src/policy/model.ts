/**
 * The frozen, kind-tagged policy model. Parsers (YAML → model) live beside
 * this file; every backend compiler (model → kernel artifacts) lives in
 * `src/compiler`. Nodes are plain readonly objects frozen deep at creation
 * (see `freezeDeep`), so a compiled policy cannot drift from the one that
 * was validated and signed.
 *
 * Naming follows KubeArmor's spec (security.kubearmor.com/v1) so a security
 * engineer can map every node back to the YAML field it came from.
 */

export type Action = "Allow" | "Audit" | "Block";

/** Where a node came from, for error messages and `policy explain`. */
export interface Origin {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Field path, e.g. `spec.file.matchDirectories[1]`. */
  readonly path: string;
}

// ---------------------------------------------------------------- matchers

/** One absolute path (`matchPaths[].path`). */
export interface PathMatch {
  readonly kind: "path";
  readonly path: string;
}

/** A directory, optionally recursive (`matchDirectories[].dir`, always ends with `/`). */
export interface DirectoryMatch {
  readonly kind: "directory";
  readonly dir: string;
  readonly recursive: boolean;
}

/** A glob-like pattern as KubeArmor defines it (`matchPatterns[].pattern`). */
export interface PatternMatch {
  readonly kind: "pattern";
  readonly pattern: string;
}

export type Match = PathMatch | DirectoryMatch | PatternMatch;

/**
 * `fromSource`: the rule applies only when the acting process's executable is
 * this path or lies under this directory. An empty list means "any process".
 */
export type SourceMatch = PathMatch | DirectoryMatch;

/** Fields every rule carries; rule-level values override the policy's. */
interface RuleBase {
  readonly action: Action;
  readonly severity: number;
  readonly tags: readonly string[];
  readonly message: string;
  readonly fromSource: readonly SourceMatch[];
  readonly origin: Origin;
}

// ---------------------------------------------------------------- rules

export interface ProcessRule extends RuleBase {
  readonly kind: "process";
  readonly match: Match;
  readonly ownerOnly: boolean;
}

export interface FileRule extends RuleBase {
  readonly kind: "file";
  readonly match: Match;
  readonly ownerOnly: boolean;
  /** With Allow: reads only. With Block/Audit: only writes are blocked/audited. */
  readonly readOnly: boolean;
}

export type NetworkProtocol = "tcp" | "udp" | "icmp" | "icmpv6" | "raw" | "sctp";

export interface NetworkRule extends RuleBase {
  readonly kind: "network";
  readonly protocol: NetworkProtocol;
}

export interface CapabilityRule extends RuleBase {
  readonly kind: "capability";
  /** Lower-case, without `CAP_`, as KubeArmor writes it: `net_raw`, `sys_admin`. */
  readonly capability: string;
}

/**
 * KubeArmor only audits syscalls whatever the action. Palisade keeps the
 * resolved action: Block is enforced (seccomp), Audit is logged, and Allow
 * never builds an allow-list (it is logged like Audit). See docs/policy.md.
 */
export interface SyscallRule extends RuleBase {
  readonly kind: "syscall";
  /** Lower-case syscall names, e.g. `unlink`, `init_module`. */
  readonly syscalls: readonly string[];
  /** From `syscalls.matchPaths`: the syscalls are matched only on these paths. Empty = any path. */
  readonly paths: readonly (PathMatch | DirectoryMatch)[];
}

export type Rule = ProcessRule | FileRule | NetworkRule | CapabilityRule | SyscallRule;
export type RuleKind = Rule["kind"];

// ---------------------------------------------------------------- unenforced

/** Plain JSON, as written in the YAML (after normalising spellings). */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * KubeArmor v1 features that Palisade parses and keeps, but that no rule kind
 * above can express: `process.matchPaths[].execname` and `.allowedArgs`,
 * protocols outside NetworkProtocol (`all`, socket types, address families
 * such as `AF_RDS`), `network.matchDNSQueries` ("dns"), rules qualified by
 * `pts` (terminal sessions), `spec.presets`, `spec.apparmor` and host
 * `spec.device`. They are never dropped: a compiler must fail closed
 * (COMPILE_UNSUPPORTED) on any note unless it can enforce it or the workload
 * runs with the Audit posture. See docs/policy.md.
 */
export type UnenforcedFeature = "execname" | "allowedArgs" | "network-protocol" | "dns" | "pts" | "presets" | "apparmor" | "device";

export interface UnenforcedNote {
  readonly kind: "unenforced";
  readonly feature: UnenforcedFeature;
  /** The rule category it belongs to; "policy" for spec-level features (presets, apparmor, device). */
  readonly category: RuleKind | "policy";
  /** The resolved action (rule, then section, then spec level). */
  readonly action: Action;
  /** Why the model cannot carry it, for `policy explain` and compile errors. */
  readonly reason: string;
  /** The entry as written (spellings normalised, action/severity/tags/message resolved). */
  readonly value: JsonValue;
  readonly origin: Origin;
}

// ---------------------------------------------------------------- selectors

export type SelectorOperator = "In" | "NotIn" | "Exists" | "DoesNotExist";

export interface LabelExpression {
  readonly key: string;
  readonly operator: SelectorOperator;
  readonly values: readonly string[];
}

export interface Selector {
  readonly kind: "selector";
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly LabelExpression[];
}

// ---------------------------------------------------------------- policy

export type PolicyKind = "KubeArmorPolicy" | "KubeArmorHostPolicy";

export interface Policy {
  readonly kind: "policy";
  readonly policyKind: PolicyKind;
  readonly name: string;
  readonly namespace: string;
  /** `spec.selector` for KubeArmorPolicy, `spec.nodeSelector` for KubeArmorHostPolicy. */
  readonly selector: Selector;
  /** The spec-level action; each rule carries its resolved action too. */
  readonly action: Action;
  readonly severity: number;
  readonly tags: readonly string[];
  readonly message: string;
  readonly rules: readonly Rule[];
  readonly origin: Origin;
  /** Features kept but not expressible as rules; the parser always sets it (possibly empty). */
  readonly unenforced?: readonly UnenforcedNote[];
  /** `metadata.labels` / `metadata.annotations` of the policy object itself (informational). */
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

// ---------------------------------------------------------------- combined

/** What happens to an operation in a category that no Allow rule lists. */
export type Posture = "block" | "audit";

/** The categories that can become allow-lists (syscall rules never do). */
export type PostureCategory = "process" | "file" | "network" | "capability";

/**
 * All policies that select one workload, combined (see docs/policy.md).
 * `allowList[category]` is true when some Allow rule exists in that category,
 * which turns the category into a whitelist with `posture[category]` for the rest.
 */
export interface EffectivePolicy {
  readonly kind: "effective-policy";
  readonly policies: readonly string[];
  readonly rules: readonly Rule[];
  readonly allowList: Readonly<Record<"process" | "file" | "network" | "capability", boolean>>;
  readonly posture: Readonly<Record<"process" | "file" | "network" | "capability", Posture>>;
  /**
   * "workload" (KubeArmorPolicy against workload labels) or "host"
   * (KubeArmorHostPolicy against node labels). For "host", an allow-list
   * confines only the source processes its Allow rules name (KubeArmor's
   * host semantics); for "workload" it confines the whole workload.
   */
  readonly target?: "workload" | "host";
  /** Unenforced features of the selected policies; non-empty means fail closed unless audited. */
  readonly unenforced?: readonly UnenforcedNote[];
  /** Allow rules made moot by a Block rule on the same target whose source scope covers theirs. */
  readonly overridden?: readonly { readonly rule: Rule; readonly by: Rule }[];
  /** `metadata.name` of the policy each rule came from (same order as `rules`), for alerts' PolicyName. */
  readonly ruleOwners?: readonly string[];
}

/** Deep-freezes a freshly built node tree. Call once, at construction. */
export function freezeDeep<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const v of Object.values(value as Record<string, unknown>)) freezeDeep(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Which policies apply to a workload (or a node), and what they mean
 * together. The rules, following KubeArmor (docs/policy.md has examples):
 *
 * - A KubeArmorPolicy selects workloads in its own namespace whose labels
 *   match its selector; a KubeArmorHostPolicy selects nodes by label.
 * - One Allow rule in a category (process, file, network, capability) turns
 *   that whole category into an allow-list; anything it does not list gets
 *   the default posture — Block in Palisade (KubeArmor defaults to Audit),
 *   Audit when the workload or operator says so.
 * - Block beats Allow on the same target; Audit never grants.
 * - Syscall rules never form an allow-list.
 */
import { freezeDeep, type EffectivePolicy, type Posture, type PostureCategory, type Policy, type Rule, type Selector } from "./model.js";
import { sourceKey, targetKey } from "./ruleText.js";

export const POSTURE_CATEGORIES: readonly PostureCategory[] = ["process", "file", "network", "capability"];

/** Kubernetes label-selector semantics; an empty selector selects everything. */
export function selects(selector: Selector, labels: Readonly<Record<string, string>>): boolean {
  const has = (k: string) => Object.prototype.hasOwnProperty.call(labels, k);
  for (const [k, v] of Object.entries(selector.matchLabels)) if (!has(k) || labels[k] !== v) return false;
  for (const e of selector.matchExpressions) {
    switch (e.operator) {
      case "In":
        if (!has(e.key) || !e.values.includes(labels[e.key]!)) return false;
        break;
      case "NotIn":
        if (has(e.key) && e.values.includes(labels[e.key]!)) return false;
        break;
      case "Exists":
        if (!has(e.key)) return false;
        break;
      case "DoesNotExist":
        if (has(e.key)) return false;
        break;
    }
  }
  return true;
}

export interface CombineOptions {
  /**
   * What unlisted operations get in an allow-listed category. One value for
   * all, or per category; as in KubeArmor, process follows file unless set.
   * Default: block.
   */
  readonly defaultPosture?: Posture | Partial<Readonly<Record<PostureCategory, Posture>>>;
  /** The workload's namespace: a KubeArmorPolicy applies only in its own. Omit to ignore namespaces. */
  readonly namespace?: string;
  /** "workload" (default): KubeArmorPolicy vs workload labels. "host": KubeArmorHostPolicy vs node labels. */
  readonly target?: "workload" | "host";
}

export function resolvePosture(p: CombineOptions["defaultPosture"]): Record<PostureCategory, Posture> {
  if (p === undefined || typeof p === "string") {
    const all = p ?? "block";
    return { process: all, file: all, network: all, capability: all };
  }
  const file = p.file ?? "block";
  return { process: p.process ?? file, file, network: p.network ?? "block", capability: p.capability ?? "block" };
}

export function policyId(p: Policy): string {
  return p.namespace ? `${p.namespace}/${p.name}` : p.name;
}

export function combinePolicies(policies: readonly Policy[], labels: Readonly<Record<string, string>>, options: CombineOptions = {}): EffectivePolicy {
  const target = options.target ?? "workload";
  const wanted = target === "host" ? "KubeArmorHostPolicy" : "KubeArmorPolicy";
  const selected = policies.filter(
    (p) => p.policyKind === wanted && (target === "host" || options.namespace === undefined || p.namespace === options.namespace) && selects(p.selector, labels),
  );
  const rules = selected.flatMap((p) => p.rules);
  const allowList = {
    process: hasAllow(rules, "process"),
    file: hasAllow(rules, "file"),
    network: hasAllow(rules, "network"),
    capability: hasAllow(rules, "capability"),
  };
  return freezeDeep({
    kind: "effective-policy",
    policies: selected.map(policyId),
    rules,
    allowList,
    posture: resolvePosture(options.defaultPosture),
    target,
    unenforced: selected.flatMap((p) => p.unenforced ?? []),
    overridden: overriddenAllows(rules),
    ruleOwners: selected.flatMap((p) => p.rules.map(() => p.name)),
  });
}

function hasAllow(rules: readonly Rule[], kind: PostureCategory): boolean {
  return rules.some((r) => r.kind === kind && r.action === "Allow");
}

/**
 * Allow rules that a Block rule makes moot: same target, and the Block's
 * source scope covers the Allow's (no fromSource, or the same sources). A
 * Block narrowed by ownerOnly or readOnly blocks only part of the target, so
 * it does not make an Allow moot.
 */
function overriddenAllows(rules: readonly Rule[]): { rule: Rule; by: Rule }[] {
  const out: { rule: Rule; by: Rule }[] = [];
  for (const allow of rules) {
    if (allow.action !== "Allow" || allow.kind === "syscall") continue;
    const by = rules.find(
      (b) =>
        b.action === "Block" &&
        targetKey(b) === targetKey(allow) &&
        (b.fromSource.length === 0 || sourceKey(b.fromSource) === sourceKey(allow.fromSource)) &&
        !((b.kind === "process" || b.kind === "file") && b.ownerOnly) &&
        !(b.kind === "file" && b.readOnly),
    );
    if (by) out.push({ rule: allow, by });
  }
  return out;
}

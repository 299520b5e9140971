/**
 * `palisade policy explain`: what a set of policies does, in sentences a
 * security engineer can check against intent — who is selected, what is
 * allowed, blocked and audited per category, what happens to everything
 * else, and what the kernel might not be able to enforce. The structured form
 * (`explainPolicyData`) is the `--json` output; the text is rendered from it.
 */
import type { Action, Policy, Posture, PostureCategory, Rule, RuleKind, Selector } from "./model.js";
import type { Workload } from "./workload.js";
import { combinePolicies, policyId, selects } from "./combine.js";
import { describeSource, describeTarget } from "./ruleText.js";

export interface ExplainOptions {
  /** Workloads to show the combined effect on (e.g. those in the same file). */
  readonly workloads?: readonly Workload[];
  /** Overrides each workload's own default posture (the CLI's --default-posture). */
  readonly defaultPosture?: Posture;
}

export interface RuleLine {
  readonly action: Action;
  readonly text: string;
  readonly where: string;
}

export interface CategoryExplanation {
  readonly category: RuleKind;
  readonly title: string;
  readonly rules: readonly RuleLine[];
  readonly unlisted: string;
}

export interface PolicyExplanation {
  readonly id: string;
  readonly kind: Policy["policyKind"];
  readonly where: string;
  readonly appliesTo: string;
  readonly selects?: readonly string[];
  readonly alerts: string;
  readonly categories: readonly CategoryExplanation[];
  readonly caveats: readonly string[];
}

export interface WorkloadExplanation {
  readonly workload: string;
  readonly policies: readonly string[];
  readonly categories: readonly { readonly category: PostureCategory; readonly title: string; readonly summary: string }[];
  readonly overridden: readonly string[];
  readonly caveats: readonly string[];
}

export interface Explanation {
  readonly policies: readonly PolicyExplanation[];
  readonly workloads: readonly WorkloadExplanation[];
}

const TITLES: Readonly<Record<RuleKind, string>> = {
  process: "Process execution",
  file: "File access",
  network: "Network",
  capability: "Capabilities",
  syscall: "System calls",
};
const ORDER: readonly RuleKind[] = ["process", "file", "network", "capability", "syscall"];
const BPF_LSM = "needs BPF-LSM, see `palisade inspect`";

function where(o: { file: string; line: number }): string {
  return `${o.file}:${o.line}`;
}

function describeSelector(s: Selector): string {
  const parts = Object.entries(s.matchLabels).map(([k, v]) => `${k}=${v}`);
  for (const e of s.matchExpressions) {
    if (e.operator === "In") parts.push(`${e.key} in (${e.values.join(", ")})`);
    else if (e.operator === "NotIn") parts.push(`${e.key} not in (${e.values.join(", ")})`);
    else if (e.operator === "Exists") parts.push(`label ${e.key} present`);
    else parts.push(`label ${e.key} absent`);
  }
  return parts.join(", ");
}

function appliesTo(p: Policy): string {
  const sel = describeSelector(p.selector);
  if (p.policyKind === "KubeArmorHostPolicy") return sel ? `nodes labelled ${sel}` : "every node (the nodeSelector is empty)";
  return sel ? `workloads in namespace "${p.namespace}" labelled ${sel}` : `every workload in namespace "${p.namespace}" (the selector is empty)`;
}

function metaText(p: Policy, r: { severity: number; tags: readonly string[]; message: string }): string {
  const parts: string[] = [];
  if (r.severity !== p.severity) parts.push(`severity ${r.severity}`);
  if (r.tags.join() !== p.tags.join()) parts.push(`tags ${r.tags.join(", ") || "(none)"}`);
  if (r.message !== p.message) parts.push(`message ${JSON.stringify(r.message)}`);
  return parts.length ? ` [${parts.join("; ")}]` : "";
}

function ruleText(p: Policy, r: Rule): string {
  let text = describeTarget(r);
  const notes: string[] = [];
  if (r.kind === "file" && r.readOnly) notes.push(r.action === "Allow" ? "reading only; writes fall to the default posture" : "writes only; reading is not affected");
  if ((r.kind === "process" || r.kind === "file") && r.ownerOnly) notes.push(r.action === "Allow" ? "for the file's owner only" : "for everyone but the file's owner");
  if (r.kind === "syscall" && r.action === "Allow") notes.push("logged only: syscall rules never form an allow-list");
  if (r.kind === "syscall" && r.action === "Block") notes.push("enforced with seccomp; KubeArmor would only audit it");
  if (notes.length) text += ` (${notes.join("; ")})`;
  if (r.fromSource.length) text += ` — only when done by ${describeSource(r.fromSource)}`;
  return text + metaText(p, r);
}

function unlisted(p: Policy, kind: RuleKind, rules: readonly Rule[], posture: Posture | undefined): string {
  if (kind === "syscall") return "Other syscalls: not restricted by this policy.";
  const allows = rules.filter((r) => r.action === "Allow");
  if (allows.length === 0) return "Anything not listed: not restricted by this policy.";
  const outcome = posture ? `${posture === "block" ? "blocked" : "allowed but audited"} (default posture: ${posture})` : "blocked by the default posture (block, unless the workload sets audit)";
  if (p.policyKind === "KubeArmorHostPolicy") {
    const sources = describeSource(allows.flatMap((r) => r.fromSource));
    return `Anything else done by ${sources}: ${outcome}; other programs on the node are not affected.`;
  }
  return `Anything not listed: ${outcome} — an Allow rule makes ${TITLES[kind].toLowerCase()} an allow-list for every workload this policy selects.`;
}

function caveats(rules: readonly Rule[], notes: Policy["unenforced"]): string[] {
  const out: string[] = [];
  const count = (n: number, what: string) => `${n} rule${n === 1 ? " is" : "s are"} ${what}`;
  const scoped = rules.filter((r) => r.fromSource.length > 0).length;
  if (scoped) out.push(`${count(scoped, "scoped to a source process")}: ${BPF_LSM}.`);
  const owner = rules.filter((r) => (r.kind === "process" || r.kind === "file") && r.ownerOnly).length;
  if (owner) out.push(`${count(owner, "owner-only")}: ${BPF_LSM}.`);
  const patterns = rules.filter((r) => (r.kind === "process" || r.kind === "file") && r.match.kind === "pattern").length;
  if (patterns) out.push(`${count(patterns, "glob patterns")}: Landlock cannot express them; ${BPF_LSM}.`);
  for (const n of notes ?? []) {
    out.push(`Not enforceable (${n.feature} at ${n.origin.path}, ${n.action}): ${n.reason}. A workload this selects starts only in Audit posture.`);
  }
  return out;
}

function explainOne(p: Policy, options: ExplainOptions): PolicyExplanation {
  const categories: CategoryExplanation[] = [];
  for (const kind of ORDER) {
    const rules = p.rules.filter((r) => r.kind === kind);
    if (rules.length === 0) continue;
    const lines = [...rules].sort((a, b) => rank(a.action) - rank(b.action)).map((r) => ({ action: r.action, text: ruleText(p, r), where: where(r.origin) }));
    categories.push({ category: kind, title: TITLES[kind], rules: lines, unlisted: unlisted(p, kind, rules, options.defaultPosture) });
  }
  const tags = p.tags.length ? `; tags ${p.tags.join(", ")}` : "";
  const message = p.message ? `; message ${JSON.stringify(p.message)}` : "";
  const selected =
    options.workloads && p.policyKind === "KubeArmorPolicy"
      ? { selects: options.workloads.filter((w) => w.namespace === p.namespace && selects(p.selector, w.labels)).map((w) => `${w.namespace}/${w.name}`) }
      : {};
  return {
    id: policyId(p),
    kind: p.policyKind,
    where: where(p.origin),
    appliesTo: appliesTo(p),
    ...selected,
    alerts: `severity ${p.severity}${tags}${message}`,
    categories,
    caveats: caveats(p.rules, p.unenforced),
  };
}

function rank(a: Action): number {
  return a === "Block" ? 0 : a === "Audit" ? 1 : 2;
}

function explainWorkload(policies: readonly Policy[], w: Workload, options: ExplainOptions): WorkloadExplanation {
  const eff = combinePolicies(policies, w.labels, { namespace: w.namespace, defaultPosture: options.defaultPosture ?? w.defaultPosture });
  const categories = (["process", "file", "network", "capability"] as const).map((c) => ({
    category: c,
    title: TITLES[c],
    summary: eff.allowList[c]
      ? `allow-list: only what Allow rules list; anything else is ${eff.posture[c] === "block" ? "blocked" : "allowed but audited"} (posture ${eff.posture[c]}).`
      : eff.rules.some((r) => r.kind === c)
        ? "deny-list: only what Block rules list is blocked; the rest is allowed."
        : "no rules: not restricted by policy (the workload's interfaces and confinement still apply).",
  }));
  const fmt = (r: Rule) => `${r.action.toUpperCase()} ${describeTarget(r)} (${where(r.origin)})`;
  return {
    workload: `${w.namespace}/${w.name}`,
    policies: eff.policies,
    categories,
    overridden: (eff.overridden ?? []).map((o) => `${fmt(o.rule)} has no effect: ${fmt(o.by)} takes precedence.`),
    caveats: caveats(eff.rules, eff.unenforced),
  };
}

export function explainPolicyData(policies: readonly Policy[], options: ExplainOptions = {}): Explanation {
  return {
    policies: policies.map((p) => explainOne(p, options)),
    workloads: (options.workloads ?? []).map((w) => explainWorkload(policies, w, options)),
  };
}

/** Plain-language explanation of each policy, then of their combined effect on each given workload. */
export function explainPolicy(policies: readonly Policy[], options: ExplainOptions = {}): string {
  const data = explainPolicyData(policies, options);
  const out: string[] = [];
  for (const p of data.policies) {
    out.push(`${p.kind} ${p.id} (${p.where})`);
    out.push(`  Applies to: ${p.appliesTo}`);
    if (p.selects) out.push(`  Selects here: ${p.selects.length ? p.selects.join(", ") : "no workload in these files"}`);
    out.push(`  Alerts: ${p.alerts}`);
    for (const c of p.categories) {
      out.push(`  ${c.title}:`);
      for (const r of c.rules) out.push(`    ${r.action.toUpperCase().padEnd(5)}  ${r.text}`);
      out.push(`    ${c.unlisted}`);
    }
    if (p.caveats.length) {
      out.push("  Caveats:");
      for (const c of p.caveats) out.push(`    - ${c}`);
    }
    out.push("");
  }
  for (const w of data.workloads) {
    out.push(`Workload ${w.workload}: ${w.policies.length ? `${w.policies.length} ${w.policies.length === 1 ? "policy applies" : "policies apply"} (${w.policies.join(", ")})` : "no policy applies"}`);
    for (const c of w.categories) out.push(`  ${c.title}: ${c.summary}`);
    for (const o of w.overridden) out.push(`  Note: ${o}`);
    for (const c of w.caveats) out.push(`  Caveat: ${c}`);
    out.push("");
  }
  return out.join("\n");
}

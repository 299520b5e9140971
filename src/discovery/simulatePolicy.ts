/**
 * Replays recorded operations against policies (`palisade policy simulate`):
 * for each record, what the policies would have decided (Allow, Audit,
 * Block) and which rule decided, plus totals. Records go through the same
 * operationOf() and evaluate() as the live pipeline, so a simulation and
 * the alerts the workload would raise under those policies agree.
 *
 * Which policies apply: combinePolicies() with the workload labels given,
 * else the record's own `Labels` ("k=v,k=v"); a record with neither is
 * checked against every KubeArmorPolicy given (selectors ignored, said in
 * `selectorsIgnored`). Namespaces are ignored unless one is given. Host
 * policies are not simulated.
 */
import { combinePolicies, evaluate, ruleText, type EffectivePolicy, type Operation, type Policy, type Posture, type Verdict } from "../policy/index.js";
import { operationOf } from "../sensor/logOperation.js";
import type { LineRecord, RecordLike } from "./recordLines.js";

export interface SimulateOptions {
  readonly labels?: Readonly<Record<string, string>>;
  readonly namespace?: string;
  readonly defaultPosture?: Posture;
}

export interface SimulatedRecord {
  readonly line?: number;
  readonly seq?: number;
  readonly workload?: string;
  readonly operation: string;
  readonly resource: string;
  /** What was evaluated; absent when the record stands for no policy operation. */
  readonly op?: Operation;
  readonly verdict?: {
    readonly action: Verdict["action"];
    readonly reason: Verdict["reason"];
    readonly policyName: string;
    readonly rule?: string;
    /** "file:line" of the deciding rule. */
    readonly ruleAt?: string;
    readonly severity?: number;
    readonly message: string;
  };
  /** What actually happened when it was recorded (Result / Action), for comparison. */
  readonly recorded: { readonly result: string; readonly action?: string };
}

export interface RuleTally {
  readonly policyName: string;
  readonly rule: string;
  readonly ruleAt?: string;
  readonly action: Verdict["action"];
  readonly count: number;
}

export interface Simulation {
  readonly results: readonly SimulatedRecord[];
  readonly totals: { readonly records: number; readonly Allow: number; readonly Audit: number; readonly Block: number; readonly noOperation: number };
  readonly byRule: readonly RuleTally[];
  readonly selectorsIgnored: number;
}

/** "app=web,tier=front" → labels; undefined for an absent or empty value. */
export function parseLabelList(text: unknown): Record<string, string> | undefined {
  if (typeof text !== "string" || text.trim() === "") return undefined;
  const out: Record<string, string> = {};
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

function isLineRecord(r: LineRecord | RecordLike): r is LineRecord {
  return typeof (r as LineRecord).line === "number" && typeof (r as LineRecord).record === "object";
}

export function simulatePolicy(policies: readonly Policy[], records: readonly (LineRecord | RecordLike)[], opts: SimulateOptions = {}): Simulation {
  const workloadPolicies = policies.filter((p) => p.policyKind === "KubeArmorPolicy");
  const unselective = workloadPolicies.map((p) => ({ ...p, selector: { kind: "selector" as const, matchLabels: {}, matchExpressions: [] } }));
  const cache = new Map<string, EffectivePolicy>();
  const combined = (labels: Readonly<Record<string, string>> | undefined): EffectivePolicy => {
    const key = labels === undefined ? "" : JSON.stringify(Object.entries(labels).sort());
    let eff = cache.get(key);
    if (!eff) {
      const common = { ...(opts.defaultPosture ? { defaultPosture: opts.defaultPosture } : {}), ...(opts.namespace !== undefined ? { namespace: opts.namespace } : {}) };
      eff = labels === undefined ? combinePolicies(unselective, {}, common) : combinePolicies(workloadPolicies, labels, common);
      cache.set(key, eff);
    }
    return eff;
  };

  const results: SimulatedRecord[] = [];
  const totals = { records: 0, Allow: 0, Audit: 0, Block: 0, noOperation: 0 };
  const tallies = new Map<string, { policyName: string; rule: string; ruleAt?: string; action: Verdict["action"]; count: number }>();
  let selectorsIgnored = 0;
  for (const item of records) {
    const lr = isLineRecord(item) ? item : undefined;
    const record = lr ? lr.record : (item as RecordLike);
    totals.records++;
    const base = {
      ...(lr ? { line: lr.line } : {}),
      ...(lr?.seq !== undefined ? { seq: lr.seq } : {}),
      ...(lr?.workload !== undefined ? { workload: lr.workload } : {}),
      operation: String(record.Operation ?? ""),
      resource: String(record.Resource ?? ""),
      recorded: { result: String(record.Result ?? ""), ...(typeof record.Action === "string" ? { action: record.Action } : {}) },
    };
    const op = operationOf(record);
    if (!op) {
      totals.noOperation++;
      results.push(base);
      continue;
    }
    const labels = opts.labels ?? parseLabelList(record.Labels);
    if (labels === undefined) selectorsIgnored++;
    const v = evaluate(combined(labels), op);
    totals[v.action]++;
    const rule = v.rule ? ruleText(v.rule) : v.reason === "posture" ? `default posture (${v.message})` : undefined;
    const ruleAt = v.rule ? `${v.rule.origin.file}:${v.rule.origin.line}` : undefined;
    if (rule !== undefined) {
      const k = JSON.stringify([v.policyName, rule, ruleAt, v.action]);
      const t = tallies.get(k) ?? { policyName: v.policyName, rule: v.rule ? ruleText(v.rule) : "default posture", ...(ruleAt ? { ruleAt } : {}), action: v.action, count: 0 };
      t.count++;
      tallies.set(k, t);
    }
    results.push({
      ...base,
      op,
      verdict: {
        action: v.action,
        reason: v.reason,
        policyName: v.policyName,
        ...(rule !== undefined ? { rule } : {}),
        ...(ruleAt ? { ruleAt } : {}),
        ...(v.severity !== undefined ? { severity: v.severity } : {}),
        message: v.message,
      },
    });
  }
  const byRule = [...tallies.values()].sort((a, b) => b.count - a.count);
  return { results, totals, byRule, selectorsIgnored };
}

/** Human report: one line per record that is not plainly allowed, then the tallies. */
export function renderSimulation(s: Simulation, opts: { all?: boolean } = {}): string {
  let out = "";
  for (const r of s.results) {
    const where = r.line !== undefined ? `line ${r.line}` : r.seq !== undefined ? `seq ${r.seq}` : "";
    if (!r.verdict) {
      if (opts.all) out += `${where}  -      ${r.operation} ${r.resource}: no policy operation\n`;
      continue;
    }
    if (!opts.all && r.verdict.action === "Allow" && r.verdict.reason === "none") continue;
    const by = r.verdict.reason === "rule" ? `${r.verdict.policyName}: ${r.verdict.rule}${r.verdict.ruleAt ? ` (${r.verdict.ruleAt})` : ""}` : r.verdict.reason === "posture" ? "DefaultPosture" : "no rule";
    out += `${where}  ${r.verdict.action.toUpperCase().padEnd(5)}  ${r.operation} ${r.resource}  ← ${by}\n`;
  }
  if (out) out += "\n";
  if (s.byRule.length) {
    out += "by rule:\n";
    for (const t of s.byRule) out += `  ${String(t.count).padStart(6)}  ${t.action.toUpperCase().padEnd(5)}  ${t.policyName ? `${t.policyName}: ` : ""}${t.rule}${t.ruleAt ? ` (${t.ruleAt})` : ""}\n`;
    out += "\n";
  }
  const t = s.totals;
  out += `${t.records} records: ${t.Block} would be blocked, ${t.Audit} audited, ${t.Allow} allowed, ${t.noOperation} with no policy operation\n`;
  if (s.selectorsIgnored) out += `note: ${s.selectorsIgnored} records carried no Labels; every KubeArmorPolicy was applied to them (pass --workload-labels to select)\n`;
  return out;
}

/**
 * Log or alert: what the policy says about a record the pipeline makes
 * (docs/sensor.md, "Log or alert"), and for which Operations it can say
 * anything at all (the rest skip evaluate()).
 */
import type { Verdict } from "../policy/evaluate.js";
import type { EffectivePolicy, RuleKind } from "../policy/model.js";
import type { PolicyMatch } from "./kubearmor.js";

const OPERATION_KIND: Readonly<Record<string, RuleKind>> = { Process: "process", File: "file", Network: "network", Capabilities: "capability", Syscall: "syscall" };

/** The KubeArmor Operations for which evaluate() can return anything but "no rule": the rest is a log without asking. */
export function decidingOperations(p: EffectivePolicy): Set<string> {
  const kinds = new Set<string>(p.rules.map((r) => r.kind));
  for (const [k, on] of Object.entries(p.allowList)) if (on) kinds.add(k);
  return new Set(Object.keys(OPERATION_KIND).filter((op) => kinds.has(OPERATION_KIND[op]!)));
}

/** The policy's part in a record: which rule (or posture) makes it an alert, and with which Action. */
export function decide(verdict: Verdict | undefined, refused: boolean, auditOnly: boolean): PolicyMatch | undefined {
  if (refused) {
    // The kernel said no; the verdict names why when the policy blocks it, else toKubeArmor's DefaultPosture.
    return verdict?.action === "Block" ? matchOf(verdict, "Block") : undefined;
  }
  if (!verdict || verdict.action === "Allow") return undefined;
  if (verdict.action === "Block") return matchOf(verdict, auditOnly ? "Audit" : "Block");
  return matchOf(verdict, "Audit");
}

function matchOf(v: Verdict, action: PolicyMatch["action"]): PolicyMatch {
  return {
    policyName: v.policyName || "DefaultPosture",
    ...(v.severity !== undefined ? { severity: v.severity } : {}),
    tags: v.tags,
    message: v.message,
    action,
  };
}

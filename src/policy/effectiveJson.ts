/**
 * An EffectivePolicy (combinePolicies) read back from JSON. The model is
 * plain data, so `JSON.stringify(effective)` is its serialised form; this is
 * the way back, for a process that must not load the YAML parsers (the
 * agent keeps the effective policy of each bundle it accepted and gives it
 * to its sensor).
 *
 * The check is structural: every field the matcher (evaluate.ts) reads has
 * the type it expects, so a damaged copy is refused (undefined) rather than
 * read as a weaker policy. It is not a second validator of policy
 * semantics: the parsers did that when the policy was combined.
 */
import { freezeDeep, type EffectivePolicy } from "./model.js";

const ACTIONS = new Set(["Allow", "Audit", "Block"]);
const CATEGORIES = ["process", "file", "network", "capability"] as const;
const PROTOCOLS = new Set(["tcp", "udp", "icmp", "icmpv6", "raw", "sctp"]);

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");

function isPathOrDir(v: unknown): boolean {
  if (!isObj(v)) return false;
  if (v.kind === "path") return typeof v.path === "string";
  if (v.kind === "directory") return typeof v.dir === "string" && typeof v.recursive === "boolean";
  return false;
}

function isMatch(v: unknown): boolean {
  return isPathOrDir(v) || (isObj(v) && v.kind === "pattern" && typeof v.pattern === "string");
}

function isRule(v: unknown): boolean {
  if (!isObj(v)) return false;
  const base =
    typeof v.action === "string" &&
    ACTIONS.has(v.action) &&
    typeof v.severity === "number" &&
    isStrings(v.tags) &&
    typeof v.message === "string" &&
    Array.isArray(v.fromSource) &&
    v.fromSource.every(isPathOrDir) &&
    isObj(v.origin);
  if (!base) return false;
  switch (v.kind) {
    case "process":
      return isMatch(v.match) && typeof v.ownerOnly === "boolean";
    case "file":
      return isMatch(v.match) && typeof v.ownerOnly === "boolean" && typeof v.readOnly === "boolean";
    case "network":
      return typeof v.protocol === "string" && PROTOCOLS.has(v.protocol);
    case "capability":
      return typeof v.capability === "string";
    case "syscall":
      return isStrings(v.syscalls) && Array.isArray(v.paths) && v.paths.every(isPathOrDir);
    default:
      return false;
  }
}

/** The effective policy `v` (parsed JSON) describes, frozen; undefined if it is not one. */
export function effectivePolicyFromJson(v: unknown): EffectivePolicy | undefined {
  if (!isObj(v) || v.kind !== "effective-policy" || !isStrings(v.policies)) return undefined;
  if (!Array.isArray(v.rules) || !v.rules.every(isRule)) return undefined;
  const allowList = v.allowList;
  const posture = v.posture;
  if (!isObj(allowList) || !CATEGORIES.every((c) => typeof allowList[c] === "boolean")) return undefined;
  if (!isObj(posture) || !CATEGORIES.every((c) => posture[c] === "block" || posture[c] === "audit")) return undefined;
  if (v.target !== undefined && v.target !== "workload" && v.target !== "host") return undefined;
  if (v.unenforced !== undefined && !(Array.isArray(v.unenforced) && v.unenforced.every(isObj))) return undefined;
  if (v.overridden !== undefined && !(Array.isArray(v.overridden) && v.overridden.every((o) => isObj(o) && isRule(o.rule) && isRule(o.by)))) return undefined;
  // PolicyName of an alert is looked up by rule index: a list of another length would name the wrong policy.
  if (v.ruleOwners !== undefined && !(isStrings(v.ruleOwners) && v.ruleOwners.length === v.rules.length)) return undefined;
  return freezeDeep(v as unknown as EffectivePolicy);
}

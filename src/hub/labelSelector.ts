/**
 * Kubernetes-style label selectors, the way deployments pick nodes:
 * every matchLabels pair must be present and equal, and every
 * matchExpressions entry must hold (In / NotIn / Exists / DoesNotExist).
 * An empty selector selects every node of the org, as in Kubernetes.
 */
import { canonicalJson } from "../core/signing/canonicalJson.js";
import { hubError } from "./httpErrors.js";
import type { LabelSelector } from "./apiSchemas.js";

export type Labels = Readonly<Record<string, string>>;

export function selectorMatches(selector: LabelSelector, labels: Labels): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const value = labels[e.key];
    switch (e.operator) {
      case "In":
        if (!has || !(e.values ?? []).includes(value as string)) return false;
        break;
      case "NotIn":
        if (has && (e.values ?? []).includes(value as string)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
    }
  }
  return true;
}

/** Refuses selectors whose expressions are malformed in ways the schema cannot say. */
export function checkSelector(selector: LabelSelector, path: string): void {
  (selector.matchExpressions ?? []).forEach((e, i) => {
    const needsValues = e.operator === "In" || e.operator === "NotIn";
    const n = e.values?.length ?? 0;
    if (needsValues && n === 0) throw hubError("HUB_BAD_REQUEST", `${path}.matchExpressions[${i}]: operator ${e.operator} needs a non-empty values list`, "add values: [...]");
    if (!needsValues && n > 0) throw hubError("HUB_BAD_REQUEST", `${path}.matchExpressions[${i}]: operator ${e.operator} takes no values`, "remove values");
  });
}

/** A stable key for a label set: equal label sets share a desired-state cache entry. */
export function labelSetKey(labels: Labels): string {
  return canonicalJson(labels);
}

/**
 * Parses the `?selector=` query form: comma-separated `key=value`,
 * `key!=value`, `key` (exists) and `!key` (does not exist).
 */
export function parseSelectorQuery(text: string): LabelSelector {
  const matchLabels: Record<string, string> = {};
  const matchExpressions: NonNullable<LabelSelector["matchExpressions"]> = [];
  for (const raw of text.split(",")) {
    const term = raw.trim();
    if (term === "") continue;
    let m: RegExpExecArray | null;
    if ((m = /^([^=!\s]+)\s*!=\s*(\S*)$/.exec(term))) matchExpressions.push({ key: m[1] as string, operator: "NotIn", values: [m[2] as string] });
    else if ((m = /^([^=!\s]+)\s*==?\s*(\S*)$/.exec(term))) matchLabels[m[1] as string] = m[2] as string;
    else if ((m = /^!\s*([^=!\s]+)$/.exec(term))) matchExpressions.push({ key: m[1] as string, operator: "DoesNotExist" });
    else if ((m = /^([^=!\s]+)$/.exec(term))) matchExpressions.push({ key: m[1] as string, operator: "Exists" });
    else throw hubError("HUB_BAD_REQUEST", `cannot parse selector term "${term}"`, "use key=value, key!=value, key or !key, separated by commas");
  }
  return { matchLabels, matchExpressions };
}

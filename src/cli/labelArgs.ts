/**
 * Label and selector arguments of the fleet verbs, in kubectl's spelling:
 * `--labels site=berlin,role=gateway`, `--selector site=berlin,tier!=canary,gpu,!legacy`.
 */
import { PalisadeError } from "../core/errors.js";

const KEY = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

function parts(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** `k=v,k2=v2` → { k: "v", k2: "v2" }. */
export function parseLabels(text: string, option = "--labels"): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of parts(text)) {
    const eq = p.indexOf("=");
    const key = eq < 0 ? p : p.slice(0, eq);
    const value = eq < 0 ? undefined : p.slice(eq + 1);
    if (value === undefined || !KEY.test(key) || !VALUE.test(value)) {
      throw new PalisadeError("USAGE", `${option}: ${JSON.stringify(p)} is not a label key=value`, { hint: "e.g. site=berlin,role=gateway (Kubernetes label syntax)" });
    }
    out[key] = value;
  }
  return out;
}

export interface SelectorBody {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}

/** `k=v,k!=v,k,!k` → the hub's label selector object. */
export function parseSelector(text: string, option = "--selector"): SelectorBody {
  const matchLabels: Record<string, string> = {};
  const matchExpressions: NonNullable<SelectorBody["matchExpressions"]> = [];
  for (const p of parts(text)) {
    const m = /^(!)?([^=!]+)(?:(!=|==|=)(.*))?$/.exec(p);
    const key = m?.[2]?.trim() ?? "";
    const value = m?.[4]?.trim();
    if (!m || !KEY.test(key) || (value !== undefined && !VALUE.test(value)) || (m[1] && m[3])) {
      throw new PalisadeError("USAGE", `${option}: cannot read ${JSON.stringify(p)}`, { hint: "use key=value, key!=value, key (exists) or !key (absent), comma-separated" });
    }
    if (m[1]) matchExpressions.push({ key, operator: "DoesNotExist" });
    else if (m[3] === "!=") matchExpressions.push({ key, operator: "NotIn", values: [value ?? ""] });
    else if (m[3]) matchLabels[key] = value ?? "";
    else matchExpressions.push({ key, operator: "Exists" });
  }
  return { ...(Object.keys(matchLabels).length ? { matchLabels } : {}), ...(matchExpressions.length ? { matchExpressions } : {}) };
}

/**
 * Shared test helpers: a compact, hand-writable signature for rules (so
 * expectations in corpus/*.expect.json stay readable) and model comparison
 * that ignores origins.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Rule, SourceMatch } from "../../src/policy/index.js";

export const CORPUS = new URL("./corpus/", import.meta.url).pathname;

export function corpusFiles(kind: "valid" | "invalid"): string[] {
  return readdirSync(join(CORPUS, kind))
    .filter((f) => f.endsWith(".yaml"))
    .sort();
}

export function readCorpus(kind: "valid" | "invalid", name: string): string {
  return readFileSync(join(CORPUS, kind, name), "utf8");
}

function source(s: SourceMatch): string {
  return s.kind === "path" ? s.path : `${s.dir}${s.recursive ? "**" : ""}`;
}

/** e.g. `file dir /etc/ recursive readOnly Allow sev=5 from=/usr/bin/head`. */
export function sig(r: Rule): string {
  const parts: string[] = [r.kind];
  if (r.kind === "process" || r.kind === "file") {
    const m = r.match;
    if (m.kind === "path") parts.push("path", m.path);
    else if (m.kind === "directory") parts.push("dir", m.dir, ...(m.recursive ? ["recursive"] : []));
    else parts.push("pattern", m.pattern);
    if (r.kind === "file" && r.readOnly) parts.push("readOnly");
    if (r.ownerOnly) parts.push("ownerOnly");
  } else if (r.kind === "network") parts.push(r.protocol);
  else if (r.kind === "capability") parts.push(r.capability);
  else {
    parts.push(r.syscalls.join(","));
    if (r.paths.length) parts.push(`on=${r.paths.map(source).join(",")}`);
  }
  parts.push(r.action, `sev=${r.severity}`);
  if (r.fromSource.length) parts.push(`from=${r.fromSource.map(source).join(",")}`);
  return parts.join(" ");
}

/** Deep copy without `origin` keys, for "same model ignoring where it came from". */
export function withoutOrigins(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutOrigins);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (k !== "origin") out[k] = withoutOrigins(v);
    return out;
  }
  return value;
}

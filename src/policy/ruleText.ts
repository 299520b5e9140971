/**
 * How rules read to a person (`policy explain`, alerts) and what makes two
 * rules "about the same target" (combination). Kept in one place so the
 * explanation and the combination can never disagree.
 */
import type { Match, Rule, SourceMatch } from "./model.js";

export function describeMatch(m: Match | SourceMatch): string {
  switch (m.kind) {
    case "path":
      return m.path;
    case "directory":
      return m.recursive ? `${m.dir} and everything below it` : `files directly in ${m.dir}`;
    case "pattern":
      return `paths matching ${m.pattern}`;
  }
}

export function describeSource(sources: readonly SourceMatch[]): string {
  return sources
    .map((s) => (s.kind === "path" ? s.path : s.recursive ? `any program under ${s.dir}` : `any program directly in ${s.dir}`))
    .join(" or ");
}

/** The thing a rule is about, without its action or scope. */
export function describeTarget(r: Rule): string {
  switch (r.kind) {
    case "process":
    case "file":
      return describeMatch(r.match);
    case "network":
      return r.protocol === "raw" ? "raw sockets" : r.protocol.toUpperCase();
    case "capability":
      return `CAP_${r.capability.toUpperCase()}`;
    case "syscall": {
      const names = r.syscalls.join(", ");
      return r.paths.length === 0 ? names : `${names} on ${r.paths.map(describeMatch).join(" or ")}`;
    }
  }
}

/** Identity of a rule's target (kind + what it matches), ignoring action, scope and metadata. */
export function targetKey(r: Rule): string {
  switch (r.kind) {
    case "process":
    case "file":
      return `${r.kind}:${JSON.stringify(r.match)}`;
    case "network":
      return `network:${r.protocol}`;
    case "capability":
      return `capability:${r.capability}`;
    case "syscall":
      return `syscall:${JSON.stringify([[...r.syscalls].sort(), r.paths])}`;
  }
}

export function sourceKey(sources: readonly SourceMatch[]): string {
  return JSON.stringify(sources.map((s) => JSON.stringify(s)).sort());
}

/** Qualifiers that narrow what a rule does: ownerOnly, readOnly. */
export function qualifiers(r: Rule): string[] {
  const out: string[] = [];
  if ((r.kind === "process" || r.kind === "file") && r.ownerOnly) out.push("owner only");
  if (r.kind === "file" && r.readOnly) out.push("read-only");
  return out;
}

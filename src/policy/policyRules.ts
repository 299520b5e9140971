/**
 * The rule sections of a KubeArmor spec (process, file, network,
 * capabilities, syscalls) → model rules. Severity, tags, message and action
 * are resolved here, once, in KubeArmor's order: rule level, then section
 * level (`spec.file.action`), then spec level, then defaults (Block,
 * severity 1) — so a compiler never has to look anywhere but the rule.
 *
 * Rules are produced in a fixed section order (not YAML key order), so
 * reformatting a file never changes the model.
 */
import type { Action, Match, Rule, SourceMatch, UnenforcedFeature, UnenforcedNote, JsonValue, Origin, RuleKind } from "./model.js";
import type { Diagnostics } from "./diagnostics.js";
import { checkDirectory, checkFilePath, checkPattern } from "./pathSyntax.js";
import { normalizeAction, ACTIONS } from "./vocabulary.js";
import { suggestionHint } from "./suggest.js";
import { readMap, readSeq, readString, readBool, readInt, readStringList, position, type Field, type MapReader, type Misplaced } from "./yamlReader.js";

export interface Inherited {
  readonly action: Action;
  readonly severity: number;
  readonly tags: readonly string[];
  readonly message: string;
}

/** Where parsed rules and notes go, plus what kind of policy they belong to. */
export interface RuleSink {
  readonly d: Diagnostics;
  readonly host: boolean;
  readonly rules: Rule[];
  readonly notes: UnenforcedNote[];
}

export const COMMON_FIELDS = ["severity", "tags", "message", "action"] as const;

export const SPEC_DEFAULTS: Inherited = { action: "Block", severity: 1, tags: [], message: "" };

const READONLY_ON_PROCESS: Misplaced = {
  code: "POLICY_SEMANTIC",
  message: "readOnly applies to file rules only",
  hint: "process rules control execution; move the entry under spec.file to restrict writes, or remove readOnly",
};

const RECURSIVE_ON_PATHS: Misplaced = {
  code: "POLICY_SEMANTIC",
  message: "recursive applies to matchDirectories only",
  hint: 'a matchPaths entry names one file; use matchDirectories with a dir ending in "/" to cover a tree',
};

/** Reads the optional severity/tags/message/action of a spec, section or rule. */
export function readCommon(d: Diagnostics, m: MapReader): Partial<Inherited> {
  const out: { action?: Action; severity?: number; tags?: readonly string[]; message?: string } = {};
  const action = m.field("action");
  if (action) {
    const text = readString(d, action, { what: "an action (Allow, Audit or Block)" });
    if (text !== undefined) {
      const a = normalizeAction(text);
      if (a === undefined) d.schema(position(action), action.path, `unknown action ${JSON.stringify(text)}`, `${suggestionHint(text, ACTIONS, "use one of")}`);
      else out.action = a;
    }
  }
  const severity = m.field("severity");
  if (severity) {
    const n = readInt(d, severity, 1, 10, "a severity");
    if (n !== undefined) out.severity = n;
  }
  const tags = m.field("tags");
  if (tags) {
    const list = readStringList(d, tags, { nonEmpty: true, what: "a tag" });
    if (list !== undefined) out.tags = list;
  }
  const message = m.field("message");
  if (message) {
    const text = readString(d, message);
    if (text !== undefined) out.message = text;
  }
  return out;
}

export function inherit(base: Inherited, over: Partial<Inherited>): Inherited {
  return {
    action: over.action ?? base.action,
    severity: over.severity ?? base.severity,
    tags: over.tags ?? base.tags,
    message: over.message ?? base.message,
  };
}

/**
 * `fromSource` entries: `path`, or `dir` with optional `recursive`. With
 * `dirSlashOptional` (syscall rules, whose `dir` KubeArmor's CRD leaves as a
 * free string), a `dir` without its trailing "/" names the same directory and
 * is normalised to end with "/".
 */
export function readFromSource(d: Diagnostics, f: Field, opts: { dirSlashOptional?: boolean } = {}): SourceMatch[] | undefined {
  const items = readSeq(d, f, { nullIsEmpty: true });
  if (items === undefined) return undefined;
  const out: SourceMatch[] = [];
  for (const item of items) {
    const m = readMap(d, item, ["path", "dir", "recursive"]);
    if (!m) continue;
    const path = m.field("path");
    const dir = m.field("dir");
    if (path && dir) {
      d.schema(position(dir), dir.path, "a fromSource entry names either path or dir, not both", "split it into two entries");
    } else if (path) {
      if (m.has("recursive")) d.semantic(position(m.field("recursive")!), m.field("recursive")!.path, "recursive applies to dir entries only", "remove recursive, or use dir");
      const text = readString(d, path, { what: "an absolute executable path" });
      if (text !== undefined && !reportSyntax(d, path, checkFilePath(text))) out.push({ kind: "path", path: text });
    } else if (dir) {
      const written = readString(d, dir, { what: "an absolute directory path" });
      const text = written !== undefined && opts.dirSlashOptional && written.startsWith("/") && !written.endsWith("/") ? `${written}/` : written;
      const recursive = m.field("recursive") ? readBool(d, m.field("recursive")!) : false;
      if (text !== undefined && recursive !== undefined && !reportSyntax(d, dir, checkDirectory(text))) out.push({ kind: "directory", dir: text, recursive });
    } else {
      d.schema(m.at, `${item.path}.path`, 'missing required field "path"', "a fromSource entry names the acting executable: path: /usr/bin/curl (or dir: /usr/bin/)");
    }
  }
  return out;
}

/** Reports a path-syntax problem; true when there was one. */
export function reportSyntax(d: Diagnostics, f: Field, problem: { message: string; hint?: string } | undefined): boolean {
  if (problem === undefined) return false;
  d.schema(position(f), f.path, problem.message, problem.hint);
  return true;
}

export function sourceJson(s: SourceMatch): JsonValue {
  return s.kind === "path" ? { path: s.path } : s.recursive ? { dir: s.dir, recursive: true } : { dir: s.dir };
}

export function resolvedJson(res: Inherited): Record<string, JsonValue> {
  return { severity: res.severity, tags: [...res.tags], message: res.message, action: res.action };
}

export function note(sink: RuleSink, feature: UnenforcedFeature, category: RuleKind | "policy", action: Action, reason: string, value: JsonValue, origin: Origin): void {
  sink.notes.push({ kind: "unenforced", feature, category, action, reason, value, origin });
}

/** KubeArmor ignores host Allow rules without fromSource; Palisade refuses rather than drop them. */
export function checkHostAllow(sink: RuleSink, m: MapReader, res: Inherited, fromSource: readonly SourceMatch[]): void {
  if (sink.host && res.action === "Allow" && fromSource.length === 0) {
    sink.d.semantic(m.at, m.path, "an Allow rule in a KubeArmorHostPolicy needs fromSource", "KubeArmor ignores host Allow rules without fromSource; name the source process, or use Audit or Block");
  }
}

/**
 * Catches repeats inside one list that disagree (same target and fromSource,
 * different action, flags or alert fields): which one was meant is
 * ambiguous, and such a repeat usually hides a conflicting edit. An exact
 * repeat says nothing new and is accepted, as KubeArmor accepts it (its own
 * example policies contain some); both entries stay in the model.
 */
export class Duplicates {
  private readonly seen = new Map<string, { path: string; detail: string }>();
  constructor(private readonly d: Diagnostics) {}
  check(key: string, m: MapReader, detail: unknown): void {
    const first = this.seen.get(key);
    const text = JSON.stringify(detail);
    if (first === undefined) this.seen.set(key, { path: m.path, detail: text });
    else if (first.detail !== text) this.d.semantic(m.at, m.path, `duplicate rule: same target and fromSource as ${first.path}`, "merge the two entries; keep one per target");
  }
}

type MatchListKey = "matchPaths" | "matchDirectories" | "matchPatterns";

/** `spec.process` and `spec.file`, which differ only by readOnly (file) and execname/allowedArgs (process). */
export function parsePathSection(sink: RuleSink, f: Field, spec: Inherited, kind: "process" | "file"): void {
  const { d } = sink;
  const section = readMap(d, f, ["matchPaths", "matchDirectories", "matchPatterns", ...COMMON_FIELDS], { nullIsEmpty: true });
  if (!section) return;
  const defaults = inherit(spec, readCommon(d, section));
  let entries = 0;
  for (const listKey of ["matchPaths", "matchDirectories", "matchPatterns"] as const) {
    const listField = section.field(listKey);
    if (!listField) continue;
    const items = readSeq(d, listField, { nullIsEmpty: true });
    if (!items) {
      entries++;
      continue;
    }
    entries += items.length;
    const dups = new Duplicates(d);
    for (const item of items) parsePathEntry(sink, item, defaults, kind, listKey, dups);
  }
  if (entries === 0) reportEmptySection(d, f, kind === "process" ? "process" : "file", "matchPaths, matchDirectories or matchPatterns");
}

export function reportEmptySection(d: Diagnostics, f: Field, name: string, lists: string): void {
  d.semantic(f.key ?? position(f), f.path, `spec.${name} has no rules`, `add ${lists}, or remove "${name}"`);
}

function parsePathEntry(sink: RuleSink, item: Field, defaults: Inherited, kind: "process" | "file", listKey: MatchListKey, dups: Duplicates): void {
  const { d } = sink;
  const targetKey = listKey === "matchPaths" ? "path" : listKey === "matchDirectories" ? "dir" : "pattern";
  const allowed = [targetKey, ...(listKey === "matchDirectories" ? ["recursive"] : []), ...(kind === "file" ? ["readOnly"] : []), "ownerOnly"];
  if (listKey !== "matchPatterns") allowed.push("fromSource", "pts");
  if (kind === "process" && listKey === "matchPaths") allowed.push("execname", "allowedArgs");
  const misplaced: Record<string, Misplaced> = {};
  if (kind === "process") misplaced.readOnly = READONLY_ON_PROCESS;
  if (listKey === "matchPaths") misplaced.recursive = RECURSIVE_ON_PATHS;
  if (listKey === "matchPatterns") {
    misplaced.fromSource = { message: "matchPatterns entries do not take fromSource", hint: "KubeArmor scopes only matchPaths and matchDirectories by source; use one of those" };
    misplaced.pts = { message: "matchPatterns entries do not take pts", hint: "KubeArmor qualifies only matchPaths and matchDirectories by terminal session; use one of those" };
  }
  const required = kind === "process" && listKey === "matchPaths" ? [] : [targetKey];
  const before = d.count;
  const m = readMap(d, item, [...allowed, ...COMMON_FIELDS], { required, misplaced });
  if (!m) return;
  const entryHadErrors = d.count > before;
  const res = inherit(defaults, readCommon(d, m));
  const fromSource = m.field("fromSource") ? readFromSource(d, m.field("fromSource")!) : [];
  const ownerOnly = m.field("ownerOnly") ? readBool(d, m.field("ownerOnly")!) : false;
  const readOnly = m.field("readOnly") ? readBool(d, m.field("readOnly")!) : false;
  const recursive = m.field("recursive") ? readBool(d, m.field("recursive")!) : false;
  const pts = m.field("pts") ? readBool(d, m.field("pts")!) : null;
  const origin = d.origin(m.at, m.path);
  if (fromSource === undefined || ownerOnly === undefined || readOnly === undefined || recursive === undefined || pts === undefined) return;

  if (kind === "process" && listKey === "matchPaths" && (m.has("execname") || m.has("allowedArgs"))) {
    parseProcessExtension(sink, m, res, fromSource, ownerOnly, pts, origin);
    return;
  }
  if (kind === "process" && listKey === "matchPaths" && !m.has("path")) {
    if (entryHadErrors) return;
    d.schema(m.at, `${m.path}.path`, 'missing required field "path"', "a process matchPaths entry names an executable with path (or execname)");
    return;
  }
  const target = m.field(targetKey);
  if (!target) return;
  const text = readString(d, target, { what: targetKey === "pattern" ? "a pattern" : `an absolute ${targetKey === "dir" ? "directory" : "file"} path` });
  if (text === undefined) return;
  let match: Match;
  if (listKey === "matchPaths") {
    if (reportSyntax(d, target, checkFilePath(text))) return;
    match = { kind: "path", path: text };
  } else if (listKey === "matchDirectories") {
    if (reportSyntax(d, target, checkDirectory(text))) return;
    match = { kind: "directory", dir: text, recursive };
  } else {
    if (reportSyntax(d, target, checkPattern(text))) return;
    match = { kind: "pattern", pattern: text };
  }
  checkHostAllow(sink, m, res, fromSource);
  if (pts !== null) {
    const value: Record<string, JsonValue> = { [targetKey]: text, ...(recursive ? { recursive: true } : {}), ...(readOnly ? { readOnly: true } : {}) };
    if (ownerOnly) value.ownerOnly = true;
    if (fromSource.length > 0) value.fromSource = fromSource.map(sourceJson);
    note(sink, "pts", kind, res.action, PTS_REASON, { ...value, pts, ...resolvedJson(res) }, origin);
    return;
  }
  dups.check(JSON.stringify([match, fromSource]), m, [res, ownerOnly, readOnly]);
  const base = { action: res.action, severity: res.severity, tags: res.tags, message: res.message, fromSource, origin };
  sink.rules.push(kind === "process" ? { kind: "process", match, ownerOnly, ...base } : { kind: "file", match, ownerOnly, readOnly, ...base });
}

/** KubeArmor's `pts: true|false` limits a rule to events from, or not from, a terminal session. */
export const PTS_REASON = "pts limits the rule to events from (or not from) a terminal session, which Palisade's backends do not track";

/** `execname` and `allowedArgs` have no rule kind in the model: kept as unenforced notes. */
function parseProcessExtension(sink: RuleSink, m: MapReader, res: Inherited, fromSource: SourceMatch[], ownerOnly: boolean, pts: boolean | null, origin: Origin): void {
  const { d } = sink;
  const value: Record<string, JsonValue> = {};
  let feature: UnenforcedFeature = "allowedArgs";
  const pathField = m.field("path");
  const execField = m.field("execname");
  if (pathField && execField) {
    d.schema(position(execField), execField.path, "a matchPaths entry names either path or execname, not both", "split it into two entries");
    return;
  }
  if (execField) {
    const name = readString(d, execField, { nonEmpty: true, what: "an executable name" });
    if (name === undefined) return;
    if (name.includes("/")) {
      d.schema(position(execField), execField.path, `execname is a bare executable name, got ${JSON.stringify(name)}`, `use path: ${JSON.stringify(name)} for a full path`);
      return;
    }
    value.execname = name;
    feature = "execname";
  } else if (pathField) {
    const text = readString(d, pathField, { what: "an absolute file path" });
    if (text === undefined || reportSyntax(d, pathField, checkFilePath(text))) return;
    value.path = text;
  } else {
    d.schema(m.at, `${m.path}.path`, 'missing required field "path"', "allowedArgs qualifies an executable named by path (or execname)");
    return;
  }
  const argsField = m.field("allowedArgs");
  if (argsField) {
    const args = readStringList(d, argsField, { what: "an argument" });
    if (args === undefined) return;
    if (args.length === 0) d.semantic(position(argsField), argsField.path, "allowedArgs is empty", "list the arguments to allow, or remove allowedArgs");
    value.allowedArgs = args;
  }
  if (ownerOnly) value.ownerOnly = true;
  if (fromSource.length > 0) value.fromSource = fromSource.map(sourceJson);
  if (pts !== null) value.pts = pts;
  checkHostAllow(sink, m, res, fromSource);
  const reason =
    feature === "execname"
      ? "matches a process by executable name wherever it lives; Palisade's rules match paths"
      : "matches process arguments; Palisade's backends match executables, not their arguments";
  note(sink, feature, "process", res.action, pts === null ? reason : `${reason}; ${PTS_REASON}`, { ...value, ...resolvedJson(res) }, origin);
}

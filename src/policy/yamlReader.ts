/**
 * Typed, position-aware reads over the `yaml` library's node tree. Every read
 * reports a precise error (and carries on) instead of throwing, so one pass
 * over a document finds all of its problems. Unknown keys get a
 * "did you mean" hint; duplicate keys are errors because YAML libraries
 * disagree on which value wins, and a policy must mean one thing.
 */
import { isAlias, isMap, isScalar, isSeq, type Node, type Scalar, type YAMLMap } from "yaml";
import type { ErrorCode } from "../core/errors.js";
import type { Diagnostics, Position } from "./diagnostics.js";
import { closest, suggestionHint } from "./suggest.js";

/** A value at a field path. `value` is null for `key:` with nothing after it. */
export interface Field {
  readonly path: string;
  readonly value: Node | null;
  /** Where to point when the value is null or missing: the key. */
  readonly key?: Node;
}

export function position(f: Field): Position {
  return f.value ?? f.key;
}

/** `a.b`, or `a["x/y"]` for keys that are not plain identifiers (label keys). */
export function childPath(path: string, key: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === "" ? key : `${path}.${key}`;
}

/** How a value looks to a human, for "expected X, got Y" messages. */
export function describe(node: Node | null): string {
  if (node === null) return "nothing (an empty value)";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isAlias(node)) return "an alias";
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return "null";
    if (typeof v === "string") return `string ${JSON.stringify(v)}`;
    if (typeof v === "boolean") return `boolean ${v}`;
    if (typeof v === "number" || typeof v === "bigint") return `number ${String(v)}`;
  }
  return "an unsupported value";
}

export interface Misplaced {
  readonly code?: ErrorCode;
  readonly message: string;
  readonly hint: string;
}

export interface MapOptions {
  readonly required?: readonly string[];
  /** Keys valid elsewhere in the schema but wrong here, with a specific explanation. */
  readonly misplaced?: Readonly<Record<string, Misplaced>>;
  /** `key:` with no value reads as an empty mapping (no error). */
  readonly nullIsEmpty?: boolean;
}

export class MapReader {
  constructor(
    readonly node: YAMLMap | null,
    readonly path: string,
    readonly at: Position,
    private readonly fields: ReadonlyMap<string, Field>,
  ) {}

  has(key: string): boolean {
    return this.fields.has(key);
  }

  field(key: string): Field | undefined {
    return this.fields.get(key);
  }

  keys(): string[] {
    return [...this.fields.keys()];
  }

  get size(): number {
    return this.fields.size;
  }
}

function rejectAlias(d: Diagnostics, f: Field): boolean {
  if (f.value !== null && isAlias(f.value)) {
    d.report("POLICY_YAML", f.value, f.path, "YAML anchors and aliases are not supported in policies", "write the value out in full so every rule is visible where it applies");
    return true;
  }
  return false;
}

/** Reads a mapping whose keys are strings; reports duplicates, unknown keys and missing required keys. */
export function readMap(d: Diagnostics, f: Field, allowed: readonly string[], opts: MapOptions = {}): MapReader | undefined {
  if (rejectAlias(d, f)) return undefined;
  if (f.value === null || (isScalar(f.value) && f.value.value === null)) {
    if (opts.nullIsEmpty) {
      reportMissing(d, f, opts.required ?? [], new Set());
      return new MapReader(null, f.path, position(f), new Map());
    }
    d.schema(position(f), f.path, `expected a mapping, got ${describe(f.value)}`);
    return undefined;
  }
  if (!isMap(f.value)) {
    d.schema(f.value, f.path, `expected a mapping, got ${describe(f.value)}`);
    return undefined;
  }
  const fields = new Map<string, Field>();
  const firstLine = new Map<string, Node>();
  // A misspelt required key is reported once, as a typo, not again as missing.
  const suggested = new Set<string>();
  for (const pair of f.value.items) {
    const keyNode = pair.key as Node | null;
    if (!isScalar(keyNode) || typeof keyNode.value !== "string") {
      d.schema(keyNode ?? f.value, f.path, `keys must be strings, got ${describe(keyNode)}`, "quote the key");
      continue;
    }
    const key = keyNode.value;
    const path = childPath(f.path, key);
    const seen = firstLine.get(key);
    if (seen !== undefined) {
      d.schema(keyNode, path, `duplicate key "${key}"`, `the first "${key}" is at line ${d.lineColumn(seen).line}; keep only one`);
      continue;
    }
    firstLine.set(key, keyNode);
    const misplaced = opts.misplaced?.[key];
    if (misplaced !== undefined) {
      d.report(misplaced.code ?? "POLICY_SCHEMA", keyNode, path, misplaced.message, misplaced.hint);
      continue;
    }
    if (!allowed.includes(key)) {
      d.schema(keyNode, path, `unknown field "${key}"`, suggestionHint(key, allowed, "fields allowed here"));
      const near = closest(key, allowed);
      if (near !== undefined) suggested.add(near);
      continue;
    }
    fields.set(key, { path, value: (pair.value as Node | null) ?? null, key: keyNode });
  }
  reportMissing(d, f, opts.required ?? [], new Set([...firstLine.keys(), ...suggested]));
  return new MapReader(f.value, f.path, f.value, fields);
}

function reportMissing(d: Diagnostics, f: Field, required: readonly string[], present: ReadonlySet<string>): void {
  for (const r of required) {
    if (!present.has(r)) d.schema(position(f), childPath(f.path, r), `missing required field "${r}"`);
  }
}

/** Reads a list; `key:` with no value is an empty list when `nullIsEmpty`. */
export function readSeq(d: Diagnostics, f: Field, opts: { nullIsEmpty?: boolean } = {}): Field[] | undefined {
  if (rejectAlias(d, f)) return undefined;
  if (f.value === null || (isScalar(f.value) && f.value.value === null)) {
    if (opts.nullIsEmpty) return [];
    d.schema(position(f), f.path, `expected a list, got ${describe(f.value)}`);
    return undefined;
  }
  if (!isSeq(f.value)) {
    d.schema(f.value, f.path, `expected a list, got ${describe(f.value)}`, "write each entry on its own line starting with \"- \"");
    return undefined;
  }
  return f.value.items.map((item, i) => ({ path: `${f.path}[${i}]`, value: (item as Node | null) ?? null, key: (f.value ?? undefined) as Node | undefined }));
}

function scalarOf(d: Diagnostics, f: Field): Scalar | undefined {
  if (rejectAlias(d, f)) return undefined;
  if (f.value !== null && isScalar(f.value)) return f.value;
  return undefined;
}

export function readString(d: Diagnostics, f: Field, opts: { nonEmpty?: boolean; what?: string } = {}): string | undefined {
  const s = scalarOf(d, f);
  const what = opts.what ?? "a string";
  if (s === undefined || typeof s.value !== "string") {
    if (f.value !== null && isAlias(f.value)) return undefined;
    const quotable = s !== undefined && s.value !== null && typeof s.value !== "object";
    d.schema(position(f), f.path, `expected ${what}, got ${describe(f.value)}`, quotable ? `quote it: "${String(s.value)}"` : undefined);
    return undefined;
  }
  if (opts.nonEmpty && s.value.trim() === "") {
    d.schema(s, f.path, `expected ${what}, got an empty string`);
    return undefined;
  }
  return s.value;
}

export function readBool(d: Diagnostics, f: Field): boolean | undefined {
  const s = scalarOf(d, f);
  if (s === undefined || typeof s.value !== "boolean") {
    if (f.value !== null && isAlias(f.value)) return undefined;
    const text = s !== undefined && typeof s.value === "string" ? s.value.toLowerCase() : "";
    const hint = ["yes", "on", "y"].includes(text) ? "write true" : ["no", "off", "n"].includes(text) ? "write false" : undefined;
    d.schema(position(f), f.path, `expected a boolean (true or false), got ${describe(f.value)}`, hint);
    return undefined;
  }
  return s.value;
}

export function readInt(d: Diagnostics, f: Field, min: number, max: number, what = "an integer"): number | undefined {
  const s = scalarOf(d, f);
  const range = `${what} from ${min} to ${max}`;
  if (s === undefined || typeof s.value !== "number" || !Number.isInteger(s.value)) {
    if (f.value !== null && isAlias(f.value)) return undefined;
    const numeric = s !== undefined && typeof s.value === "string" && /^\s*-?\d+\s*$/.test(s.value);
    d.schema(position(f), f.path, `expected ${range}, got ${describe(f.value)}`, numeric ? `remove the quotes: ${String(s?.value).trim()}` : undefined);
    return undefined;
  }
  if (s.value < min || s.value > max) {
    d.schema(s, f.path, `expected ${range}, got ${s.value}`);
    return undefined;
  }
  return s.value;
}

/** A list of strings; returns only the readable entries (errors reported for the rest). */
export function readStringList(d: Diagnostics, f: Field, opts: { nonEmpty?: boolean; what?: string } = {}): string[] | undefined {
  const items = readSeq(d, f, { nullIsEmpty: true });
  if (items === undefined) return undefined;
  const out: string[] = [];
  for (const item of items) {
    const s = readString(d, item, opts);
    if (s !== undefined) out.push(s);
  }
  return out;
}

/** A string → string mapping (labels, annotations, matchLabels), keeping each entry's field for positions. */
export function readStringEntries(d: Diagnostics, f: Field): { key: string; value: string; field: Field }[] | undefined {
  if (f.value === null || (isScalar(f.value) && f.value.value === null)) return [];
  if (!isMap(f.value)) {
    d.schema(position(f), f.path, `expected a mapping of strings, got ${describe(f.value)}`);
    return undefined;
  }
  const map = readMap(d, f, keysOf(f.value));
  if (map === undefined) return undefined;
  const out: { key: string; value: string; field: Field }[] = [];
  for (const key of map.keys()) {
    const field = map.field(key)!;
    const value = readString(d, field);
    if (value !== undefined) out.push({ key, value, field });
  }
  return out;
}

export function readStringMap(d: Diagnostics, f: Field): Record<string, string> | undefined {
  const entries = readStringEntries(d, f);
  return entries === undefined ? undefined : Object.fromEntries(entries.map((e) => [e.key, e.value]));
}

function keysOf(node: YAMLMap): string[] {
  const out: string[] = [];
  for (const pair of node.items) if (isScalar(pair.key) && typeof pair.key.value === "string") out.push(pair.key.value);
  return out;
}

/** The value as plain JSON, for recording what was written (unenforced features). */
export function plainValue(f: Field): unknown {
  return f.value === null ? null : (f.value.toJSON() as unknown);
}

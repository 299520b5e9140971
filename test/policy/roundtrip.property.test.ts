/**
 * Property tests: for generated valid documents (policies of both kinds and
 * workloads, with KubeArmor's spelling variants, shuffled key order and
 * arbitrary text in messages), formatting never changes the model, is
 * idempotent, and model → YAML → model is the identity (origins aside).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { stringify } from "yaml";
import { formatPolicy, parseDocuments } from "../../src/policy/index.js";
import { withoutOrigins } from "./helpers.js";

type Obj = Record<string, unknown>;

const segment = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,7}$/).filter((s) => s !== "." && s !== "..");
const filePath = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => `/${s.join("/")}`);
const dirPath = fc.array(segment, { minLength: 0, maxLength: 3 }).map((s) => (s.length ? `/${s.join("/")}/` : "/"));
const globSegment = fc.stringMatching(/^[a-z0-9*?]{1,6}$/);
const pattern = fc.array(globSegment, { minLength: 1, maxLength: 3 }).map((s) => `/${s.join("/")}`);
const action = fc.constantFrom("Allow", "allow", "Audit", "AUDIT", "Block", "block");
/** Messages stress quoting: YAML-significant characters, look-alike scalars, newlines, unicode. */
const text = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 12 }),
  fc.constantFrom("line1\nline2", "ends with newline\n", "trailing space ", " leading", "a: b", "- x", "#hash", "'quote'", '"dq"', "two\n\n  indented\n", "tab\there", "null", "true", "123", "0x1F", "~", "", "[not, a, list]", "{a: 1}", "%TAG", "---", "ünïcödé ✓"),
);
const tag = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,9}$/);
const labelKey = fc.constantFrom("app", "tier", "kubernetes.io/hostname", "palisade.dev/site", "group");
const labelValue = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/);

const source = fc.oneof(
  filePath.map((path) => ({ path })),
  fc.record({ dir: dirPath, recursive: fc.boolean() }, { requiredKeys: ["dir"] }),
);

/** Optional severity/tags/message/action, as at spec, section and rule level. */
const common = fc.record({ severity: fc.integer({ min: 1, max: 10 }), tags: fc.array(tag, { maxLength: 2 }), message: text, action }, { requiredKeys: [] });

function entry(target: fc.Arbitrary<Obj>, extra: Record<string, fc.Arbitrary<unknown>>, sources: boolean): fc.Arbitrary<Obj> {
  const parts: Record<string, fc.Arbitrary<unknown>> = { ...extra };
  if (sources) parts.fromSource = fc.array(source, { maxLength: 2 });
  return fc.tuple(target, fc.record(parts, { requiredKeys: [] }), common).map(([t, e, c]) => ({ ...t, ...e, ...c }));
}

/** Drops entries repeating a target and source list: those are (rightly) reported as duplicates. */
function unique(entries: Obj[], keys: string[]): Obj[] {
  const seen = new Set<string>();
  return entries.filter((e) => {
    const sources = ((e.fromSource as Obj[] | undefined) ?? []).map((s) => (s.path !== undefined ? `p:${String(s.path)}` : `d:${String(s.dir)}:${Boolean(s.recursive)}`));
    const k = JSON.stringify([keys.map((key) => (typeof e[key] === "string" ? (e[key] as string).toLowerCase() : e[key])), sources]);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function pathSection(file: boolean, host: boolean): fc.Arbitrary<Obj> {
  const flags = { ownerOnly: fc.boolean(), ...(file ? { readOnly: fc.boolean() } : {}) };
  return fc
    .record({
      matchPaths: fc.array(entry(filePath.map((path) => ({ path })), flags, true), { maxLength: 3 }),
      matchDirectories: fc.array(entry(dirPath.map((dir) => ({ dir })), { ...flags, recursive: fc.boolean() }, true), { maxLength: 2 }),
      matchPatterns: fc.array(entry(pattern.map((p) => ({ pattern: p })), flags, false), { maxLength: 2 }),
      meta: common,
    })
    .map(({ matchPaths, matchDirectories, matchPatterns, meta }) => {
      const out: Obj = { ...meta };
      const paths = unique(matchPaths, ["path"]);
      const dirs = unique(matchDirectories, ["dir"]);
      const pats = unique(matchPatterns, ["pattern"]);
      if (paths.length) out.matchPaths = paths;
      if (dirs.length) out.matchDirectories = dirs;
      if (pats.length || (!paths.length && !dirs.length)) out.matchPatterns = pats.length ? pats : [{ pattern: "/tmp/*" }];
      return host ? hostSafe(out) : out;
    });
}

/** Host policies need fromSource on Allow rules (and patterns cannot have one), so pin those actions. */
function hostSafe(section: Obj): Obj {
  section.action = "Block";
  for (const list of ["matchPaths", "matchDirectories", "matchPatterns"]) {
    for (const e of (section[list] as Obj[] | undefined) ?? []) if (!(e.fromSource as unknown[] | undefined)?.length) e.action = "Audit";
  }
  return section;
}

function listSection(key: string, item: string, values: readonly string[], host: boolean): fc.Arbitrary<Obj> {
  const sources = host ? fc.array(source, { minLength: 1, maxLength: 2 }) : fc.array(source, { maxLength: 2 });
  const e = fc.tuple(fc.constantFrom(...values), fc.record({ fromSource: sources }, { requiredKeys: host ? ["fromSource"] : [] }), common).map(([v, s, c]) => ({ [item]: v, ...s, ...c }));
  return fc.tuple(fc.array(e, { minLength: 1, maxLength: 3 }), common).map(([entries, meta]) => ({ ...meta, [key]: unique(entries, [item]) }));
}

const syscallNames = fc.uniqueArray(fc.constantFrom("unlink", "rmdir", "chmod", "mount", "ptrace", "openat", "init_module"), { minLength: 1, maxLength: 3 });
const syscallSection = fc
  .record({
    matchSyscalls: fc.array(fc.record({ syscall: syscallNames, fromSource: fc.array(source, { maxLength: 2 }) }, { requiredKeys: ["syscall"] }), { maxLength: 2 }),
    matchPaths: fc.array(fc.oneof(filePath.map((path) => ({ path })), fc.record({ path: dirPath, recursive: fc.boolean() })).chain((t) => syscallNames.map((syscall) => ({ ...t, syscall }))), { maxLength: 2 }),
    meta: fc.record({ severity: fc.integer({ min: 1, max: 10 }), tags: fc.array(tag, { maxLength: 2 }), message: text }, { requiredKeys: [] }),
  })
  .map(({ matchSyscalls, matchPaths, meta }) => ({ ...meta, ...(matchSyscalls.length || !matchPaths.length ? { matchSyscalls: matchSyscalls.length ? matchSyscalls : [{ syscall: ["unlink"] }] } : {}), ...(matchPaths.length ? { matchPaths } : {}) }));

function policy(host: boolean): fc.Arbitrary<Obj> {
  return fc
    .record({
      name: fc.stringMatching(/^[a-z][a-z0-9-]{0,14}[a-z0-9]$/),
      namespace: fc.constantFrom("default", "edge", "plant-3"),
      labels: fc.dictionary(labelKey, labelValue, { maxKeys: 3 }),
      sections: fc.record(
        {
          process: pathSection(false, host),
          file: pathSection(true, host),
          network: listSection("matchProtocols", "protocol", ["TCP", "tcp", "udp", "ICMP", "icmpv6", "raw", "SCTP", "all"], host),
          capabilities: listSection("matchCapabilities", "capability", ["net_raw", "CAP_SYS_ADMIN", "NET_BIND_SERVICE", "chown", "sys_ptrace"], host),
          syscalls: syscallSection,
        },
        { requiredKeys: [] },
      ),
      meta: common,
      shuffle: fc.integer(),
    })
    .filter((p) => Object.keys(p.sections).length > 0)
    .map((p) => {
      const spec: Obj = { ...p.meta, ...p.sections, [host ? "nodeSelector" : "selector"]: { matchLabels: p.labels } };
      if (host && spec.action === undefined) spec.action = "Block";
      if (host && /allow/i.test(String(spec.action))) spec.action = "Audit";
      const metadata = host ? { name: p.name } : { name: p.name, namespace: p.namespace };
      return shuffled({ apiVersion: "security.kubearmor.com/v1", kind: host ? "KubeArmorHostPolicy" : "KubeArmorPolicy", metadata, spec }, p.shuffle);
    });
}

/** Deterministic key shuffle, so the formatter's reordering is exercised. */
function shuffled(value: unknown, seed: number): Obj {
  if (Array.isArray(value)) return value.map((v, i) => shuffled(v, seed + i)) as unknown as Obj;
  if (value === null || typeof value !== "object") return value as Obj;
  const entries = Object.entries(value as Obj).map(([k, v], i) => [k, shuffled(v, seed * 31 + i)] as const);
  entries.sort((a, b) => ((hash(a[0]) ^ seed) & 0xff) - ((hash(b[0]) ^ seed) & 0xff));
  return Object.fromEntries(entries);
}

function hash(s: string): number {
  let h = 7;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}

const digest = fc.stringMatching(/^[0-9a-f]{64}$/);
const workload = fc
  .record({
    name: fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/),
    labels: fc.dictionary(labelKey.filter((k) => !k.includes("/")), labelValue, { maxKeys: 2 }),
    digest,
    env: fc.uniqueArray(fc.record({ name: fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/), value: text }), { selector: (e) => e.name, maxLength: 3 }),
    cpu: fc.option(fc.constantFrom("250m", "1", 0.5, "1500m")),
    memory: fc.option(fc.constantFrom("64Mi", "1G", 4096, "1.5Gi")),
    interfaces: fc.subarray(["network", "hardware-observe", { name: "serial-port", devices: ["/dev/ttyUSB0"] }, { name: "network-bind", ports: [8080] }, { name: "home", writable: true }]),
    posture: fc.option(fc.constantFrom("audit", "block", { file: "audit" })),
  })
  .map((w) => {
    const limits: Obj = {};
    if (w.cpu !== null) limits.cpu = w.cpu;
    if (w.memory !== null) limits.memory = w.memory;
    const container: Obj = { name: "main", image: `registry.example.com/app:1@sha256:${w.digest}`, env: w.env };
    if (Object.keys(limits).length) container.resources = { limits };
    const spec: Obj = { containers: [container], interfaces: w.interfaces };
    if (w.posture !== null) spec.defaultPosture = w.posture;
    return { apiVersion: "palisade.dev/v1", kind: "Workload", metadata: { name: w.name, labels: w.labels }, spec };
  });

const file = fc.array(fc.oneof(policy(false), policy(true), workload), { minLength: 1, maxLength: 3 }).map((docs) => {
  // Names must be unique per kind in a file; copy, since fast-check reuses generated values while shrinking.
  const named = docs.map((d, i) => ({ ...d, metadata: { ...(d.metadata as Obj), name: `${(d.metadata as Obj).name as string}-${i}` } }));
  return named.map((d) => stringify(d)).join("---\n");
});

function model(text: string): unknown {
  const r = parseDocuments(text, "gen.yaml");
  expect(r.errors.map((e) => `${e.where?.line}:${e.where?.column} ${e.where?.path}: ${e.message}`), text).toEqual([]);
  return withoutOrigins({ policies: r.policies, workloads: r.workloads });
}

describe("round trips (fast-check)", () => {
  it("parse(fmt(x)) equals parse(x), and fmt is idempotent", () => {
    fc.assert(
      fc.property(file, (text) => {
        const formatted = formatPolicy(text);
        expect(model(formatted)).toEqual(model(text));
        expect(formatPolicy(formatted)).toBe(formatted);
      }),
      { numRuns: 300 },
    );
  });

  it("model → YAML → model is the identity", () => {
    fc.assert(
      fc.property(file, (text) => {
        const r = parseDocuments(text, "gen.yaml");
        const again = parseDocuments(formatPolicy([...r.policies, ...r.workloads]), "again.yaml");
        expect(again.errors).toEqual([]);
        expect(withoutOrigins(again.policies)).toEqual(withoutOrigins(r.policies));
        expect(withoutOrigins(again.workloads)).toEqual(withoutOrigins(r.workloads));
      }),
      { numRuns: 200 },
    );
  });
});

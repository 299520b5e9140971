/**
 * Observed operations → the least-permissive KubeArmorPolicy that still
 * allows every one of them (`palisade recommend`). docs/discovery.md has
 * the rules with examples; in short:
 *
 * - spec.action Allow, so process, file and network become allow-lists and
 *   everything not observed gets the default posture (Block).
 * - process: one matchPaths entry per executed binary, any parent.
 * - file: one matchPaths entry per path, `readOnly` unless a write was seen;
 *   with `fromSource` (default) scoped to the binaries that did it. When at
 *   least `directoryThreshold` (4) distinct entries were touched directly in
 *   one directory, they fold into one matchDirectories entry — recursive
 *   when deeper entries were touched too and the directory is at least two
 *   levels deep (never `/usr/`-wide or `/`-wide trees).
 * - /proc/<pid>/…: reads fold into `dir: /proc/, recursive, readOnly` (the
 *   workload's own pid namespace; the runtime grants it anyway), writes
 *   become a matchPatterns entry with the pid as `[0-9]*`.
 * - network: one matchProtocols entry per protocol, scoped like files. When
 *   no network use was observed at all, every protocol is blocked outright.
 * - capabilities: one matchCapabilities entry per capability, scoped.
 * - syscalls: nothing (syscall rules never form an allow-list).
 * Records that yield no operation, refused ones (see observations.ts) and
 * relative paths (a policy can only name absolute ones) are counted in
 * `skipped`, never guessed at.
 *
 * fromSource cannot be enforced by Landlock (it needs BPF-LSM); on such
 * kernels pass `fromSource: false` for a policy the workload can run under.
 */
import { stringify } from "yaml";
import { PalisadeError } from "../core/errors.js";
import { formatPolicy, MODEL_PROTOCOLS, type NetworkProtocol } from "../policy/index.js";
import type { LogFields } from "../sensor/logOperation.js";
import { observe, type SkipReason } from "./observations.js";

export const DIRECTORY_THRESHOLD = 4;

export interface RecommendOptions {
  /** metadata.name of the policy. */
  readonly name: string;
  readonly namespace?: string;
  /** spec.selector.matchLabels: the workload's labels. */
  readonly labels: Readonly<Record<string, string>>;
  /** Scope file, network and capability entries to the binaries seen (default true). */
  readonly fromSource?: boolean;
  /** Count refused operations as observed (default false; see observations.ts). */
  readonly includeDenied?: boolean;
  /** Distinct entries in one directory that fold into matchDirectories (default 4). */
  readonly directoryThreshold?: number;
  /** Block every protocol when no network use was observed (default true). */
  readonly blockUnusedNetwork?: boolean;
}

export interface Recommendation {
  /** Canonical YAML of one KubeArmorPolicy document. */
  readonly yaml: string;
  /** Records that contributed an operation. */
  readonly used: number;
  readonly skipped: Readonly<Record<SkipReason, number>>;
  readonly counts: { readonly processes: number; readonly fileEntries: number; readonly protocols: number; readonly capabilities: number };
}

const ANY = "*"; // source key of operations with no known (or no wanted) source

type Target = { readonly kind: "path"; readonly path: string } | { readonly kind: "dir"; readonly dir: string; readonly recursive: boolean } | { readonly kind: "pattern"; readonly pattern: string };

const depth = (dir: string): number => dir.split("/").filter(Boolean).length;
const parentOf = (p: string): string => (p.lastIndexOf("/") <= 0 ? "/" : p.slice(0, p.lastIndexOf("/")));
const under = (t: Target, dir: string): boolean => {
  const prefix = dir === "/" ? "/" : `${dir}/`;
  return t.kind === "path" ? t.path.startsWith(prefix) && t.path !== prefix : t.kind === "dir" ? t.dir.startsWith(prefix) && t.dir !== prefix : false;
};
const targetPath = (t: Target): string => (t.kind === "path" ? t.path : t.kind === "dir" ? t.dir : t.pattern);

/** Does `t` cover path `p`? (Same semantics as evaluate's matchers.) */
function covers(t: Target, p: string): boolean {
  if (t.kind === "path") return t.path === p;
  if (t.kind === "pattern") return false;
  if (p === t.dir || `${p}/` === t.dir) return true;
  if (!p.startsWith(t.dir)) return false;
  return t.recursive || !p.slice(t.dir.length).includes("/");
}

/** Folds sibling entries into directories, deepest directories first. */
export function aggregate(paths: Iterable<string>, threshold = DIRECTORY_THRESHOLD): Target[] {
  let entries: Target[] = [];
  const dirs = new Set<string>();
  for (const p of new Set(paths)) {
    if (p === "/") {
      entries.push({ kind: "dir", dir: "/", recursive: false });
      continue;
    }
    entries.push({ kind: "path", path: p });
    for (let d = parentOf(p); ; d = parentOf(d)) {
      dirs.add(d);
      if (d === "/") break;
    }
  }
  const order = [...dirs].filter((d) => d !== "/").sort((a, b) => depth(b) - depth(a) || (a < b ? -1 : 1));
  for (const d of order) {
    const inside = entries.filter((e) => under(e, d));
    const names = new Set(inside.map((e) => targetPath(e).slice(d.length + 1).split("/")[0]));
    if (names.size < threshold) continue;
    const self = (e: Target) => e.kind === "path" && e.path === d;
    const deeper = inside.some((e) => e.kind === "dir" || targetPath(e).slice(d.length + 1).includes("/"));
    if (deeper && depth(d) >= 2) {
      entries = [...entries.filter((e) => !under(e, d) && !self(e)), { kind: "dir", dir: `${d}/`, recursive: true }];
      continue;
    }
    const direct = inside.filter((e) => e.kind === "path" && !e.path.slice(d.length + 1).includes("/"));
    if (direct.length >= threshold) entries = [...entries.filter((e) => !direct.includes(e) && !self(e)), { kind: "dir", dir: `${d}/`, recursive: false }];
  }
  return entries;
}

const PROC_PID = /^\/proc\/\d+(?=\/|$)/;

function globEscape(s: string): string {
  return s.replace(/[\\*?[\]{},]/g, (c) => `\\${c}`);
}

/** /proc/123/task/123/stat → /proc/[0-9]*\/task/[0-9]*\/stat */
function procPattern(p: string): string {
  return p
    .split("/")
    .map((seg, i, all) => (/^\d+$/.test(seg) && (all[i - 1] === "proc" || all[i - 1] === "task") ? "[0-9]*" : globEscape(seg)))
    .join("/");
}

interface FileAccess {
  reads: Set<string>;
  writes: Set<string>;
}

/** One group's (one source's) file entries: writes first, then reads they do not already cover. */
function fileEntries(acc: FileAccess, threshold: number, alreadyRw: readonly Target[], alreadyRo: readonly Target[]): { rw: Target[]; ro: Target[] } {
  const writes = [...acc.writes].filter((p) => !alreadyRw.some((t) => covers(t, p)));
  const rw = aggregate(writes, threshold);
  const allRw = [...alreadyRw, ...rw];
  const reads = [...acc.reads].filter((p) => !allRw.some((t) => covers(t, p)) && !alreadyRo.some((t) => covers(t, p)));
  const key = (t: Target) => JSON.stringify(t);
  const rwKeys = new Set(rw.map(key));
  const ro = aggregate(reads, threshold).filter((t) => !rwKeys.has(key(t)));
  return { rw, ro };
}

type Entry = Record<string, unknown>;

function fromSourceOf(sources: ReadonlySet<string>): Entry {
  if (sources.has(ANY) || sources.size === 0) return {};
  return { fromSource: [...sources].sort().map((path) => ({ path })) };
}

function targetEntry(t: Target): Entry {
  return t.kind === "path" ? { path: t.path } : t.kind === "dir" ? { dir: t.dir, ...(t.recursive ? { recursive: true } : {}) } : { pattern: t.pattern };
}

export function recommendPolicyData(records: readonly LogFields[], opts: RecommendOptions): Recommendation {
  const scoped = opts.fromSource ?? true;
  const threshold = Math.max(2, opts.directoryThreshold ?? DIRECTORY_THRESHOLD);
  const skipped: Record<SkipReason, number> = { refused: 0, "relative-path": 0, "no-operation": 0, syscall: 0 };
  let used = 0;
  const execs = new Set<string>();
  const files = new Map<string, FileAccess>();
  const procWrites = new Set<string>();
  let procRead = false;
  const protocols = new Map<NetworkProtocol, Set<string>>();
  const capabilities = new Map<string, Set<string>>();

  for (const r of records) {
    const o = observe(r, opts.includeDenied ?? false);
    if (typeof o === "string") {
      skipped[o]++;
      continue;
    }
    used++;
    const op = o.op;
    const source = scoped && op.source ? op.source : ANY;
    switch (op.kind) {
      case "process":
        execs.add(op.path);
        break;
      case "file":
        if (PROC_PID.test(op.path)) {
          if (op.write) procWrites.add(procPattern(op.path));
          else procRead = true;
          break;
        }
        if (!files.has(source)) files.set(source, { reads: new Set(), writes: new Set() });
        (op.write ? files.get(source)!.writes : files.get(source)!.reads).add(op.path);
        break;
      case "network":
        if (!protocols.has(op.protocol)) protocols.set(op.protocol, new Set());
        protocols.get(op.protocol)!.add(source);
        break;
      case "capability":
        if (!capabilities.has(op.capability)) capabilities.set(op.capability, new Set());
        capabilities.get(op.capability)!.add(source);
        break;
      default:
        break;
    }
  }
  if (used === 0) {
    throw new PalisadeError("USAGE", `no observed operation to recommend a policy from (${records.length} record${records.length === 1 ? "" : "s"}: ${describeSkipped(skipped) || "none"})`, {
      hint: "run the workload in audit mode with the sensor watching (palisade run --audit …), exercise it, then recommend",
    });
  }

  // Unscoped entries first: a scoped entry they already cover would add nothing.
  const anyFiles = fileEntries(files.get(ANY) ?? { reads: new Set(), writes: new Set() }, threshold, [], []);
  if (procRead) anyFiles.ro.push({ kind: "dir", dir: "/proc/", recursive: true });
  for (const p of procWrites) anyFiles.rw.push({ kind: "pattern", pattern: p });
  const merged = new Map<string, { target: Target; readOnly: boolean; sources: Set<string> }>();
  const add = (t: Target, readOnly: boolean, source: string) => {
    const k = JSON.stringify([t, readOnly]);
    if (!merged.has(k)) merged.set(k, { target: t, readOnly, sources: new Set() });
    merged.get(k)!.sources.add(source);
  };
  for (const t of anyFiles.rw) add(t, false, ANY);
  for (const t of anyFiles.ro) add(t, true, ANY);
  for (const [source, acc] of [...files].filter(([s]) => s !== ANY)) {
    const mine = fileEntries(acc, threshold, anyFiles.rw, anyFiles.ro);
    for (const t of mine.rw) add(t, false, source);
    for (const t of mine.ro) add(t, true, source);
  }

  const byTarget = (a: { target: Target }, b: { target: Target }) => (targetPath(a.target) < targetPath(b.target) ? -1 : targetPath(a.target) > targetPath(b.target) ? 1 : 0);
  const fileList = [...merged.values()].sort(byTarget);
  const fileSection: Record<string, Entry[]> = {};
  for (const [kind, key] of [["path", "matchPaths"], ["dir", "matchDirectories"], ["pattern", "matchPatterns"]] as const) {
    const list = fileList
      .filter((e) => e.target.kind === kind)
      .map((e) => ({ ...targetEntry(e.target), ...(e.readOnly ? { readOnly: true } : {}), ...(kind === "pattern" ? {} : fromSourceOf(e.sources)) }));
    if (list.length) fileSection[key] = list;
  }

  const network: Entry[] = [...protocols].sort(([a], [b]) => (a < b ? -1 : 1)).map(([protocol, sources]) => ({ protocol, ...fromSourceOf(sources) }));
  if (network.length === 0 && (opts.blockUnusedNetwork ?? true)) for (const protocol of MODEL_PROTOCOLS) network.push({ protocol, action: "Block" });
  const caps: Entry[] = [...capabilities].sort(([a], [b]) => (a < b ? -1 : 1)).map(([capability, sources]) => ({ capability, ...fromSourceOf(sources) }));

  const spec: Entry = { selector: { matchLabels: { ...opts.labels } } };
  if (execs.size) spec.process = { matchPaths: [...execs].sort().map((path) => ({ path })) };
  if (Object.keys(fileSection).length) spec.file = fileSection;
  if (network.length) spec.network = { matchProtocols: network };
  if (caps.length) spec.capabilities = { matchCapabilities: caps };
  spec.action = "Allow";
  const doc = {
    apiVersion: "security.kubearmor.com/v1",
    kind: "KubeArmorPolicy",
    metadata: { name: opts.name, namespace: opts.namespace ?? "default" },
    spec,
  };
  const header = `# Recommended by palisade recommend from ${used} observed operation${used === 1 ? "" : "s"}${describeSkipped(skipped) ? ` (skipped: ${describeSkipped(skipped)})` : ""}.\n# Everything not listed gets the default posture (Block). Review before enforcing.\n`;
  const yaml = formatPolicy(header + stringify(doc), `${opts.name}.yaml`);
  const fileEntriesCount = Object.values(fileSection).reduce((n, l) => n + l.length, 0);
  return { yaml, used, skipped, counts: { processes: execs.size, fileEntries: fileEntriesCount, protocols: protocols.size, capabilities: capabilities.size } };
}

/** The recommended policy as canonical YAML text. */
export function recommendPolicy(records: readonly LogFields[], opts: RecommendOptions): string {
  return recommendPolicyData(records, opts).yaml;
}

export function describeSkipped(s: Readonly<Record<SkipReason, number>>): string {
  const words: Record<SkipReason, string> = { refused: "refused", "relative-path": "relative path", "no-operation": "no policy operation", syscall: "syscall" };
  return (Object.keys(words) as SkipReason[])
    .filter((k) => s[k] > 0)
    .map((k) => `${s[k]} ${words[k]}`)
    .join(", ");
}

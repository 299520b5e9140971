/**
 * Model → plain YAML-ready objects, the inverse of the parsers: parsing the
 * output gives back an equal model (origins aside). Rule-level severity,
 * tags, message and action are written only where they differ from the
 * policy's, so the output reads like a hand-written policy.
 */
import type { JsonValue, Policy, Rule, UnenforcedNote } from "./model.js";
import type { Container, Probe, Workload } from "./workload.js";
import { sourceJson } from "./policyRules.js";
import { formatCpu, formatMemory } from "./quantities.js";
import { KUBEARMOR_API, PALISADE_API } from "./parseDocuments.js";

type Obj = Record<string, JsonValue>;

interface Slot {
  readonly section: string;
  readonly list: string | undefined;
  readonly index: number;
  readonly entry: JsonValue;
}

const SECTIONS = ["process", "file", "network", "capabilities", "syscalls"];
const LISTS: Readonly<Record<string, readonly string[]>> = {
  process: ["matchPaths", "matchDirectories", "matchPatterns"],
  file: ["matchPaths", "matchDirectories", "matchPatterns"],
  network: ["matchProtocols", "matchDNSQueries"],
  capabilities: ["matchCapabilities"],
  syscalls: ["matchSyscalls", "matchPaths"],
  device: ["matchDevice"],
};

function indexOf(path: string): number {
  const m = /\[(\d+)\]$/.exec(path);
  return m ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
}

function common(p: Policy, v: { severity: number; tags: readonly string[]; message: string; action?: string }): Obj {
  const out: Obj = {};
  if (v.severity !== p.severity) out.severity = v.severity;
  if (JSON.stringify(v.tags) !== JSON.stringify(p.tags)) out.tags = [...v.tags];
  if (v.message !== p.message) out.message = v.message;
  if (v.action !== undefined && v.action !== p.action) out.action = v.action;
  return out;
}

function ruleSlot(p: Policy, r: Rule): Slot {
  const from: Obj = r.fromSource.length > 0 ? { fromSource: r.fromSource.map(sourceJson) } : {};
  const index = indexOf(r.origin.path);
  switch (r.kind) {
    case "process":
    case "file": {
      const m = r.match;
      const target: Obj = m.kind === "path" ? { path: m.path } : m.kind === "directory" ? { dir: m.dir, ...(m.recursive ? { recursive: true } : {}) } : { pattern: m.pattern };
      const list = m.kind === "path" ? "matchPaths" : m.kind === "directory" ? "matchDirectories" : "matchPatterns";
      const flags: Obj = { ...(r.kind === "file" && r.readOnly ? { readOnly: true } : {}), ...(r.ownerOnly ? { ownerOnly: true } : {}) };
      return { section: r.kind, list, index, entry: { ...target, ...flags, ...(m.kind === "pattern" ? {} : from), ...common(p, r) } };
    }
    case "network":
      return { section: "network", list: "matchProtocols", index, entry: { protocol: r.protocol, ...from, ...common(p, r) } };
    case "capability":
      return { section: "capabilities", list: "matchCapabilities", index, entry: { capability: r.capability, ...from, ...common(p, r) } };
    case "syscall": {
      const target = r.paths[0];
      if (target === undefined) return { section: "syscalls", list: "matchSyscalls", index, entry: { syscall: [...r.syscalls], ...from } };
      const path: Obj = target.kind === "path" ? { path: target.path } : { path: target.dir, ...(target.recursive ? { recursive: true } : {}) };
      return { section: "syscalls", list: "matchPaths", index, entry: { ...path, syscall: [...r.syscalls], ...from } };
    }
  }
}

function noteSlot(p: Policy, n: UnenforcedNote): Slot {
  const index = indexOf(n.origin.path);
  const v = n.value;
  if (n.feature === "apparmor") return { section: "apparmor", list: undefined, index, entry: v };
  if (n.feature === "presets") return { section: "presets", list: undefined, index, entry: { name: (v as Obj).name!, ...(n.action !== p.action ? { action: n.action } : {}) } };
  const { severity, tags, message, action, ...rest } = v as Obj;
  const meta = common(p, { severity: severity as number, tags: tags as string[], message: message as string, action: action as string });
  // A note goes back where it was written: spec.<section>.<list>[i].
  const [, section = "process", list = "matchPaths"] = /^spec\.(\w+)\.(\w+)\[\d+\]$/.exec(n.origin.path) ?? [];
  return { section, list, index, entry: { ...rest, ...meta } };
}

export function policyToObject(p: Policy): Obj {
  const slots = [...p.rules.map((r) => ruleSlot(p, r)), ...(p.unenforced ?? []).map((n) => noteSlot(p, n))];
  const spec: Obj = {};
  if (p.severity !== 1) spec.severity = p.severity;
  if (p.tags.length > 0) spec.tags = [...p.tags];
  if (p.message !== "") spec.message = p.message;
  const selector: Obj = {};
  if (Object.keys(p.selector.matchLabels).length > 0 || p.policyKind === "KubeArmorHostPolicy") selector.matchLabels = { ...p.selector.matchLabels };
  if (p.selector.matchExpressions.length > 0) selector.matchExpressions = p.selector.matchExpressions.map((e) => ({ key: e.key, operator: e.operator, ...(e.values.length ? { values: [...e.values] } : {}) }));
  if (Object.keys(selector).length > 0) spec[p.policyKind === "KubeArmorHostPolicy" ? "nodeSelector" : "selector"] = selector;
  for (const section of [...SECTIONS, "device"]) {
    const mine = slots.filter((s) => s.section === section);
    if (mine.length === 0) continue;
    const body: Obj = {};
    if (section === "syscalls") Object.assign(body, syscallSectionMeta(p));
    for (const list of LISTS[section]!) {
      const entries = mine.filter((s) => s.list === list).sort((a, b) => a.index - b.index);
      if (entries.length > 0) body[list] = entries.map((s) => s.entry);
    }
    spec[section] = body;
  }
  const presets = slots.filter((s) => s.section === "presets").sort((a, b) => a.index - b.index);
  if (presets.length > 0) spec.presets = presets.map((s) => s.entry);
  const apparmor = slots.find((s) => s.section === "apparmor");
  if (apparmor) spec.apparmor = apparmor.entry;
  spec.action = p.action;
  const metadata: Obj = { name: p.name };
  if (p.policyKind === "KubeArmorPolicy") metadata.namespace = p.namespace;
  if (p.labels && Object.keys(p.labels).length > 0) metadata.labels = { ...p.labels };
  if (p.annotations && Object.keys(p.annotations).length > 0) metadata.annotations = { ...p.annotations };
  return { apiVersion: KUBEARMOR_API, kind: p.policyKind, metadata, spec };
}

/**
 * KubeArmor's syscalls section has no per-entry metadata or action: its
 * rules share the section's severity/tags/message and the spec's action.
 */
function syscallSectionMeta(p: Policy): Obj {
  const first = p.rules.find((r) => r.kind === "syscall");
  return first ? common(p, { severity: first.severity, tags: first.tags, message: first.message }) : {};
}

export function workloadToObject(w: Workload): Obj {
  const metadata: Obj = { name: w.name, namespace: w.namespace };
  if (Object.keys(w.labels).length > 0) metadata.labels = { ...w.labels };
  if (w.annotations && Object.keys(w.annotations).length > 0) metadata.annotations = { ...w.annotations };
  const spec: Obj = { containers: w.containers.map(containerToObject) };
  if (w.volumes.length > 0) {
    spec.volumes = w.volumes.map((v): JsonValue => {
      if (v.kind === "hostPath") return { name: v.name, hostPath: { path: v.path } };
      if (v.kind === "persistent") return { name: v.name, persistent: {} };
      const empty: Obj = {};
      if (v.medium !== "") empty.medium = v.medium;
      if (v.sizeLimitBytes !== undefined) empty.sizeLimit = formatMemory(v.sizeLimitBytes);
      return { name: v.name, emptyDir: empty };
    });
  }
  if (w.interfaces.length > 0) {
    spec.interfaces = w.interfaces.map((g): JsonValue => {
      if (g.devices.length === 0 && g.ports.length === 0 && !g.writable) return g.name;
      return { name: g.name, ...(g.devices.length ? { devices: [...g.devices] } : {}), ...(g.ports.length ? { ports: [...g.ports] } : {}), ...(g.writable ? { writable: true } : {}) };
    });
  }
  if (w.restartPolicy !== "Always") spec.restartPolicy = w.restartPolicy;
  const posture = w.defaultPosture;
  if (posture && Object.values(posture).some((v) => v !== "block")) {
    const values = new Set(Object.values(posture));
    spec.defaultPosture =
      values.size === 1 ? posture.file : { process: posture.process, file: posture.file, network: posture.network, capabilities: posture.capability };
  }
  return { apiVersion: PALISADE_API, kind: "Workload", metadata, spec };
}

function containerToObject(c: Container): Obj {
  const out: Obj = { name: c.name, image: c.image };
  if (c.command.length > 0) out.command = [...c.command];
  if (c.args.length > 0) out.args = [...c.args];
  if (c.workingDir !== undefined) out.workingDir = c.workingDir;
  if (c.env.length > 0) out.env = c.env.map((e) => ({ name: e.name, value: e.value }));
  if (c.ports.length > 0) out.ports = c.ports.map((p) => ({ containerPort: p.containerPort, ...(p.protocol === "TCP" ? {} : { protocol: p.protocol }) }));
  if (c.volumeMounts.length > 0) out.volumeMounts = c.volumeMounts.map((m) => ({ name: m.name, mountPath: m.mountPath, ...(m.readOnly ? { readOnly: true } : {}) }));
  const limits: Obj = {};
  if (c.resources.cpuMillis !== undefined) limits.cpu = formatCpu(c.resources.cpuMillis);
  if (c.resources.memoryBytes !== undefined) limits.memory = formatMemory(c.resources.memoryBytes);
  if (c.resources.pids !== undefined) limits.pids = c.resources.pids;
  if (Object.keys(limits).length > 0) out.resources = { limits };
  const s = c.securityContext;
  const sc: Obj = {};
  if (s.runAsUser !== undefined) sc.runAsUser = s.runAsUser;
  if (s.runAsGroup !== undefined) sc.runAsGroup = s.runAsGroup;
  if (s.runAsNonRoot) sc.runAsNonRoot = true;
  if (!s.readOnlyRootFilesystem) {
    sc.readOnlyRootFilesystem = false;
    if (s.writableRootReason !== undefined) sc.writableRootReason = s.writableRootReason;
  }
  if (s.capabilitiesAdd.length > 0) sc.capabilities = { add: s.capabilitiesAdd.map((x) => x.toUpperCase()) };
  if (Object.keys(sc).length > 0) out.securityContext = sc;
  if (c.livenessProbe) out.livenessProbe = probeToObject(c.livenessProbe);
  if (c.readinessProbe) out.readinessProbe = probeToObject(c.readinessProbe);
  return out;
}

const PROBE_DEFAULTS = { initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 } as const;

function probeToObject(p: Probe): Obj {
  const handler: Obj = p.kind === "exec" ? { exec: { command: [...p.command] } } : p.kind === "httpGet" ? { httpGet: { path: p.path, port: p.port } } : { tcpSocket: { port: p.port } };
  for (const k of Object.keys(PROBE_DEFAULTS) as (keyof typeof PROBE_DEFAULTS)[]) if (p[k] !== PROBE_DEFAULTS[k]) handler[k] = p[k];
  return handler;
}

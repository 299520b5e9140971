/**
 * One KubeArmorPolicy / KubeArmorHostPolicy document → a Policy node.
 * Accepts every field of KubeArmor's v1 CRD; fields that the model cannot
 * express (presets, apparmor, device, execname, …) become UnenforcedNotes so
 * nothing a policy says is lost between here and the compiler.
 */
import type { JsonValue, LabelExpression, Policy, PolicyKind, Rule, Selector, UnenforcedNote } from "./model.js";
import type { Diagnostics } from "./diagnostics.js";
import { readMetadata } from "./metadata.js";
import { COMMON_FIELDS, SPEC_DEFAULTS, inherit, note, parsePathSection, readCommon, type Inherited, type RuleSink } from "./policyRules.js";
import { parseNetworkOrCapabilities } from "./networkRules.js";
import { parseSyscallsSection } from "./syscallRules.js";
import { closest, suggestionHint } from "./suggest.js";
import { readInt, readMap, readSeq, readString, readStringEntries, readStringList, position, type Field, type MapReader } from "./yamlReader.js";
import { isScalar } from "yaml";

const RULE_SECTIONS = ["process", "file", "network", "capabilities", "syscalls"] as const;
const POLICY_SPEC_KEYS = ["selector", ...RULE_SECTIONS, "presets", "apparmor", ...COMMON_FIELDS];
const HOST_SPEC_KEYS = ["nodeSelector", ...RULE_SECTIONS, "apparmor", "device", ...COMMON_FIELDS];
const OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"] as const;
const PRESETS = ["protectEnv", "filelessExec", "exec", "protectProc"];
/** `nodeSelector.matchLabels: {kubearmor.io/hostname: "*"}` is KubeArmor's "every host": no label requirement. */
const ALL_HOSTS_KEY = "kubearmor.io/hostname";

export function parseKubeArmorDocument(d: Diagnostics, root: Field, policyKind: PolicyKind): Policy | undefined {
  const host = policyKind === "KubeArmorHostPolicy";
  const top = readMap(d, root, ["apiVersion", "kind", "metadata", "spec"], { required: ["metadata", "spec"] });
  if (!top) return undefined;
  const meta = readMetadata(d, top.field("metadata"));
  const specField = top.field("spec");
  if (!specField) return undefined;
  const spec = readMap(d, specField, host ? HOST_SPEC_KEYS : POLICY_SPEC_KEYS, {
    required: host ? ["nodeSelector"] : [],
    misplaced: host
      ? {
          selector: { message: "a KubeArmorHostPolicy selects nodes with nodeSelector", hint: "rename selector to nodeSelector (matchLabels only)" },
          presets: { message: "presets apply to KubeArmorPolicy only", hint: "move them to a KubeArmorPolicy" },
        }
      : {
          nodeSelector: { message: "nodeSelector belongs to KubeArmorHostPolicy", hint: "a KubeArmorPolicy selects workloads with selector.matchLabels" },
          device: { message: "device rules apply to KubeArmorHostPolicy only", hint: "move them to a KubeArmorHostPolicy" },
        },
  });
  if (!spec) return undefined;
  const defaults = inherit(SPEC_DEFAULTS, readCommon(d, spec));
  const selectorField = spec.field(host ? "nodeSelector" : "selector");
  const selector = selectorField ? readSelector(d, selectorField, host) : emptySelector();
  const sink: RuleSink = { d, host, rules: [], notes: [] };
  parseSections(sink, spec, defaults);
  parseSpecFeatures(sink, spec, defaults);
  if (sink.rules.length === 0 && sink.notes.length === 0 && [...RULE_SECTIONS, "presets", "apparmor", "device"].every((s) => !spec.has(s))) {
    d.semantic(specField.key ?? position(specField), "spec", "the policy has no rules", "add a process, file, network, capabilities or syscalls section");
  }
  if (!meta || !selector) return undefined;
  return {
    kind: "policy",
    policyKind,
    name: meta.name,
    namespace: host ? "" : (meta.namespace ?? "default"),
    selector,
    action: defaults.action,
    severity: defaults.severity,
    tags: defaults.tags,
    message: defaults.message,
    rules: sink.rules as Rule[],
    origin: d.origin(root.value ?? undefined, ""),
    unenforced: sink.notes as UnenforcedNote[],
    labels: meta.labels,
    annotations: meta.annotations,
  };
}

function parseSections(sink: RuleSink, spec: MapReader, defaults: Inherited): void {
  const process = spec.field("process");
  if (process) parsePathSection(sink, process, defaults, "process");
  const file = spec.field("file");
  if (file) parsePathSection(sink, file, defaults, "file");
  const network = spec.field("network");
  if (network) parseNetworkOrCapabilities(sink, network, defaults, "network");
  const capabilities = spec.field("capabilities");
  if (capabilities) parseNetworkOrCapabilities(sink, capabilities, defaults, "capability");
  const syscalls = spec.field("syscalls");
  if (syscalls) parseSyscallsSection(sink, syscalls, defaults);
}

function emptySelector(): Selector {
  return { kind: "selector", matchLabels: {}, matchExpressions: [] };
}

function readSelector(d: Diagnostics, f: Field, host: boolean): Selector | undefined {
  const m = readMap(d, f, host ? ["matchLabels"] : ["matchLabels", "matchExpressions"], {
    nullIsEmpty: true,
    misplaced: host ? { matchExpressions: { message: "nodeSelector takes matchLabels only", hint: "KubeArmor's host policies select nodes by exact labels" } } : {},
  });
  if (!m) return undefined;
  let ok = true;
  const matchLabels: Record<string, string> = {};
  const labelsField = m.field("matchLabels");
  const entries = labelsField ? readStringEntries(d, labelsField) : [];
  if (entries === undefined) ok = false;
  for (const { key, value, field } of entries ?? []) {
    if (key.trim() === "") {
      d.schema(field.key ?? position(field), field.path, "label keys must not be empty");
      ok = false;
    } else if (!(host && key === ALL_HOSTS_KEY && value === "*")) matchLabels[key] = value;
  }
  const matchExpressions: LabelExpression[] = [];
  const exprField = m.field("matchExpressions");
  for (const item of (exprField && readSeq(d, exprField, { nullIsEmpty: true })) || []) {
    const exprs = readExpression(d, item);
    if (exprs === undefined) ok = false;
    else matchExpressions.push(...exprs);
  }
  return ok ? { kind: "selector", matchLabels, matchExpressions } : undefined;
}

/**
 * Two forms. KubeArmor's (`key: label`, values `app=nginx`) is translated to
 * Kubernetes form, exactly: NotIn becomes one NotIn per label key; In is
 * accepted when all values share one key (an In across different keys means
 * "any of these labels", which an AND of requirements cannot express).
 * Kubernetes' form (`key: app`, any operator) is a Palisade extension.
 */
function readExpression(d: Diagnostics, item: Field): LabelExpression[] | undefined {
  const m = readMap(d, item, ["key", "operator", "values"], { required: ["key", "operator"] });
  if (!m || !m.has("key") || !m.has("operator")) return undefined;
  const key = readString(d, m.field("key")!, { nonEmpty: true, what: "a label key" });
  const opText = readString(d, m.field("operator")!, { what: "an operator" });
  if (key === undefined || opText === undefined) return undefined;
  const operator = OPERATORS.find((o) => o === opText);
  const opField = m.field("operator")!;
  if (operator === undefined) {
    d.schema(position(opField), opField.path, `unknown operator ${JSON.stringify(opText)}`, suggestionHint(opText, key === "label" ? ["In", "NotIn"] : OPERATORS, "use one of"));
    return undefined;
  }
  const valuesField = m.field("values");
  const values = valuesField ? readStringList(d, valuesField) : [];
  if (values === undefined) return undefined;
  if (key === "label") return kubeArmorExpression(d, m, operator, values);
  if (key === "namespace") {
    // KubeArmorClusterPolicy's form; read as a label it would silently select something else.
    d.schema(position(m.field("key")!), m.field("key")!.path, "key: namespace selects namespaces in KubeArmorClusterPolicy, which Palisade does not read", "a KubeArmorPolicy applies in its metadata.namespace; select workloads by label");
    return undefined;
  }
  if ((operator === "In" || operator === "NotIn") && values.length === 0) {
    d.semantic(m.at, `${m.path}.values`, `operator ${operator} needs at least one value`, "list the label values to match");
    return undefined;
  }
  if ((operator === "Exists" || operator === "DoesNotExist") && values.length > 0) {
    d.semantic(position(valuesField!), valuesField!.path, `operator ${operator} takes no values`, "remove values");
    return undefined;
  }
  return [{ key, operator, values }];
}

function kubeArmorExpression(d: Diagnostics, m: MapReader, operator: (typeof OPERATORS)[number], values: string[]): LabelExpression[] | undefined {
  const opField = m.field("operator")!;
  if (operator !== "In" && operator !== "NotIn") {
    d.schema(position(opField), opField.path, `with key: label, the operator must be In or NotIn, got ${operator}`, "to test that a label exists, write its name as key (Kubernetes form): key: app, operator: Exists");
    return undefined;
  }
  if (values.length === 0) {
    d.semantic(m.at, `${m.path}.values`, `operator ${operator} needs at least one value`, "list labels as key=value, e.g. - app=nginx");
    return undefined;
  }
  const byKey = new Map<string, string[]>();
  const valuesField = m.field("values")!;
  let ok = true;
  values.forEach((v, i) => {
    const eq = v.indexOf("=");
    if (eq <= 0) {
      d.schema(position(valuesField), `${valuesField.path}[${i}]`, `expected a label as key=value, got ${JSON.stringify(v)}`, "with key: label, each value is a whole label, e.g. app=nginx");
      ok = false;
      return;
    }
    const k = v.slice(0, eq);
    byKey.set(k, [...(byKey.get(k) ?? []), v.slice(eq + 1)]);
  });
  if (!ok) return undefined;
  if (operator === "In" && byKey.size > 1) {
    d.semantic(position(valuesField), valuesField.path, `an In expression over different label keys (${[...byKey.keys()].join(", ")}) selects workloads with any of them, which Palisade's selectors cannot express`, "split it into one policy per label key, or use matchLabels for labels that must all be present");
    return undefined;
  }
  return [...byKey].map(([key, vs]) => ({ key, operator, values: vs }));
}

/** presets, apparmor and device: parsed, validated, kept as unenforced notes. */
function parseSpecFeatures(sink: RuleSink, spec: MapReader, defaults: Inherited): void {
  const { d } = sink;
  const presets = spec.field("presets");
  for (const item of (presets && readSeq(d, presets, { nullIsEmpty: true })) || []) {
    const m = readMap(d, item, ["name", "action"], { required: ["name"] });
    if (!m || !m.has("name")) continue;
    const name = readString(d, m.field("name")!, { what: "a preset name" });
    if (name === undefined) continue;
    if (!PRESETS.includes(name)) {
      d.schema(position(m.field("name")!), m.field("name")!.path, `unknown preset ${JSON.stringify(name)}`, suggestionHint(name, PRESETS, "KubeArmor's presets are"));
      continue;
    }
    const action = readCommon(d, m).action ?? defaults.action;
    note(sink, "presets", "policy", action, `KubeArmor's "${name}" preset is a built-in BPF-LSM rule set with no equivalent in Palisade's backends`, { name, action }, d.origin(m.at, m.path));
  }
  const apparmor = spec.field("apparmor");
  if (apparmor) {
    const text = readString(d, apparmor, { nonEmpty: true, what: "AppArmor profile text" });
    if (text !== undefined) {
      note(sink, "apparmor", "policy", defaults.action, "raw AppArmor profile text is opaque to Palisade's compiler and applies only on AppArmor hosts", text, d.origin(position(apparmor), apparmor.path));
    }
  }
  const device = spec.field("device");
  if (device) parseDevices(sink, device, defaults);
}

function parseDevices(sink: RuleSink, f: Field, spec: Inherited): void {
  const { d } = sink;
  const section = readMap(d, f, ["matchDevice", ...COMMON_FIELDS], { nullIsEmpty: true });
  if (!section) return;
  const defaults = inherit(spec, readCommon(d, section));
  const list = section.field("matchDevice");
  const items = (list && readSeq(d, list, { nullIsEmpty: true })) || [];
  if (items.length === 0) d.semantic(f.key ?? position(f), f.path, "spec.device has no rules", "add matchDevice entries, or remove \"device\"");
  for (const item of items) {
    const m = readMap(d, item, ["class", "subClass", "protocol", "level", ...COMMON_FIELDS], { required: ["class"] });
    if (!m || !m.has("class")) continue;
    const res = inherit(defaults, readCommon(d, m));
    const value: Record<string, JsonValue> = {};
    const cls = readDeviceClass(d, m.field("class")!);
    if (cls === undefined) continue;
    value.class = cls;
    let ok = true;
    for (const k of ["subClass", "protocol", "level"] as const) {
      const field = m.field(k);
      if (!field) continue;
      const n = readInt(d, field, 0, 255);
      if (n === undefined) ok = false;
      else value[k] = n;
    }
    if (!ok) continue;
    note(sink, "device", "policy", res.action, "USB device authorisation (sysfs) is not one of Palisade's backends", { ...value, severity: res.severity, tags: [...res.tags], message: res.message, action: res.action }, d.origin(m.at, m.path));
  }
}

const USB_CLASSES = ["AUDIO", "COMMUNICATION-CDC", "HID", "PHYSICAL", "IMAGE", "PRINTER", "MASS-STORAGE", "HUB", "CDC-DATA", "SMART-CARD", "CONTENT-SECURITY", "VIDEO", "PERSONAL-HEALTHCARE", "AUDIO/VIDEO", "BILLBOARD", "TYPE-C-BRIDGE", "BULK-DISPLAY", "MCTP", "I3C", "DIAGNOSTIC", "WIRELESS-CONTROLLER", "MISCELLANEOUS", "APPLICATION-SPECIFIC", "VENDOR-SPECIFIC"];

/** A USB class: a name from KubeArmor's table, a number 0–255, or hex ("0x3"). */
function readDeviceClass(d: Diagnostics, f: Field): string | number | undefined {
  if (f.value !== null && isScalar(f.value) && typeof f.value.value === "number") return readInt(d, f, 0, 255, "a USB class");
  const text = readString(d, f, { nonEmpty: true, what: "a USB class name or number" });
  if (text === undefined) return undefined;
  if (/^0x[0-9a-f]{1,2}$/i.test(text)) return text.toLowerCase();
  const upper = text.toUpperCase();
  if (USB_CLASSES.includes(upper)) return upper;
  const near = closest(text, USB_CLASSES);
  d.schema(position(f), f.path, `unknown USB class ${JSON.stringify(text)}`, near ? `did you mean "${near}"?` : "use a class name such as HID or MASS-STORAGE, a number, or hex like 0x08");
  return undefined;
}

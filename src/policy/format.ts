/**
 * Canonical YAML (`palisade policy fmt`). Text input is reformatted in place
 * on the YAML tree, so comments survive; keys are put in KubeArmor's
 * documented order, spellings normalised (action case, protocol and
 * capability names), quoting made uniform (plain unless YAML needs double
 * quotes, multi-line strings as `|` blocks), lists and maps in block style,
 * one document per `---`. A file that does not validate is not formatted.
 */
import { Document, isMap, isScalar, isSeq, parseAllDocuments, visit, type Node, type Pair } from "yaml";
import { PalisadeError } from "../core/errors.js";
import type { Policy } from "./model.js";
import type { Workload } from "./workload.js";
import { parseDocuments } from "./parseDocuments.js";
import { policyToObject, workloadToObject } from "./toYaml.js";
import { normalizeAction, normalizeCapability } from "./vocabulary.js";

const COMMON = ["severity", "tags", "message", "action"];
const RULE_ENTRY = ["path", "execname", "dir", "pattern", "protocol", "domain", "capability", "syscall", "recursive", "readOnly", "ownerOnly", "pts", "fromSource", "allowedArgs", ...COMMON];
const SECTION = ["matchPaths", "matchDirectories", "matchPatterns", "matchProtocols", "matchDNSQueries", "matchCapabilities", "matchSyscalls", "matchDevice", ...COMMON];
const PROBE = ["exec", "httpGet", "tcpSocket", "initialDelaySeconds", "periodSeconds", "timeoutSeconds", "successThreshold", "failureThreshold"];

const ORDER: Readonly<Record<string, readonly string[]>> = {
  "": ["apiVersion", "kind", "metadata", "spec"],
  metadata: ["name", "namespace", "labels", "annotations"],
  // KubeArmor's documented order: metadata fields, selector, rule sections, action last.
  "policy:spec": ["severity", "tags", "message", "selector", "nodeSelector", "process", "file", "network", "capabilities", "syscalls", "presets", "apparmor", "device", "action"],
  "policy:spec.selector": ["matchLabels", "matchExpressions"],
  "policy:spec.selector.matchExpressions[]": ["key", "operator", "values"],
  "policy:spec.presets[]": ["name", "action"],
  "policy:spec.device.matchDevice[]": ["class", "subClass", "protocol", "level", ...COMMON],
  "workload:spec": ["containers", "volumes", "interfaces", "restartPolicy", "defaultPosture"],
  "workload:spec.containers[]": ["name", "image", "command", "args", "workingDir", "env", "ports", "volumeMounts", "resources", "securityContext", "livenessProbe", "readinessProbe"],
  "workload:spec.containers[].env[]": ["name", "value"],
  "workload:spec.containers[].ports[]": ["containerPort", "protocol"],
  "workload:spec.containers[].volumeMounts[]": ["name", "mountPath", "readOnly"],
  "workload:spec.containers[].resources": ["limits"],
  "workload:spec.containers[].resources.limits": ["cpu", "memory", "pids"],
  "workload:spec.containers[].securityContext": ["runAsUser", "runAsGroup", "runAsNonRoot", "readOnlyRootFilesystem", "writableRootReason", "allowPrivilegeEscalation", "capabilities"],
  "workload:spec.containers[].securityContext.capabilities": ["add", "drop"],
  "workload:spec.containers[].livenessProbe": PROBE,
  "workload:spec.containers[].readinessProbe": PROBE,
  "workload:spec.containers[].livenessProbe.httpGet": ["path", "port"],
  "workload:spec.containers[].readinessProbe.httpGet": ["path", "port"],
  "workload:spec.volumes[]": ["name", "emptyDir", "hostPath", "persistent"],
  "workload:spec.volumes[].emptyDir": ["medium", "sizeLimit"],
  "workload:spec.interfaces[]": ["name", "devices", "ports", "writable"],
  "workload:spec.defaultPosture": ["process", "file", "network", "capabilities"],
};

/** Maps whose keys are data (labels), sorted alphabetically. */
const FREE_MAPS = /^(metadata\.(labels|annotations)|spec\.(selector|nodeSelector)\.matchLabels)$/;

type DocKind = "policy" | "workload";

function orderFor(kind: DocKind, path: string): readonly string[] | "alphabetical" | undefined {
  if (FREE_MAPS.test(path)) return "alphabetical";
  const own = ORDER[`${kind}:${path}`] ?? ORDER[path];
  if (own) return own;
  if (kind !== "policy") return undefined;
  if (path === "spec.nodeSelector") return ["matchLabels"];
  if (path.endsWith("fromSource[]")) return ["path", "dir", "recursive"];
  if (/^spec\.[A-Za-z]+$/.test(path)) return SECTION;
  if (/^spec\.[A-Za-z]+\.[A-Za-z]+\[\]$/.test(path)) return RULE_ENTRY;
  return undefined;
}

function keyOf(p: Pair): string {
  return isScalar(p.key) ? String(p.key.value) : "";
}

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

/** Reorders keys and normalises spellings, recursively. */
function canonicalize(kind: DocKind, node: unknown, path: string): void {
  if (isMap(node)) {
    const order = orderFor(kind, path);
    if (order === "alphabetical") node.items.sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
    else if (order) {
      const rank = (p: Pair) => {
        const i = order.indexOf(keyOf(p));
        return i < 0 ? order.length : i;
      };
      node.items.sort((a, b) => rank(a) - rank(b));
    }
    for (const pair of node.items) {
      const key = keyOf(pair);
      if (isScalar(pair.value)) normalizeScalar(kind, join(path, key), key, pair.value);
      else canonicalize(kind, pair.value, order === "alphabetical" ? join(path, "*") : join(path, key));
    }
  } else if (isSeq(node)) {
    for (const item of node.items) {
      if (isScalar(item)) normalizeScalar(kind, `${path}[]`, "", item);
      else canonicalize(kind, item, `${path}[]`);
    }
  }
}

function normalizeScalar(kind: DocKind, path: string, key: string, s: { value: unknown }): void {
  if (typeof s.value !== "string") return;
  const text = s.value;
  if (kind === "policy") {
    if (key === "action") s.value = normalizeAction(text) ?? text;
    else if (/^spec\.network\.matchProtocols\[\]\.protocol$/.test(path)) s.value = text.split(",").map((t) => t.trim().toLowerCase()).join(",");
    else if (/^spec\.capabilities\.matchCapabilities\[\]\.capability$/.test(path)) s.value = text.split(",").map((t) => normalizeCapability(t) ?? t.trim()).join(",");
  } else if (/securityContext\.capabilities\.(add|drop)\[\]$/.test(path)) {
    s.value = (normalizeCapability(text) ?? text.trim()).toUpperCase();
  } else if (/^spec\.defaultPosture(\.[a-z]+)?$/.test(path)) {
    s.value = text.toLowerCase();
  }
}

/** Uniform styles: block collections, plain scalars unless YAML needs quotes, `|` for multi-line text. */
function restyle(doc: Document): void {
  visit(doc, {
    Scalar(_, n) {
      n.spaceBefore = false;
      if (typeof n.value === "string") n.type = n.value.includes("\n") ? "BLOCK_LITERAL" : "PLAIN";
      else n.format = undefined;
    },
    Map(_, n) {
      n.flow = n.items.length === 0;
      n.spaceBefore = false;
    },
    Seq(_, n) {
      n.flow = n.items.length === 0;
      n.spaceBefore = false;
    },
    Pair(_, p) {
      if (isScalar(p.key)) p.key.spaceBefore = false;
    },
  });
}

function docKind(doc: Document): DocKind {
  const kind = isMap(doc.contents) ? doc.contents.get("kind") : undefined;
  return kind === "Workload" ? "workload" : "policy";
}

/** A comment above the first key belongs to the document, not to whichever key sorts first. */
function hoistLeadingComment(doc: Document): void {
  const root = doc.contents;
  if (!isMap(root)) return;
  const key = root.items[0]?.key;
  const parts = [doc.commentBefore, root.commentBefore, isScalar(key) ? key.commentBefore : undefined].filter((c): c is string => !!c);
  root.commentBefore = undefined;
  if (isScalar(key)) key.commentBefore = undefined;
  doc.commentBefore = parts.length ? parts.join("\n") : null;
}

function render(doc: Document): string {
  hoistLeadingComment(doc);
  canonicalize(docKind(doc), doc.contents as Node, "");
  restyle(doc);
  if (doc.directives) {
    doc.directives.docStart = null;
    doc.directives.yaml.explicit = false;
  }
  return doc.toString({ lineWidth: 0, minContentWidth: 0, singleQuote: false, indentSeq: false });
}

export type Formattable = string | Policy | Workload | readonly (Policy | Workload)[];

/**
 * Canonical YAML for a file's text or for model nodes. Text that does not
 * validate throws one PalisadeError listing every problem in
 * `details.errors` (the CLI prints them all).
 */
export function formatPolicy(input: Formattable, fileName = "<input>"): string {
  if (typeof input !== "string") {
    const nodes = Array.isArray(input) ? input : [input as Policy | Workload];
    return nodes.map((n) => render(new Document(n.kind === "policy" ? policyToObject(n) : workloadToObject(n)))).join("---\n");
  }
  const parsed = parseDocuments(input, fileName);
  if (parsed.errors.length > 0) throw invalidFileError(fileName, parsed.errors);
  const docs = parseAllDocuments(input, { uniqueKeys: false });
  const rendered = (Array.isArray(docs) ? docs : []).filter((d) => d.contents !== null && !(isScalar(d.contents) && d.contents.value === null)).map(render);
  return rendered.join("---\n");
}

/** One error standing for a whole invalid file; the individual problems ride in details. */
export function invalidFileError(fileName: string, errors: readonly PalisadeError[]): PalisadeError {
  const first = errors[0]!;
  return new PalisadeError(first.code, `${errors.length} problem${errors.length === 1 ? "" : "s"} in this file`, {
    hint: `run: palisade policy validate ${fileName}`,
    where: { file: fileName },
    details: { errors: errors.map((e) => e.toJSON()) },
  });
}

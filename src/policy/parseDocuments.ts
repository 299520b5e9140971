/**
 * Entry point of parsing: a (multi-document) YAML file → frozen Policy and
 * Workload nodes plus every problem found. A document with any error yields
 * no node, so callers can never act on half a policy; the other documents of
 * the file are still returned (and checked), so one run shows all mistakes.
 */
import { readFile } from "node:fs/promises";
import { LineCounter, isMap, isScalar, parseAllDocuments, type Node, type YAMLError } from "yaml";
import { asPalisadeError, type PalisadeError } from "../core/errors.js";
import { freezeDeep, type Policy, type PolicyKind } from "./model.js";
import type { Workload } from "./workload.js";
import { Diagnostics } from "./diagnostics.js";
import { parseKubeArmorDocument } from "./policyParser.js";
import { parseWorkloadDocument } from "./workloadParser.js";
import { closest } from "./suggest.js";

export interface ParseResult {
  readonly policies: readonly Policy[];
  readonly workloads: readonly Workload[];
  /** Every problem, in file order. Empty means the whole file is valid. */
  readonly errors: readonly PalisadeError[];
}

export const KUBEARMOR_API = "security.kubearmor.com/v1";
export const PALISADE_API = "palisade.dev/v1";
const KINDS = ["KubeArmorPolicy", "KubeArmorHostPolicy", "Workload"];
const OTHER_KUBEARMOR_KINDS = ["KubeArmorClusterPolicy", "KubeArmorNetworkPolicy", "KubeArmorMacro", "KubeArmorAuditPolicy"];

const YAML_HINTS: Readonly<Record<string, string>> = {
  TAB_AS_INDENT: "YAML does not allow tabs for indentation; use spaces",
  BAD_INDENT: "check the indentation of this line against its parent",
  MISSING_CHAR: "a quote or bracket is not closed",
  MULTILINE_IMPLICIT_KEY: "a key must fit on one line; is a colon or quote missing above?",
  BLOCK_AS_IMPLICIT_KEY: "a key must fit on one line; is a colon or quote missing above?",
  UNEXPECTED_TOKEN: "check the syntax just before this position",
  BAD_SCALAR_START: "quote values that start with a special character",
};

/**
 * The YAML parser reports an unclosed quote where the input ends; the hint
 * points back at the line most likely to hold the opening quote.
 */
function yamlHint(e: YAMLError, text: string, errorLine: number): string {
  if (e.code === "MISSING_CHAR" && /quote/.test(e.message)) {
    const lines = text.split("\n");
    for (let i = Math.min(errorLine, lines.length) - 1; i >= 0; i--) {
      const quotes = (lines[i]!.replace(/\\./g, "").match(/"/g) ?? []).length;
      if (quotes % 2 === 1) return `the quote opened at line ${i + 1} is not closed`;
    }
  }
  return YAML_HINTS[e.code] ?? "fix the YAML syntax at this position";
}

export function parseDocuments(text: string, fileName: string): ParseResult {
  const lineCounter = new LineCounter();
  const d = new Diagnostics(fileName, lineCounter);
  const docs = parseAllDocuments(text, { lineCounter, uniqueKeys: false, prettyErrors: false });
  const policies: Policy[] = [];
  const workloads: Workload[] = [];
  let documents = 0;
  for (const doc of Array.isArray(docs) ? docs : []) {
    const problems: YAMLError[] = [...doc.errors, ...doc.warnings];
    for (const e of problems) {
      const message = e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
      d.report("POLICY_YAML", e.pos[0], "", message, yamlHint(e, text, d.lineColumn(e.pos[0]).line));
    }
    // `---` followed by nothing (or only comments) is an empty document, not an error.
    const empty = doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null);
    if (problems.length > 0 || empty) {
      if (!empty) documents++;
      continue;
    }
    documents++;
    const before = d.count;
    const node = parseOne(d, doc.contents as Node);
    if (d.count > before || node === undefined) continue;
    if (node.kind === "policy") policies.push(node);
    else workloads.push(node);
  }
  if (documents === 0 && d.count === 0) d.schema(0, "", "the file holds no YAML documents", "a policy file holds KubeArmorPolicy, KubeArmorHostPolicy or Workload documents separated by ---");
  checkUnique(d, policies, workloads);
  const errors = [...d.errors].sort((a, b) => (a.where?.line ?? 0) - (b.where?.line ?? 0) || (a.where?.column ?? 0) - (b.where?.column ?? 0));
  return freezeDeep({ policies: policies.map(freezeDeep), workloads: workloads.map(freezeDeep), errors: Object.freeze(errors) }) as ParseResult;
}

/** Reads and parses one file; a read failure is thrown (IO), not returned. */
export async function parsePolicyFile(path: string): Promise<ParseResult> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw asPalisadeError(err);
  }
  return parseDocuments(text, path);
}

function scalarValue(map: Node, key: string): { value: unknown; node: Node } | undefined {
  if (!isMap(map)) return undefined;
  for (const pair of map.items) {
    if (isScalar(pair.key) && pair.key.value === key) return { value: isScalar(pair.value) ? pair.value.value : undefined, node: (pair.value as Node | null) ?? (pair.key as Node) };
  }
  return undefined;
}

function parseOne(d: Diagnostics, root: Node): Policy | Workload | undefined {
  if (!isMap(root)) {
    d.schema(root, "", "a document must be a mapping with apiVersion, kind, metadata and spec");
    return undefined;
  }
  const kind = scalarValue(root, "kind");
  const api = scalarValue(root, "apiVersion");
  if (kind === undefined) d.schema(root, "kind", 'missing required field "kind"', "e.g. kind: KubeArmorPolicy");
  if (api === undefined) d.schema(root, "apiVersion", 'missing required field "apiVersion"', `e.g. apiVersion: ${KUBEARMOR_API}`);
  if (kind === undefined || api === undefined) return undefined;
  if (typeof kind.value !== "string" || !KINDS.includes(kind.value)) {
    const text = String(kind.value);
    const hint = OTHER_KUBEARMOR_KINDS.includes(text)
      ? "Palisade reads KubeArmorPolicy, KubeArmorHostPolicy and Workload; a device has no cluster, so select workloads with a KubeArmorPolicy"
      : closest(text, KINDS) !== undefined
        ? `did you mean "${closest(text, KINDS)}"?`
        : `Palisade reads ${KINDS.join(", ")}`;
    d.schema(kind.node, "kind", `unsupported kind ${JSON.stringify(kind.value)}`, hint);
    return undefined;
  }
  const expected = kind.value === "Workload" ? PALISADE_API : KUBEARMOR_API;
  if (api.value !== expected) {
    const hint = api.value === "security.accuknox.com/v1" ? `that is KubeArmor's old API group; write apiVersion: ${KUBEARMOR_API}` : `write apiVersion: ${expected}`;
    d.schema(api.node, "apiVersion", `unsupported apiVersion ${JSON.stringify(api.value)} for kind ${kind.value}`, hint);
    return undefined;
  }
  const field = { path: "", value: root };
  if (kind.value === "Workload") return parseWorkloadDocument(d, field);
  return parseKubeArmorDocument(d, field, kind.value as PolicyKind);
}

/** Two documents with one identity would make "which one applies" depend on file order. */
function checkUnique(d: Diagnostics, policies: readonly Policy[], workloads: readonly Workload[]): void {
  const seen = new Map<string, number>();
  for (const p of policies) {
    const id = `${p.policyKind}/${p.namespace}/${p.name}`;
    const first = seen.get(id);
    if (first !== undefined) d.semantic(p.origin, "metadata.name", `${p.policyKind} ${p.namespace ? `${p.namespace}/` : ""}${p.name} is defined twice (first at line ${first})`, "rename one of them or merge their rules");
    else seen.set(id, p.origin.line);
  }
  for (const w of workloads) {
    const id = `Workload/${w.namespace}/${w.name}`;
    const first = seen.get(id);
    if (first !== undefined) d.semantic(w.origin, "metadata.name", `Workload ${w.namespace}/${w.name} is defined twice (first at line ${first})`, "rename one of them");
    else seen.set(id, w.origin.line);
  }
}

/**
 * `metadata` of every document, with Kubernetes' naming rules: names and
 * namespaces are DNS names (they end up in file names, cgroup paths and
 * alerts), label keys and values follow the label syntax.
 */
import type { Diagnostics } from "./diagnostics.js";
import { readMap, readString, readStringEntries, position, type Field } from "./yamlReader.js";

export interface Metadata {
  readonly name: string;
  readonly namespace: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && DNS_LABEL.test(s);
}

export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && DNS_SUBDOMAIN.test(s);
}

/** Why `key` is not a valid label key, or undefined. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !isDnsSubdomain(prefix)) return `label key prefix ${JSON.stringify(prefix)} is not a DNS subdomain`;
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    return `label key ${JSON.stringify(key)} is invalid (at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit)`;
  }
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63 || !LABEL_NAME.test(value)) {
    return `label value ${JSON.stringify(value)} is invalid (at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit)`;
  }
  return undefined;
}

/** Labels with Kubernetes syntax checks; errors point at the offending key or value. */
export function readLabels(d: Diagnostics, f: Field): Record<string, string> | undefined {
  const entries = readStringEntries(d, f);
  if (entries === undefined) return undefined;
  let ok = true;
  for (const { key, value, field } of entries) {
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) {
      d.schema(field.key ?? position(f), field.path, keyProblem);
      ok = false;
    }
    const valueProblem = labelValueProblem(value);
    if (valueProblem) {
      d.schema(position(field), field.path, valueProblem);
      ok = false;
    }
  }
  return ok ? Object.fromEntries(entries.map((e) => [e.key, e.value])) : undefined;
}

function readAnnotations(d: Diagnostics, f: Field): Record<string, string> | undefined {
  const entries = readStringEntries(d, f);
  if (entries === undefined) return undefined;
  for (const { key, field } of entries) {
    const problem = labelKeyProblem(key);
    if (problem) d.schema(field.key ?? position(f), field.path, problem.replace("label key", "annotation key"));
  }
  return Object.fromEntries(entries.map((e) => [e.key, e.value]));
}

/** Reads `metadata`. Errors are reported; the result is undefined only when the name is unusable. */
export function readMetadata(d: Diagnostics, f: Field | undefined): Metadata | undefined {
  if (!f) return undefined;
  const m = readMap(d, f, ["name", "namespace", "labels", "annotations"], { required: ["name"] });
  if (!m) return undefined;
  let name: string | undefined;
  const nameField = m.field("name");
  if (nameField) {
    name = readString(d, nameField, { nonEmpty: true, what: "a name" });
    if (name !== undefined && !isDnsSubdomain(name)) {
      d.schema(position(nameField), nameField.path, `name ${JSON.stringify(name)} is not a valid DNS name`, "use lower-case letters, digits, \"-\" and \".\", at most 253 characters, e.g. block-shell-access");
      name = undefined;
    }
  }
  let namespace: string | undefined;
  const nsField = m.field("namespace");
  if (nsField) {
    namespace = readString(d, nsField, { nonEmpty: true, what: "a namespace" });
    if (namespace !== undefined && !isDnsLabel(namespace)) {
      d.schema(position(nsField), nsField.path, `namespace ${JSON.stringify(namespace)} is not a valid DNS label`, "use lower-case letters, digits and \"-\", at most 63 characters");
    }
  }
  const labels = m.field("labels") ? readLabels(d, m.field("labels")!) : {};
  const annotations = m.field("annotations") ? readAnnotations(d, m.field("annotations")!) : {};
  if (name === undefined) return undefined;
  return { name, namespace, labels: labels ?? {}, annotations: annotations ?? {} };
}

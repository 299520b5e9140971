/**
 * `spec.network` (matchProtocols, matchDNSQueries) and `spec.capabilities`
 * (matchCapabilities) → model rules, or unenforced notes for what the model
 * cannot express: protocols outside NetworkProtocol (`all`, socket types,
 * address families), DNS names, and rules qualified by `pts`.
 */
import type { JsonValue, Origin, SourceMatch } from "./model.js";
import type { Diagnostics } from "./diagnostics.js";
import {
  COMMON_FIELDS,
  Duplicates,
  PTS_REASON,
  checkHostAllow,
  inherit,
  note,
  readCommon,
  readFromSource,
  reportEmptySection,
  resolvedJson,
  sourceJson,
  type Inherited,
  type RuleSink,
} from "./policyRules.js";
import { suggestionHint, closest } from "./suggest.js";
import { normalizeCapability, normalizeProtocol, isModelProtocol, isAddressFamily, CAPABILITIES, ALL_PROTOCOLS, ADDRESS_FAMILIES, KUBEARMOR_ONLY_PROTOCOLS, MODEL_PROTOCOLS } from "./vocabulary.js";
import { readBool, readMap, readSeq, readString, position, type Field, type MapReader } from "./yamlReader.js";

/** Comma lists (`tcp,udp`) are KubeArmor syntax for several entries sharing the rest of the fields. */
function splitList(text: string): string[] {
  return text.split(",").map((s) => s.trim());
}

interface Entry<T> {
  readonly target: T;
  readonly res: Inherited;
  readonly fromSource: SourceMatch[];
  /** `pts: true|false` as written, or null when absent. */
  readonly pts: boolean | null;
  readonly origin: Origin;
  readonly m: MapReader;
  readonly dups: Duplicates;
}

export function parseNetworkOrCapabilities(sink: RuleSink, f: Field, spec: Inherited, kind: "network" | "capability"): void {
  const { d } = sink;
  const network = kind === "network";
  const listKey = network ? "matchProtocols" : "matchCapabilities";
  const itemKey = network ? "protocol" : "capability";
  const section = readMap(d, f, [listKey, ...(network ? ["matchDNSQueries"] : []), ...COMMON_FIELDS], { nullIsEmpty: true });
  if (!section) return;
  const defaults = inherit(spec, readCommon(d, section));
  const listField = section.field(listKey);
  const items = listField ? readSeq(d, listField, { nullIsEmpty: true }) : [];
  const dnsField = network ? section.field("matchDNSQueries") : undefined;
  const dnsItems = dnsField ? readSeq(d, dnsField, { nullIsEmpty: true }) : [];
  if (items === undefined || dnsItems === undefined) return;
  const name = network ? "network" : "capabilities";
  if (items.length === 0 && dnsItems.length === 0) {
    reportEmptySection(d, f, name, network ? "matchProtocols or matchDNSQueries" : listKey);
    return;
  }
  const dups = new Duplicates(d);
  for (const item of items) {
    // KubeArmor's CRD allows pts on matchProtocols entries, not on matchCapabilities.
    const m = readMap(d, item, [itemKey, "fromSource", ...(network ? ["pts"] : []), ...COMMON_FIELDS], { required: sink.host ? [itemKey, "fromSource"] : [itemKey] });
    if (!m || !m.has(itemKey)) continue;
    const valueField = m.field(itemKey)!;
    const entry = readEntry(sink, m, defaults, name, dups, () => readString(d, valueField, { nonEmpty: true, what: `a ${itemKey} name` }));
    if (entry === undefined) continue;
    for (const part of splitList(entry.target)) {
      if (network) addProtocol(sink, valueField, part, entry);
      else addCapability(sink, valueField, part, entry);
    }
  }
  const dnsDups = new Duplicates(d);
  for (const item of dnsItems) {
    const m = readMap(d, item, ["domain", "fromSource", ...COMMON_FIELDS], { required: ["domain"] });
    if (!m || !m.has("domain")) continue;
    const entry = readEntry(sink, m, defaults, name, dnsDups, () => readDomain(d, m.field("domain")!));
    if (entry === undefined) continue;
    const value: Record<string, JsonValue> = { domain: entry.target };
    if (entry.fromSource.length > 0) value.fromSource = entry.fromSource.map(sourceJson);
    note(sink, "dns", "network", entry.res.action, "matches DNS queries by domain name; Palisade's network rules match protocols, not names", { ...value, ...resolvedJson(entry.res) }, entry.origin);
  }
}

/** The fields every network/capability entry shares (alert fields, action, fromSource, pts), then its target. */
function readEntry<T>(sink: RuleSink, m: MapReader, defaults: Inherited, name: string, dups: Duplicates, readTarget: () => T | undefined): Entry<T> | undefined {
  const { d } = sink;
  const res = inherit(defaults, readCommon(d, m));
  const fromSource = m.field("fromSource") ? readFromSource(d, m.field("fromSource")!) : [];
  const pts = m.field("pts") ? readBool(d, m.field("pts")!) : null;
  const target = readTarget();
  if (fromSource === undefined || pts === undefined || target === undefined) return undefined;
  if (sink.host && fromSource.length === 0 && m.has("fromSource")) {
    d.schema(position(m.field("fromSource")!), m.field("fromSource")!.path, `host ${name} rules need at least one fromSource entry`, "name the process the rule applies to");
  }
  checkHostAllow(sink, m, res, fromSource);
  return { target, res, fromSource, pts, origin: d.origin(m.at, m.path), m, dups };
}

/**
 * A DNS name as KubeArmor matches it (the name and its subdomains). Lower-cased,
 * a trailing "." dropped; URLs, ports and paths are rejected, since such a
 * rule could never match a query.
 */
function readDomain(d: Diagnostics, f: Field): string | undefined {
  const text = readString(d, f, { nonEmpty: true, what: "a domain name" });
  if (text === undefined) return undefined;
  const domain = text.trim().toLowerCase().replace(/\.$/, "");
  const label = /^(\*|[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)$/;
  const labels = domain.split(".");
  if (domain.length > 253 || labels.some((l, i) => !label.test(l) || (l === "*" && i > 0))) {
    const hint = /[:/]/.test(domain) ? "write the host name only, e.g. example.com (no scheme, port or path)" : "a domain is dot-separated labels of letters, digits, \"-\" and \"_\", e.g. api.example.com";
    d.schema(position(f), f.path, `invalid domain name ${JSON.stringify(text)}`, hint);
    return undefined;
  }
  return domain;
}

function protocolHint(text: string): string {
  const near = closest(text, ALL_PROTOCOLS);
  // Address families are shown as the kernel (and KubeArmor's examples) spell them.
  if (near !== undefined) return `did you mean "${isAddressFamily(near) ? near.toUpperCase() : near}"?`;
  if (/^af_/i.test(text)) return `address families are: ${ADDRESS_FAMILIES.map((f) => f.toUpperCase()).join(", ")}`;
  return suggestionHint(text, [...MODEL_PROTOCOLS, ...KUBEARMOR_ONLY_PROTOCOLS], "use one of");
}

function addProtocol(sink: RuleSink, f: Field, text: string, e: Entry<string>): void {
  const protocol = normalizeProtocol(text);
  if (protocol === undefined) {
    sink.d.schema(position(f), f.path, `unknown protocol ${JSON.stringify(text)}`, protocolHint(text));
    return;
  }
  const { res, fromSource, origin } = e;
  if (isModelProtocol(protocol) && e.pts === null) {
    e.dups.check(JSON.stringify([protocol, fromSource]), e.m, res);
    sink.rules.push({ kind: "network", protocol, action: res.action, severity: res.severity, tags: res.tags, message: res.message, fromSource, origin });
    return;
  }
  const value: Record<string, JsonValue> = { protocol };
  if (fromSource.length > 0) value.fromSource = fromSource.map(sourceJson);
  if (e.pts !== null) value.pts = e.pts;
  const why =
    protocol === "all"
      ? `"all" covers every socket family and type, which Palisade's network rules do not model one by one`
      : isAddressFamily(protocol)
        ? `"${protocol}" is a socket address family, which Palisade's network rules do not model`
        : `"${protocol}" is a socket type or protocol Palisade's network rules do not model`;
  const [feature, reason] = isModelProtocol(protocol) ? (["pts", PTS_REASON] as const) : (["network-protocol", e.pts === null ? why : `${why}; ${PTS_REASON}`] as const);
  note(sink, feature, "network", res.action, reason, { ...value, ...resolvedJson(res) }, origin);
}

function addCapability(sink: RuleSink, f: Field, text: string, e: Entry<string>): void {
  const capability = normalizeCapability(text);
  if (capability === undefined) {
    const bare = text.toLowerCase().replace(/^cap_/, "");
    sink.d.schema(position(f), f.path, `unknown capability ${JSON.stringify(text)}`, suggestionHint(bare, CAPABILITIES, "Linux capabilities are"));
    return;
  }
  const { res, fromSource, origin } = e;
  e.dups.check(JSON.stringify([capability, fromSource]), e.m, res);
  sink.rules.push({ kind: "capability", capability, action: res.action, severity: res.severity, tags: res.tags, message: res.message, fromSource, origin });
}

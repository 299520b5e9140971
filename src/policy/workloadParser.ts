/**
 * A `palisade.dev/v1` Workload document → the Workload model. Policies are
 * not embedded: they are KubeArmorPolicy documents in the same file (or
 * elsewhere) that select the workload by its labels, exactly as KubeArmor
 * selects pods — one policy language, one selection rule.
 */
import { isScalar } from "yaml";
import type { Posture, PostureCategory } from "./model.js";
import type { Container, InterfaceGrant, Volume, Workload } from "./workload.js";
import type { Diagnostics } from "./diagnostics.js";
import { isDnsLabel, readMetadata } from "./metadata.js";
import { readContainer } from "./containerParser.js";
import { deviceProblem, INTERFACES, INTERFACE_NAMES, isInterfaceName } from "./interfaceOptions.js";
import { checkFilePath } from "./pathSyntax.js";
import { parseMemory } from "./quantities.js";
import { suggestionHint } from "./suggest.js";
import { readBool, readInt, readMap, readSeq, readString, position, describe, type Field } from "./yamlReader.js";

const SPEC_KEYS = ["containers", "volumes", "interfaces", "restartPolicy", "defaultPosture"];
const RESTART = ["Always", "OnFailure", "Never"] as const;
const POSTURE_KEYS = ["process", "file", "network", "capabilities"];

export function parseWorkloadDocument(d: Diagnostics, root: Field): Workload | undefined {
  const top = readMap(d, root, ["apiVersion", "kind", "metadata", "spec"], { required: ["metadata", "spec"] });
  if (!top) return undefined;
  const before = d.count;
  const meta = readMetadata(d, top.field("metadata"));
  const specField = top.field("spec");
  if (!specField) return undefined;
  const spec = readMap(d, specField, SPEC_KEYS, {
    required: ["containers"],
    misplaced: {
      policies: { message: "policies are not embedded in a Workload", hint: "put KubeArmorPolicy documents after the Workload in the same file (separated by ---), selecting it by its labels" },
      hostNetwork: { code: "POLICY_SEMANTIC", message: "hostNetwork is not supported", hint: "declare the network or network-bind interface instead" },
    },
  });
  if (!spec) return undefined;
  const volumes = spec.field("volumes") ? readVolumes(d, spec.field("volumes")!) : [];
  const volumeNames = (volumes ?? []).map((v) => v.name);
  const containers: Container[] = [];
  const containersField = spec.field("containers");
  const items = containersField ? readSeq(d, containersField) : undefined;
  if (containersField && items?.length === 0) d.schema(position(containersField), containersField.path, "a workload needs at least one container");
  for (const item of items ?? []) {
    const c = readContainer(d, item, volumeNames);
    if (c === undefined) continue;
    if (containers.some((x) => x.name === c.name)) d.semantic(position(item), `${item.path}.name`, `container name "${c.name}" is used twice`, "give each container its own name");
    else containers.push(c);
  }
  const interfaces = spec.field("interfaces") ? readInterfaces(d, spec.field("interfaces")!) : [];
  let restartPolicy: Workload["restartPolicy"] = "Always";
  const restartField = spec.field("restartPolicy");
  if (restartField) {
    const text = readString(d, restartField, { what: "a restart policy" });
    const found = RESTART.find((r) => r === text);
    if (text !== undefined && found === undefined) d.schema(position(restartField), restartField.path, `unknown restartPolicy ${JSON.stringify(text)}`, suggestionHint(text, RESTART, "use one of"));
    if (found) restartPolicy = found;
  }
  const defaultPosture = spec.field("defaultPosture") ? readPosture(d, spec.field("defaultPosture")!) : allPostures("block");
  if (d.count > before || !meta || !volumes || !interfaces || !defaultPosture) return undefined;
  return {
    kind: "workload",
    name: meta.name,
    namespace: meta.namespace ?? "default",
    labels: meta.labels,
    containers,
    volumes,
    interfaces,
    restartPolicy,
    origin: d.origin(root.value ?? undefined, ""),
    annotations: meta.annotations,
    defaultPosture,
  };
}

function allPostures(p: Posture): Record<PostureCategory, Posture> {
  return { process: p, file: p, network: p, capability: p };
}

/**
 * `defaultPosture: audit`, or per category. As in KubeArmor, process follows
 * file unless set on its own.
 */
function readPosture(d: Diagnostics, f: Field): Record<PostureCategory, Posture> | undefined {
  const one = (field: Field): Posture | undefined => {
    const text = readString(d, field, { what: "a posture (block or audit)" });
    if (text === undefined) return undefined;
    const p = text.toLowerCase();
    if (p === "block" || p === "audit") return p;
    d.schema(position(field), field.path, `unknown posture ${JSON.stringify(text)}`, p === "allow" ? "an allow posture would make allow-lists meaningless; use audit to observe" : "use block or audit");
    return undefined;
  };
  if (f.value !== null && isScalar(f.value)) {
    const p = one(f);
    return p === undefined ? undefined : allPostures(p);
  }
  const m = readMap(d, f, POSTURE_KEYS);
  if (!m) return undefined;
  const get = (k: string) => (m.field(k) ? one(m.field(k)!) : undefined);
  const file = get("file") ?? "block";
  const out = { file, process: get("process") ?? file, network: get("network") ?? "block", capability: get("capabilities") ?? "block" };
  return out;
}

function readVolumes(d: Diagnostics, f: Field): Volume[] | undefined {
  const items = readSeq(d, f, { nullIsEmpty: true });
  if (!items) return undefined;
  const out: Volume[] = [];
  for (const item of items) {
    const m = readMap(d, item, ["name", "emptyDir", "hostPath", "persistent"], { required: ["name"] });
    if (!m || !m.has("name")) continue;
    const name = readString(d, m.field("name")!, { nonEmpty: true, what: "a volume name" });
    if (name === undefined) continue;
    if (!isDnsLabel(name)) d.schema(position(m.field("name")!), m.field("name")!.path, `volume name ${JSON.stringify(name)} is not a valid DNS label`, 'use lower-case letters, digits and "-"');
    const sources = (["emptyDir", "hostPath", "persistent"] as const).filter((k) => m.has(k));
    if (sources.length !== 1) {
      d.schema(m.at, m.path, sources.length === 0 ? `volume "${name}" needs a source: emptyDir, hostPath or persistent` : `volume "${name}" has several sources (${sources.join(", ")}); pick one`);
      continue;
    }
    if (out.some((v) => v.name === name)) {
      d.semantic(m.at, m.path, `volume name "${name}" is used twice`, "give each volume its own name");
      continue;
    }
    const source = sources[0]!;
    const sf = m.field(source)!;
    if (source === "persistent") {
      if (readMap(d, sf, [], { nullIsEmpty: true })) out.push({ kind: "persistent", name });
    } else if (source === "hostPath") {
      const hm = readMap(d, sf, ["path"], { required: ["path"] });
      const path = hm?.field("path") ? readString(d, hm.field("path")!, { what: "an absolute host path" }) : undefined;
      if (path === undefined) continue;
      const problem = path === "/" ? { message: "mounting the host's / is not allowed", hint: "mount the one directory the workload needs" } : checkFilePath(path.endsWith("/") ? path.slice(0, -1) : path, "path");
      if (problem) d.schema(position(hm!.field("path")!), hm!.field("path")!.path, problem.message, problem.hint);
      else out.push({ kind: "hostPath", name, path: path.endsWith("/") ? path.slice(0, -1) : path });
    } else {
      const em = readMap(d, sf, ["medium", "sizeLimit"], { nullIsEmpty: true });
      if (!em) continue;
      const medium = em.field("medium") ? readString(d, em.field("medium")!, { what: 'a medium ("" or Memory)' }) : "";
      if (medium !== undefined && medium !== "" && medium !== "Memory") d.schema(position(em.field("medium")!), em.field("medium")!.path, `unknown emptyDir medium ${JSON.stringify(medium)}`, 'use "" (disk) or Memory (tmpfs)');
      let size: number | undefined;
      const sizeField = em.field("sizeLimit");
      if (sizeField) {
        const raw = sizeField.value !== null && isScalar(sizeField.value) ? sizeField.value.value : undefined;
        const parsed = typeof raw === "string" || typeof raw === "number" ? parseMemory(raw) : undefined;
        if (!parsed) d.schema(position(sizeField), sizeField.path, `expected a size such as "64Mi", got ${describe(sizeField.value)}`);
        else if (!parsed.ok) d.schema(position(sizeField), sizeField.path, parsed.message, parsed.hint);
        else size = parsed.value;
      }
      if (medium === "" || medium === "Memory") out.push({ kind: "emptyDir", name, medium, ...(size === undefined ? {} : { sizeLimitBytes: size }) });
    }
  }
  return out;
}

/** Each entry is a bare name (`- network`) or a mapping with the options its interface allows. */
function readInterfaces(d: Diagnostics, f: Field): InterfaceGrant[] | undefined {
  const items = readSeq(d, f, { nullIsEmpty: true });
  if (!items) return undefined;
  const out: InterfaceGrant[] = [];
  for (const item of items) {
    const bare = item.value !== null && isScalar(item.value);
    const m = bare ? undefined : readMap(d, item, ["name", "devices", "ports", "writable"], { required: ["name"] });
    if (!bare && (!m || !m.has("name"))) continue;
    const nameField = bare ? item : m!.field("name")!;
    const name = readString(d, nameField, { nonEmpty: true, what: "an interface name" });
    if (name === undefined) continue;
    if (!isInterfaceName(name)) {
      d.schema(position(nameField), nameField.path, `unknown interface ${JSON.stringify(name)}`, suggestionHint(name, INTERFACE_NAMES, "interfaces are"));
      continue;
    }
    const spec = INTERFACES[name];
    let ok = true;
    for (const option of ["devices", "ports", "writable"] as const) {
      if (m?.has(option) && !spec.options.includes(option)) {
        const field = m.field(option)!;
        d.schema(field.key ?? position(field), field.path, `interface ${name} takes no "${option}" option`, spec.options.length ? `${name} takes: ${spec.options.join(", ")}` : `${name} takes no options; write - ${name}`);
        ok = false;
      }
    }
    const devices = m?.field("devices") && spec.options.includes("devices") ? readDevices(d, m.field("devices")!, name) : [];
    const ports = m?.field("ports") && spec.options.includes("ports") ? readInterfacePorts(d, m.field("ports")!) : [];
    const writable = m?.field("writable") && spec.options.includes("writable") ? readBool(d, m.field("writable")!) : false;
    if (!ok || devices === undefined || ports === undefined || writable === undefined) continue;
    if (out.some((g) => g.name === name)) {
      d.semantic(position(item), item.path, `interface ${name} is declared twice`, "merge the declarations into one entry");
      continue;
    }
    out.push({ kind: "interface", name, devices, ports, writable, origin: d.origin(position(item), item.path) });
  }
  return out;
}

function readDevices(d: Diagnostics, f: Field, name: InterfaceGrant["name"]): string[] | undefined {
  const items = readSeq(d, f, { nullIsEmpty: true });
  if (!items) return undefined;
  const out: string[] = [];
  let ok = true;
  for (const item of items) {
    const dev = readString(d, item, { nonEmpty: true, what: "a device path" });
    const problem = dev === undefined ? undefined : (deviceProblem(name, dev) ?? (out.includes(dev) ? { message: `device ${dev} is listed twice`, hint: "keep one entry" } : undefined));
    if (problem) d.schema(position(item), item.path, problem.message, problem.hint);
    if (dev === undefined || problem) ok = false;
    else out.push(dev);
  }
  return ok ? out : undefined;
}

function readInterfacePorts(d: Diagnostics, f: Field): number[] | undefined {
  const items = readSeq(d, f, { nullIsEmpty: true });
  if (!items) return undefined;
  const out: number[] = [];
  let ok = true;
  for (const item of items) {
    const p = readInt(d, item, 1, 65535, "a port");
    if (p === undefined) ok = false;
    else if (out.includes(p)) {
      d.semantic(position(item), item.path, `port ${p} is listed twice`, "keep one entry");
      ok = false;
    } else out.push(p);
  }
  return ok ? out : undefined;
}

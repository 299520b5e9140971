/**
 * `spec.containers[]` of a Workload: Pod-style fields with Palisade's rules on
 * top — images pinned by digest, no privilege escalation, a read-only root
 * unless a reason is written down, all capabilities dropped except those
 * added back by name.
 */
import { isScalar } from "yaml";
import type { Container, EnvVar, Probe, Resources, SecurityContext, VolumeMount } from "./workload.js";
import type { Diagnostics } from "./diagnostics.js";
import { isDnsLabel } from "./metadata.js";
import { checkFilePath } from "./pathSyntax.js";
import { parseCpu, parseMemory, type Parsed } from "./quantities.js";
import { closest } from "./suggest.js";
import { normalizeCapability, CAPABILITIES } from "./vocabulary.js";
import { readBool, readInt, readMap, readSeq, readString, readStringList, position, describe, type Field } from "./yamlReader.js";

const CONTAINER_KEYS = ["name", "image", "command", "args", "env", "workingDir", "volumeMounts", "ports", "resources", "securityContext", "livenessProbe", "readinessProbe"];
const IMAGE_NAME = /^(?:[A-Za-z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function readContainer(d: Diagnostics, item: Field, volumeNames: readonly string[]): Container | undefined {
  const m = readMap(d, item, CONTAINER_KEYS, {
    required: ["name", "image"],
    misplaced: {
      privileged: { code: "POLICY_SEMANTIC", message: "privileged containers are not supported", hint: "add back only the capabilities the workload needs (securityContext.capabilities.add)" },
    },
  });
  if (!m) return undefined;
  const before = d.count;
  const nameField = m.field("name");
  const name = nameField ? readString(d, nameField, { nonEmpty: true, what: "a container name" }) : undefined;
  if (name !== undefined && !isDnsLabel(name)) d.schema(position(nameField!), nameField!.path, `container name ${JSON.stringify(name)} is not a valid DNS label`, 'use lower-case letters, digits and "-", at most 63 characters');
  const imageField = m.field("image");
  const image = imageField ? readImage(d, imageField) : undefined;
  const command = m.field("command") ? readStringList(d, m.field("command")!) : [];
  const args = m.field("args") ? readStringList(d, m.field("args")!) : [];
  const env = m.field("env") ? readEnv(d, m.field("env")!) : [];
  let workingDir: string | undefined;
  const wdField = m.field("workingDir");
  if (wdField) {
    workingDir = readString(d, wdField, { what: "an absolute directory path" });
    const problem = workingDir === undefined ? undefined : checkMountPoint(workingDir, "workingDir");
    if (problem) d.schema(position(wdField), wdField.path, problem.message, problem.hint);
  }
  const volumeMounts = m.field("volumeMounts") ? readMounts(d, m.field("volumeMounts")!, volumeNames) : [];
  const ports = m.field("ports") ? readPorts(d, m.field("ports")!) : [];
  const resources = m.field("resources") ? readResources(d, m.field("resources")!) : {};
  const securityContext = readSecurityContext(d, m.field("securityContext"));
  const livenessProbe = m.field("livenessProbe") ? readProbe(d, m.field("livenessProbe")!, true) : undefined;
  const readinessProbe = m.field("readinessProbe") ? readProbe(d, m.field("readinessProbe")!, false) : undefined;
  if (d.count > before || name === undefined || image === undefined || !command || !args || !env || !volumeMounts || !ports || !resources || !securityContext) return undefined;
  return {
    name,
    image: image.image,
    imageDigest: image.digest,
    command,
    args,
    env,
    ...(workingDir === undefined ? {} : { workingDir }),
    volumeMounts,
    ports,
    resources,
    securityContext,
    ...(livenessProbe === undefined ? {} : { livenessProbe }),
    ...(readinessProbe === undefined ? {} : { readinessProbe }),
  };
}

/** `repo@sha256:<64 hex>` or `repo:tag@sha256:<64 hex>`; the tag is informational. */
function readImage(d: Diagnostics, f: Field): { image: string; digest: string } | undefined {
  const text = readString(d, f, { nonEmpty: true, what: "an image reference" });
  if (text === undefined) return undefined;
  const at = text.indexOf("@");
  if (at < 0) {
    d.schema(position(f), f.path, `image ${JSON.stringify(text)} is not pinned by digest`, "append @sha256:<digest> (a tag can change under you; a digest cannot)");
    return undefined;
  }
  const ref = text.slice(0, at);
  const digest = text.slice(at + 1);
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
    const hint = /^sha256:[0-9a-fA-F]{64}$/.test(digest) ? "write the digest in lower-case hex" : "a digest is sha256: followed by 64 hex digits";
    d.schema(position(f), f.path, `image digest ${JSON.stringify(digest)} is not a sha256 digest`, hint);
    return undefined;
  }
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  const name = colon > slash ? ref.slice(0, colon) : ref;
  const tag = colon > slash ? ref.slice(colon + 1) : undefined;
  if (!IMAGE_NAME.test(name) || (tag !== undefined && !TAG.test(tag))) {
    d.schema(position(f), f.path, `image name ${JSON.stringify(ref)} is not a valid repository reference`, "e.g. registry.example.com/team/app:1.2@sha256:…");
    return undefined;
  }
  return { image: text, digest };
}

function readEnv(d: Diagnostics, f: Field): EnvVar[] | undefined {
  const items = readSeq(d, f, { nullIsEmpty: true });
  if (!items) return undefined;
  const out: EnvVar[] = [];
  for (const item of items) {
    const m = readMap(d, item, ["name", "value"], { required: ["name"], misplaced: { valueFrom: { message: "valueFrom is not supported", hint: "Palisade has no Kubernetes API to read from; write the value, or mount a file" } } });
    if (!m || !m.has("name")) continue;
    const name = readString(d, m.field("name")!, { nonEmpty: true, what: "a variable name" });
    const value = m.field("value") ? readString(d, m.field("value")!, { what: "a string value" }) : "";
    if (name === undefined || value === undefined) continue;
    if (name.includes("=")) d.schema(position(m.field("name")!), m.field("name")!.path, `environment variable name ${JSON.stringify(name)} contains "="`);
    else if (out.some((e) => e.name === name)) d.semantic(m.at, m.path, `environment variable ${name} is set twice`, "keep one entry");
    else out.push({ name, value });
  }
  return out;
}

function readMounts(d: Diagnostics, f: Field, volumeNames: readonly string[]): VolumeMount[] | undefined {
  const items = readSeq(d, f, { nullIsEmpty: true });
  if (!items) return undefined;
  const out: VolumeMount[] = [];
  for (const item of items) {
    const m = readMap(d, item, ["name", "mountPath", "readOnly"], { required: ["name", "mountPath"] });
    if (!m || !m.has("name") || !m.has("mountPath")) continue;
    const name = readString(d, m.field("name")!, { nonEmpty: true, what: "a volume name" });
    const mountPath = readString(d, m.field("mountPath")!, { what: "an absolute path" });
    const readOnly = m.field("readOnly") ? readBool(d, m.field("readOnly")!) : false;
    if (name === undefined || mountPath === undefined || readOnly === undefined) continue;
    if (!volumeNames.includes(name)) {
      const near = closest(name, volumeNames);
      d.semantic(position(m.field("name")!), m.field("name")!.path, `no volume named ${JSON.stringify(name)} in spec.volumes`, near ? `did you mean "${near}"?` : "declare it under spec.volumes");
      continue;
    }
    const problem = mountPath === "/" ? { message: "a volume cannot be mounted on /", hint: "mount it on a directory such as /data" } : checkMountPoint(mountPath, "mountPath");
    if (problem) {
      d.schema(position(m.field("mountPath")!), m.field("mountPath")!.path, problem.message, problem.hint);
      continue;
    }
    const normalized = mountPath.replace(/\/$/, "");
    if (out.some((v) => v.mountPath === normalized)) d.semantic(m.at, m.path, `two volumes are mounted on ${normalized}`, "mount each volume on its own path");
    else out.push({ name, mountPath: normalized, readOnly });
  }
  return out;
}

function readPorts(d: Diagnostics, f: Field): Container["ports"] | undefined {
  const items = readSeq(d, f, { nullIsEmpty: true });
  if (!items) return undefined;
  const out: { containerPort: number; protocol: "TCP" | "UDP" }[] = [];
  for (const item of items) {
    const m = readMap(d, item, ["containerPort", "protocol"], { required: ["containerPort"] });
    if (!m || !m.has("containerPort")) continue;
    const port = readInt(d, m.field("containerPort")!, 1, 65535, "a port");
    const protoText = m.field("protocol") ? readString(d, m.field("protocol")!) : "TCP";
    if (port === undefined || protoText === undefined) continue;
    if (protoText !== "TCP" && protoText !== "UDP") {
      d.schema(position(m.field("protocol")!), m.field("protocol")!.path, `protocol must be TCP or UDP, got ${JSON.stringify(protoText)}`, protoText.toUpperCase() === "TCP" || protoText.toUpperCase() === "UDP" ? `write "${protoText.toUpperCase()}"` : undefined);
      continue;
    }
    if (out.some((p) => p.containerPort === port && p.protocol === protoText)) d.semantic(m.at, m.path, `port ${port}/${protoText} is listed twice`, "keep one entry");
    else out.push({ containerPort: port, protocol: protoText });
  }
  return out;
}

function quantity(d: Diagnostics, f: Field, parse: (v: string | number) => Parsed): number | undefined {
  const v = f.value !== null && isScalar(f.value) ? f.value.value : undefined;
  if (typeof v !== "string" && typeof v !== "number") {
    d.schema(position(f), f.path, `expected a quantity, got ${describe(f.value)}`);
    return undefined;
  }
  const r = parse(v);
  if (!r.ok) {
    d.schema(position(f), f.path, r.message, r.hint);
    return undefined;
  }
  return r.value;
}

function readResources(d: Diagnostics, f: Field): Resources | undefined {
  const m = readMap(d, f, ["limits"], { misplaced: { requests: { message: "resources.requests is not supported", hint: "Palisade enforces limits; move the values to resources.limits" } } });
  if (!m) return undefined;
  const limitsField = m.field("limits");
  if (!limitsField) return {};
  const limits = readMap(d, limitsField, ["cpu", "memory", "pids"], { nullIsEmpty: true });
  if (!limits) return undefined;
  const cpu = limits.field("cpu") ? quantity(d, limits.field("cpu")!, parseCpu) : undefined;
  const memory = limits.field("memory") ? quantity(d, limits.field("memory")!, parseMemory) : undefined;
  const pids = limits.field("pids") ? readInt(d, limits.field("pids")!, 1, 4194304, "a process count") : undefined;
  return { ...(cpu === undefined ? {} : { cpuMillis: cpu }), ...(memory === undefined ? {} : { memoryBytes: memory }), ...(pids === undefined ? {} : { pids }) };
}

function readSecurityContext(d: Diagnostics, f: Field | undefined): SecurityContext | undefined {
  const defaults: SecurityContext = { runAsNonRoot: false, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilitiesAdd: [] };
  if (!f) return defaults;
  const keys = ["runAsUser", "runAsGroup", "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "capabilities", "writableRootReason"];
  const m = readMap(d, f, keys, {
    nullIsEmpty: true,
    misplaced: { privileged: { code: "POLICY_SEMANTIC", message: "privileged containers are not supported", hint: "add back only the capabilities the workload needs (capabilities.add)" } },
  });
  if (!m) return undefined;
  const id = (k: string) => (m.field(k) ? readInt(d, m.field(k)!, 0, 4294967294, "an id") : undefined);
  const bool = (k: string, dflt: boolean) => (m.field(k) ? readBool(d, m.field(k)!) : dflt);
  const runAsUser = id("runAsUser");
  const runAsGroup = id("runAsGroup");
  const runAsNonRoot = bool("runAsNonRoot", false);
  const readOnlyRoot = bool("readOnlyRootFilesystem", true);
  const escalation = bool("allowPrivilegeEscalation", false);
  const reason = m.field("writableRootReason") ? readString(d, m.field("writableRootReason")!, { nonEmpty: true, what: "a reason" }) : undefined;
  if (escalation === true) {
    d.semantic(position(m.field("allowPrivilegeEscalation")!), m.field("allowPrivilegeEscalation")!.path, "allowPrivilegeEscalation must be false", "Palisade always sets no_new_privs; remove the field or set it to false");
  }
  if (runAsNonRoot === true && runAsUser === 0) d.semantic(position(m.field("runAsUser")!), m.field("runAsUser")!.path, "runAsUser is 0 but runAsNonRoot is true", "pick a non-zero user id, or drop runAsNonRoot");
  if (readOnlyRoot === false && reason === undefined && !m.has("writableRootReason")) {
    d.semantic(position(m.field("readOnlyRootFilesystem")!), m.field("readOnlyRootFilesystem")!.path, "a writable root filesystem needs a reason", "mount an emptyDir where the program writes, or add securityContext.writableRootReason: \"…\"");
  }
  if (readOnlyRoot !== false && m.has("writableRootReason")) {
    d.semantic(position(m.field("writableRootReason")!), m.field("writableRootReason")!.path, "writableRootReason is set but the root filesystem is read-only", "set readOnlyRootFilesystem: false, or remove writableRootReason");
  }
  const caps = m.field("capabilities") ? readCapabilities(d, m.field("capabilities")!) : [];
  if (runAsNonRoot === undefined || readOnlyRoot === undefined || escalation === undefined || caps === undefined) return undefined;
  return {
    ...(runAsUser === undefined ? {} : { runAsUser }),
    ...(runAsGroup === undefined ? {} : { runAsGroup }),
    runAsNonRoot,
    readOnlyRootFilesystem: readOnlyRoot,
    allowPrivilegeEscalation: false,
    capabilitiesAdd: caps,
    ...(reason === undefined || readOnlyRoot ? {} : { writableRootReason: reason }),
  };
}

/** `add` → canonical names; `drop` is accepted for Pod compatibility (everything is dropped anyway). */
function readCapabilities(d: Diagnostics, f: Field): string[] | undefined {
  const m = readMap(d, f, ["add", "drop"], { nullIsEmpty: true });
  if (!m) return undefined;
  const read = (k: "add" | "drop"): { name: string; at: Field }[] => {
    const field = m.field(k);
    const items = field ? (readSeq(d, field, { nullIsEmpty: true }) ?? []) : [];
    const out: { name: string; at: Field }[] = [];
    for (const item of items) {
      const text = readString(d, item, { nonEmpty: true, what: "a capability name" });
      if (text === undefined) continue;
      if (k === "drop" && text.toUpperCase() === "ALL") {
        out.push({ name: "all", at: item });
        continue;
      }
      const cap = normalizeCapability(text);
      if (cap === undefined) {
        const near = closest(text.toLowerCase().replace(/^cap_/, ""), CAPABILITIES);
        const hint = near ? `did you mean "${near.toUpperCase()}"?` : text.toUpperCase() === "ALL" ? "ALL cannot be added; name each capability the workload needs" : "see capabilities(7) for the names";
        d.schema(position(item), item.path, `unknown capability ${JSON.stringify(text)}`, hint);
      } else out.push({ name: cap, at: item });
    }
    return out;
  };
  const add = read("add");
  const drop = read("drop");
  for (const a of add) {
    if (drop.some((x) => x.name === a.name)) d.semantic(position(a.at), a.at.path, `capability ${a.name.toUpperCase()} is both added and dropped`, "remove it from one of the lists");
  }
  return [...new Set(add.map((a) => a.name))];
}

function readProbe(d: Diagnostics, f: Field, liveness: boolean): Probe | undefined {
  const timings = ["initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold", "successThreshold"] as const;
  const m = readMap(d, f, ["exec", "httpGet", "tcpSocket", ...timings]);
  if (!m) return undefined;
  const handlers = (["exec", "httpGet", "tcpSocket"] as const).filter((h) => m.has(h));
  if (handlers.length !== 1) {
    d.schema(m.at, f.path, handlers.length === 0 ? "a probe needs exec, httpGet or tcpSocket" : `a probe takes one handler, got ${handlers.join(" and ")}`);
    return undefined;
  }
  const dflt = { initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 1 };
  const t: Record<(typeof timings)[number], number | undefined> = { ...dflt };
  for (const k of timings) if (m.field(k)) t[k] = readInt(d, m.field(k)!, k === "initialDelaySeconds" ? 0 : 1, 86400, "a number of seconds or attempts");
  if (timings.some((k) => t[k] === undefined)) return undefined;
  const timing = t as Record<(typeof timings)[number], number>;
  if (liveness && timing.successThreshold !== 1) {
    d.semantic(position(m.field("successThreshold")!), m.field("successThreshold")!.path, "a liveness probe's successThreshold must be 1", "one success proves the container is alive; remove the field");
    return undefined;
  }
  const handler = handlers[0]!;
  const hm = readMap(d, m.field(handler)!, handler === "exec" ? ["command"] : handler === "httpGet" ? ["path", "port"] : ["port"], { required: handler === "exec" ? ["command"] : ["port"] });
  if (!hm) return undefined;
  if (handler === "exec") {
    const command = hm.field("command") ? readStringList(d, hm.field("command")!, { nonEmpty: true }) : undefined;
    if (!command) return undefined;
    if (command.length === 0) {
      d.semantic(position(hm.field("command")!), hm.field("command")!.path, "the probe command is empty");
      return undefined;
    }
    return { kind: "exec", command, ...timing };
  }
  const port = hm.field("port") ? readInt(d, hm.field("port")!, 1, 65535, "a port") : undefined;
  if (port === undefined) return undefined;
  if (handler === "tcpSocket") return { kind: "tcpSocket", port, ...timing };
  const path = hm.field("path") ? readString(d, hm.field("path")!, { what: "a URL path" }) : "/";
  if (path === undefined) return undefined;
  if (!path.startsWith("/")) {
    d.schema(position(hm.field("path")!), hm.field("path")!.path, `an HTTP probe path starts with "/", got ${JSON.stringify(path)}`, `write "/${path}"`);
    return undefined;
  }
  return { kind: "httpGet", path, port, ...timing };
}

/** An absolute, canonical directory path; a trailing "/" is tolerated (Pod manifests use both). */
function checkMountPoint(text: string, what: string): { message: string; hint?: string } | undefined {
  if (text === "/") return undefined;
  return checkFilePath(text.endsWith("/") ? text.slice(0, -1) : text, what);
}

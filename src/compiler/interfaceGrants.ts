/**
 * What each snap-style interface of a Workload grants, resolved against the
 * host it will run on (docs/interfaces.md is the user-facing version of this
 * file). A workload gets nothing outside its interfaces: no device node, no
 * host directory, no network beyond loopback.
 *
 * Devices are read from the host's real nodes (stat), never from a table of
 * "usual" majors: gpiochip and media majors are assigned dynamically, and a
 * grant must allow exactly the node that exists. A device that a manifest
 * names but the host lacks is an error here, before anything starts.
 */
import { existsSync, lstatSync, readdirSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { PalisadeError } from "../core/errors.js";
import { INTERFACES, type Container, type InterfaceGrant, type InterfaceName, type Workload } from "../policy/index.js";

export interface GrantedDevice {
  readonly interface: InterfaceName;
  /** Path inside the container; the same as on the host. */
  readonly path: string;
  readonly type: "c" | "b";
  readonly major: number;
  readonly minor: number;
  /** Host node's permission bits, owner and group (the runtime keeps them). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

export interface GrantedMount {
  readonly interface: InterfaceName;
  readonly source: string;
  readonly destination: string;
  readonly readOnly: boolean;
}

export interface InterfaceGrants {
  /** `network`: a private network namespace with a veth to the host and NAT for outbound traffic. */
  readonly network: boolean;
  /** `network-bind`: TCP ports the workload may listen on (Landlock bind_tcp). */
  readonly bindPorts: readonly number[];
  readonly devices: readonly GrantedDevice[];
  readonly mounts: readonly GrantedMount[];
  /** Mount sysfs read-only (hardware-observe, and device interfaces whose libraries read /sys). */
  readonly sysfs: boolean;
  /** What each declared interface resolved to on this host, one line each. */
  readonly summary: readonly string[];
}

/** The interface definitions: what the user reads in docs/interfaces.md, as data. */
export const INTERFACE_GRANTS: Readonly<Record<InterfaceName, { readonly grants: string; readonly sysfs: boolean }>> = {
  network: { grants: "a private network namespace with a veth pair and NAT for outbound IPv4; TCP connect to any port", sysfs: false },
  "network-bind": { grants: "listening on the listed TCP ports (or the container's declared TCP ports when none are listed)", sysfs: false },
  camera: { grants: "/dev/videoN, /dev/mediaN (V4L2; video char major 81, media major dynamic) read-write", sysfs: true },
  "serial-port": { grants: "/dev/ttyUSBN (major 188), /dev/ttyACMN (166), /dev/ttySN (4) and other UART nodes read-write", sysfs: true },
  gpio: { grants: "/dev/gpiochipN (dynamic major, read from the node) and /dev/gpiomem read-write", sysfs: true },
  i2c: { grants: "/dev/i2c-N (major 89) read-write", sysfs: true },
  "removable-media": { grants: "/media and /run/media (when present on the host), read-only unless writable: true", sysfs: false },
  home: { grants: "/home, read-only unless writable: true", sysfs: false },
  "hardware-observe": { grants: "sysfs read-only (/sys/class, /sys/devices, /sys/bus …); /proc/cpuinfo, /proc/meminfo are always visible", sysfs: true },
};

const DEVICE_INTERFACES: readonly InterfaceName[] = ["camera", "serial-port", "gpio", "i2c"];
const REMOVABLE_DIRS = ["/media", "/run/media"];

export interface ResolveOptions {
  /** Where host device nodes are (default /dev); container paths always start with /dev. */
  readonly devRoot?: string;
  /** Prefix for host directories (/media, /home), for tests (default "/"). */
  readonly hostRoot?: string;
}

export function resolveInterfaceGrants(workload: Workload, container: Container, opts: ResolveOptions = {}): InterfaceGrants {
  const devRoot = opts.devRoot ?? "/dev";
  const hostRoot = opts.hostRoot ?? "/";
  const devices: GrantedDevice[] = [];
  const mounts: GrantedMount[] = [];
  const summary: string[] = [];
  let network = false;
  let sysfs = false;
  let bindPorts: number[] = [];
  for (const grant of workload.interfaces) {
    sysfs ||= INTERFACE_GRANTS[grant.name].sysfs;
    if (grant.name === "network") {
      network = true;
      summary.push("network: private network namespace, outbound IPv4 through NAT");
    } else if (grant.name === "network-bind") {
      bindPorts = grant.ports.length > 0 ? [...grant.ports] : container.ports.filter((p) => p.protocol === "TCP").map((p) => p.containerPort);
      summary.push(`network-bind: listen on TCP ${bindPorts.length ? bindPorts.join(", ") : "(no ports: none listed and no TCP container ports)"}`);
    } else if (DEVICE_INTERFACES.includes(grant.name)) {
      const found = resolveDevices(grant, devRoot);
      devices.push(...found);
      summary.push(`${grant.name}: ${found.length ? found.map((d) => `${d.path} (${d.type} ${d.major}:${d.minor})`).join(", ") : "no such device on this host (nothing granted)"}`);
    } else if (grant.name === "removable-media") {
      const present = REMOVABLE_DIRS.filter((d) => existsSync(join(hostRoot, d)));
      for (const d of present) mounts.push({ interface: grant.name, source: join(hostRoot, d), destination: d, readOnly: !grant.writable });
      summary.push(`removable-media: ${present.length ? present.join(", ") : "neither /media nor /run/media exists on this host (nothing mounted)"} ${grant.writable ? "read-write" : "read-only"}`);
    } else if (grant.name === "home") {
      if (!existsSync(join(hostRoot, "/home"))) throw missing(grant, "/home", "the host has no /home directory");
      mounts.push({ interface: grant.name, source: join(hostRoot, "/home"), destination: "/home", readOnly: !grant.writable });
      summary.push(`home: /home ${grant.writable ? "read-write" : "read-only"}`);
    } else if (grant.name === "hardware-observe") {
      summary.push("hardware-observe: sysfs read-only");
    }
  }
  return { network, bindPorts, devices: dedupe(devices), mounts, sysfs, summary };
}

function dedupe(devices: GrantedDevice[]): GrantedDevice[] {
  const seen = new Set<string>();
  return devices.filter((d) => (seen.has(d.path) ? false : (seen.add(d.path), true)));
}

/**
 * The nodes a device interface grants: the named ones (each must exist), or
 * every top-level node of the class when none is named. Symlinks (e.g.
 * /dev/serial/by-id/…) resolve to the real node, which must still belong to
 * the interface's class.
 */
function resolveDevices(grant: InterfaceGrant, devRoot: string): GrantedDevice[] {
  const patterns = INTERFACES[grant.name].devices ?? [];
  const inClass = (p: string) => patterns.some((re) => re.test(p));
  let named: string[];
  if (grant.devices.length > 0) {
    named = [...grant.devices];
  } else {
    let entries: string[] = [];
    try {
      entries = readdirSync(devRoot);
    } catch {
      entries = [];
    }
    // Only real top-level nodes: the by-id/by-path symlink trees name the same devices again.
    named = entries.map((e) => `/dev/${e}`).filter((p) => inClass(p) && !lstatSync(hostPath(p, devRoot)).isSymbolicLink()).sort(naturalOrder);
  }
  return named.map((p) => deviceNode(grant, p, devRoot, inClass));
}

function hostPath(containerPath: string, devRoot: string): string {
  return join(devRoot, containerPath.slice("/dev/".length));
}

function deviceNode(grant: InterfaceGrant, path: string, devRoot: string, inClass: (p: string) => boolean): GrantedDevice {
  const host = hostPath(path, devRoot);
  if (!existsSync(host)) throw missing(grant, path, "no such device node on this host");
  let real = path;
  let realHost = host;
  if (lstatSync(host).isSymbolicLink()) {
    realHost = realpathSync(host);
    const rel = realHost.startsWith(devRoot + "/") ? realHost.slice(devRoot.length + 1) : undefined;
    if (rel === undefined) throw missing(grant, path, `it is a symlink to ${realHost}, outside ${devRoot}`);
    real = `/dev/${rel}`;
    if (!inClass(real)) throw missing(grant, path, `it is a symlink to ${real}, which is not a ${grant.name} device`);
  }
  const st = statSync(realHost, { bigint: true });
  if (!st.isCharacterDevice() && !st.isBlockDevice()) throw missing(grant, path, "it is not a device node");
  const { major, minor } = splitDev(st.rdev);
  return {
    interface: grant.name,
    path: real,
    type: st.isCharacterDevice() ? "c" : "b",
    major,
    minor,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

/** glibc's gnu_dev_major/gnu_dev_minor on a 64-bit dev_t. */
export function splitDev(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { major: Number(major & 0xffffffffn), minor: Number(minor & 0xffffffffn) };
}

function naturalOrder(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}

function missing(grant: InterfaceGrant, path: string, why: string): PalisadeError {
  return new PalisadeError("COMPILE_UNSUPPORTED", `interface ${grant.name} grants ${path}, but ${why}`, {
    where: grant.origin,
    hint: `attach the device (check: ls -l ${path}), or remove it from the ${grant.name} interface's devices`,
  });
}

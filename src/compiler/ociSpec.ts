/**
 * Workload container + policy decisions → OCI runtime spec (config.json),
 * runtime-spec 1.0.2 as Debian's runc 1.1 reads it. Every field is a
 * deliberate default-deny choice (docs/confinement.md lists them):
 * namespaces for everything, a read-only root, no capabilities unless added
 * and not blocked, no_new_privs, container engines' masked/read-only /proc
 * paths, a minimal /dev, writable storage only in declared volumes, devices
 * only through interface grants, and the launcher as the entrypoint.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PalisadeError } from "../core/errors.js";
import { LAUNCH_CONFIG_CONTAINER_PATH, LAUNCHER_CONTAINER_PATH, launcherArgs } from "../native/launchConfig.js";
import type { Container, Workload } from "../policy/index.js";
import type { InterfaceGrants } from "./interfaceGrants.js";
import type { OciIdMapping, OciMount, OciNamespace, OciSpec, SeccompProfile } from "./ociTypes.js";
import type { MountPoint } from "./rootfsComplement.js";
import type { CompilePaths, IdMap, ImageConfig } from "./types.js";

/** What container engines (Docker, containerd, Podman) mask: kernel state a container must not read. */
export const MASKED_PATHS: readonly string[] = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/interrupts",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

/** What container engines make read-only: kernel knobs a container must not turn. */
export const READONLY_PATHS: readonly string[] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Fork-bomb guard when the manifest sets no pids limit. */
export const DEFAULT_PIDS_LIMIT = 1024;
const CPU_PERIOD_US = 100_000;
/** Workloads are killed before the agent and system services when memory runs out. */
export const OOM_SCORE_ADJ = 500;
const TMP_SIZE = "size=65536k";
/** container gids from here on map host groups of granted devices into a user namespace. */
const DEVICE_GID_BASE = 65536;

export interface UserNamespacePlan {
  readonly enabled: boolean;
  readonly reason: string;
  readonly uidMappings: readonly OciIdMapping[];
  readonly gidMappings: readonly OciIdMapping[];
  /** Extra groups (container ids) that give the workload access to granted devices. */
  readonly deviceGids: readonly number[];
}

/**
 * Whether the workload gets a user namespace. It does when the kernel has
 * one and the runtime allocated an id range: container root is then an
 * unprivileged host uid. A granted device is reached through its host group,
 * mapped into the namespace; a device only host root may open (no group
 * access) cannot be reached from a user namespace, so such a grant turns it off.
 */
/** Capabilities whose scope is the network namespace's owning user namespace. */
const NETNS_CAPABILITIES = new Set(["net_bind_service", "net_raw", "net_admin", "net_broadcast"]);

/**
 * `netnsCapabilities`: capabilities granted to a workload that joins a
 * network namespace the runtime made on the host (the `network` interface).
 * That namespace belongs to the host's user namespace, so capabilities held
 * inside a workload user namespace would not count there: the kernel would
 * ignore a granted NET_BIND_SERVICE or NET_RAW.
 */
export function planUserNamespace(userns: boolean, idMap: IdMap | undefined, grants: InterfaceGrants, rootReadOnly = true, netnsCapabilities: readonly string[] = []): UserNamespacePlan {
  const off = (reason: string): UserNamespacePlan => ({ enabled: false, reason, uidMappings: [], gidMappings: [], deviceGids: groupGids(grants) });
  if (!userns) return off("the kernel cannot create user namespaces");
  if (!idMap) return off("no host id range was allocated for this workload");
  if (!rootReadOnly) {
    // runc 1.1 cannot id-map the rootfs: image files stay owned by host root, i.e. nobody inside, so nothing would be writable.
    return off("the root filesystem is writable, and its files (owned by host root) would not be writable from a user namespace");
  }
  const netCaps = netnsCapabilities.filter((c) => NETNS_CAPABILITIES.has(c));
  if (netCaps.length > 0) {
    return off(`the workload is granted ${netCaps.join(", ")} and joins the host-made network namespace of the network interface, where capabilities held in a user namespace would not apply`);
  }
  const rootOnly = grants.devices.filter((d) => (d.gid === 0 || (d.mode & 0o060) !== 0o060) && (d.mode & 0o006) !== 0o006);
  if (rootOnly.length > 0) {
    return off(`granted device ${rootOnly.map((d) => d.path).join(", ")} is readable and writable only by host root (mode ${rootOnly[0]!.mode.toString(8)}), which a user namespace cannot map`);
  }
  const hostGids = [...new Set(grants.devices.filter((d) => (d.mode & 0o006) !== 0o006).map((d) => d.gid))];
  const extra = hostGids.map((hostID, i) => ({ containerID: DEVICE_GID_BASE + i, hostID, size: 1 }));
  return {
    enabled: true,
    reason: `container ids 0-${idMap.size - 1} map to host ${idMap.hostId}-${idMap.hostId + idMap.size - 1}: root in the workload is an unprivileged host user`,
    uidMappings: [{ containerID: 0, hostID: idMap.hostId, size: idMap.size }],
    gidMappings: [{ containerID: 0, hostID: idMap.hostId, size: idMap.size }, ...extra],
    deviceGids: extra.map((m) => m.containerID),
  };
}

function groupGids(grants: InterfaceGrants): number[] {
  return [...new Set(grants.devices.filter((d) => d.gid !== 0 && (d.mode & 0o006) !== 0o006).map((d) => d.gid))];
}

export interface MountInputs {
  readonly workload: Workload;
  readonly container: Container;
  readonly paths: CompilePaths;
  readonly grants: InterfaceGrants;
  /** Mount the launcher and its config. */
  readonly launcher: boolean;
  /** A user namespace joined to a network namespace it does not own cannot mount sysfs: bind the host's instead. */
  readonly bindSysfs: boolean;
}

/** The container's mount table, and the same as MountPoints for the Landlock compiler. */
export function buildMounts(input: MountInputs): { mounts: OciMount[]; points: MountPoint[] } {
  const { container, workload, paths, grants } = input;
  const mounts: OciMount[] = [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", TMP_SIZE] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    grants.sysfs
      ? input.bindSysfs
        ? { destination: "/sys", type: "bind", source: "/sys", options: ["rbind", "ro", "nosuid", "noexec", "nodev"] }
        : { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] }
      : // No sysfs without an interface that needs it: an empty read-only tmpfs hides the host's hardware.
        { destination: "/sys", type: "tmpfs", source: "tmpfs", options: ["ro", "nosuid", "noexec", "nodev", "size=4k"] },
    { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777", TMP_SIZE] },
    { destination: "/etc/hosts", type: "bind", source: join(paths.etc, "hosts"), options: ["bind", "ro", "nosuid", "nodev", "noexec"] },
    { destination: "/etc/hostname", type: "bind", source: join(paths.etc, "hostname"), options: ["bind", "ro", "nosuid", "nodev", "noexec"] },
  ];
  if (grants.network) {
    mounts.push({ destination: "/etc/resolv.conf", type: "bind", source: join(paths.etc, "resolv.conf"), options: ["bind", "ro", "nosuid", "nodev", "noexec"] });
  }
  if (input.launcher) {
    mounts.push(
      { destination: LAUNCHER_CONTAINER_PATH, type: "bind", source: paths.launcher, options: ["bind", "ro", "nosuid", "nodev"] },
      { destination: LAUNCH_CONFIG_CONTAINER_PATH, type: "bind", source: paths.launchConfig, options: ["bind", "ro", "nosuid", "nodev", "noexec"] },
    );
  }
  const writable = new Set<string>(["/dev/shm", "/tmp", "/dev/pts"]);
  for (const vm of container.volumeMounts) {
    const vol = workload.volumes.find((v) => v.name === vm.name);
    if (!vol) throw new PalisadeError("POLICY_SEMANTIC", `volume mount ${vm.name} names no declared volume`, { where: workload.origin });
    const rw = vm.readOnly ? "ro" : "rw";
    if (vol.kind === "emptyDir" && vol.medium === "Memory") {
      const size = vol.sizeLimitBytes ? [`size=${vol.sizeLimitBytes}`] : [TMP_SIZE];
      mounts.push({ destination: vm.mountPath, type: "tmpfs", source: "tmpfs", options: [rw, "nosuid", "nodev", "mode=1777", ...size] });
    } else {
      const source = vol.kind === "hostPath" ? vol.path : join(vol.kind === "emptyDir" ? paths.volumes : paths.persistent, vol.name);
      mounts.push({ destination: vm.mountPath, type: "bind", source, options: ["rbind", rw, "nosuid", "nodev"] });
    }
    if (!vm.readOnly) writable.add(vm.mountPath);
  }
  for (const m of grants.mounts) {
    // rslave: media plugged in later appears inside; nothing propagates back to the host.
    mounts.push({ destination: m.destination, type: "bind", source: m.source, options: ["rbind", "rslave", m.readOnly ? "ro" : "rw", "nosuid", "nodev", "noexec"] });
    if (!m.readOnly) writable.add(m.destination);
  }
  const fileMounts = new Set(["/etc/hosts", "/etc/hostname", "/etc/resolv.conf", LAUNCHER_CONTAINER_PATH, LAUNCH_CONFIG_CONTAINER_PATH]);
  const points: MountPoint[] = mounts.map((m) => ({ destination: m.destination, writable: writable.has(m.destination), isDir: !fileMounts.has(m.destination) }));
  return { mounts, points };
}

export interface SpecInputs {
  readonly id: string;
  readonly workload: Workload;
  readonly container: Container;
  readonly image: ImageConfig;
  readonly rootfs: string;
  readonly grants: InterfaceGrants;
  readonly mounts: readonly OciMount[];
  readonly capabilities: readonly string[];
  readonly userns: UserNamespacePlan;
  readonly netnsPath?: string;
  readonly cgroupParent?: string;
  readonly launcher: boolean;
  readonly seccomp: SeccompProfile;
  readonly apparmorProfile?: string;
}

export function compileOciSpec(input: SpecInputs): OciSpec {
  const { container, workload, grants } = input;
  const program = programOf(container, input.image);
  if (program.length === 0) {
    throw new PalisadeError("POLICY_SEMANTIC", `container ${container.name} has no command and its image has no entrypoint or cmd`, {
      where: workload.origin,
      hint: "set spec.containers[].command in the manifest",
    });
  }
  const user = resolveUser(container, input.image, input.rootfs, workload);
  const caps = input.capabilities.map((c) => `CAP_${c.toUpperCase()}`);
  const namespaces: OciNamespace[] = [
    { type: "pid" },
    { type: "ipc" },
    { type: "uts" },
    { type: "mount" },
    { type: "cgroup" },
    input.netnsPath ? { type: "network", path: input.netnsPath } : { type: "network" },
  ];
  if (input.userns.enabled) namespaces.push({ type: "user" });
  const res = container.resources;
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: user.uid, gid: user.gid, additionalGids: [...input.userns.deviceGids], umask: 0o022 },
      args: input.launcher ? launcherArgs(program) : program,
      env: environment(container, input.image),
      cwd: container.workingDir || input.image.workingDir || "/",
      // Added capabilities go in every set, ambient included, so a non-root user keeps them across the launcher's exec.
      capabilities: { bounding: caps, effective: caps, inheritable: caps, permitted: caps, ambient: caps },
      rlimits: [
        // Lowering is always allowed; raising above the supervisor's hard limit is not (in a user namespace).
        { type: "RLIMIT_NOFILE", soft: 4096, hard: 4096 },
        { type: "RLIMIT_CORE", soft: 0, hard: 0 },
      ],
      noNewPrivileges: true,
      oomScoreAdj: OOM_SCORE_ADJ,
      ...(input.apparmorProfile ? { apparmorProfile: input.apparmorProfile } : {}),
    },
    root: { path: "rootfs", readonly: container.securityContext.readOnlyRootFilesystem },
    hostname: workload.name.slice(0, 63),
    mounts: [...input.mounts],
    linux: {
      namespaces,
      ...(input.userns.enabled ? { uidMappings: [...input.userns.uidMappings], gidMappings: [...input.userns.gidMappings] } : {}),
      devices: grants.devices.map((d) => ({ path: d.path, type: d.type, major: d.major, minor: d.minor, fileMode: d.mode, uid: d.uid, gid: d.gid })),
      resources: {
        devices: [{ allow: false, access: "rwm" }, ...grants.devices.map((d) => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access: "rw" }))],
        ...(res.memoryBytes ? { memory: { limit: res.memoryBytes, swap: res.memoryBytes } } : {}),
        ...(res.cpuMillis ? { cpu: { quota: Math.max(1000, Math.round((res.cpuMillis * CPU_PERIOD_US) / 1000)), period: CPU_PERIOD_US } } : {}),
        pids: { limit: res.pids ?? DEFAULT_PIDS_LIMIT },
      },
      cgroupsPath: `${input.cgroupParent ?? "/palisade"}/${input.id}`,
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
      seccomp: input.seccomp,
    },
    annotations: {
      "dev.palisade.workload": `${workload.namespace}/${workload.name}`,
      "dev.palisade.container": container.name,
      "dev.palisade.image": container.image,
    },
  };
}

/** Kubernetes semantics: command replaces the entrypoint, args replace cmd. */
export function programOf(container: Container, image: ImageConfig): string[] {
  const entrypoint = container.command.length > 0 ? container.command : (image.entrypoint ?? []);
  const args = container.args.length > 0 || container.command.length > 0 ? container.args : (image.cmd ?? []);
  return [...entrypoint, ...args];
}

function environment(container: Container, image: ImageConfig): string[] {
  const env = new Map<string, string>();
  for (const kv of image.env ?? []) {
    const i = kv.indexOf("=");
    if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
  }
  for (const e of container.env) env.set(e.name, e.value);
  if (!env.has("PATH")) env.set("PATH", DEFAULT_PATH);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/** runAsUser/runAsGroup, else the image's user (numeric or looked up in the image's /etc/passwd and /etc/group). */
export function resolveUser(container: Container, image: ImageConfig, rootfs: string, workload: Workload): { uid: number; gid: number } {
  const sc = container.securityContext;
  const [userPart = "", groupPart] = (image.user ?? "").split(":");
  let uid = sc.runAsUser;
  let gid = sc.runAsGroup;
  let primaryGid: number | undefined;
  if (uid === undefined && userPart !== "") {
    if (/^\d+$/.test(userPart)) uid = Number(userPart);
    else {
      const entry = lookup(rootfs, "passwd", userPart);
      if (!entry) throw new PalisadeError("POLICY_SEMANTIC", `the image's user "${userPart}" is not in its /etc/passwd`, { where: workload.origin, hint: "set securityContext.runAsUser" });
      uid = Number(entry[2]);
      primaryGid = Number(entry[3]);
    }
  }
  if (gid === undefined && groupPart !== undefined && groupPart !== "" && sc.runAsUser === undefined) {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const entry = lookup(rootfs, "group", groupPart);
      if (!entry) throw new PalisadeError("POLICY_SEMANTIC", `the image's group "${groupPart}" is not in its /etc/group`, { where: workload.origin, hint: "set securityContext.runAsGroup" });
      gid = Number(entry[2]);
    }
  }
  uid ??= 0;
  gid ??= primaryGid ?? (sc.runAsUser === undefined ? 0 : sc.runAsUser);
  if (sc.runAsNonRoot && uid === 0) {
    throw new PalisadeError("POLICY_SEMANTIC", `container ${container.name} must not run as root (runAsNonRoot), but its user is uid 0`, {
      where: workload.origin,
      hint: "set securityContext.runAsUser to a non-zero uid",
    });
  }
  return { uid, gid };
}

function lookup(rootfs: string, file: "passwd" | "group", name: string): string[] | undefined {
  let text = "";
  try {
    text = readFileSync(join(rootfs, "etc", file), "utf8");
  } catch {
    return undefined;
  }
  return text
    .split("\n")
    .map((l) => l.split(":"))
    .find((f) => f[0] === name);
}

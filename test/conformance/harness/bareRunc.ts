/**
 * Bare runc: the same image rootfs run by runc with a minimal config.json
 * (runc spec's defaults) and none of Palisade's rules — no seccomp, no
 * launcher/Landlock, no user namespace, no device grants beyond runc's own.
 *
 * Two users:
 * - the conformance suite's controls ("the refused action works without the
 *   confinement"), with every capability, so a refusal in the confined run
 *   cannot be blamed on the helper or the image;
 * - the benchmarks' baseline, with runc's default capabilities.
 *
 * The rootfs is a read-only overlay over the image store's unpacked rootfs,
 * exactly as Palisade mounts it (src/runtime/bundle.ts), so file-system
 * costs are the same on both sides and the shared tree is never written.
 * A separate runc state root keeps these containers apart from Palisade's.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { dataDir } from "../../../src/core/paths.js";
import { isMountPoint } from "../../../src/runtime/bundle.js";

const exec = promisify(execFile);
const PATH_ENV = `${process.env.PATH ?? "/usr/bin:/bin"}:/usr/local/sbin:/usr/sbin:/sbin`;

/** Linux capability names by bit number (capability.h, 6.x). */
const CAP_NAMES = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE",
  "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT",
  "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE",
  "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
  "PERFMON", "BPF", "CHECKPOINT_RESTORE",
];

/**
 * Every capability this process may hand on (its bounding set): the most a
 * control container can have. A host whose own bounding set lacks some
 * (e.g. a sandboxed CI runner) would make runc fail with "unable to apply
 * caps" if we asked for all of Linux's.
 */
export function allCaps(status = readFileSync("/proc/self/status", "utf8")): string[] {
  const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? "0";
  const mask = BigInt(`0x${hex}`);
  return CAP_NAMES.filter((_, bit) => (mask >> BigInt(bit)) & 1n).map((c) => `CAP_${c}`);
}
/** What `runc spec` grants. */
export const RUNC_DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

export interface BareOptions {
  /** Container id (also the bundle directory's name). */
  readonly id: string;
  /** The image store's unpacked rootfs. */
  readonly imageRootfs: string;
  readonly args: readonly string[];
  /** Default: runc's defaults. */
  readonly capabilities?: readonly string[];
}

export interface BareBundle {
  readonly id: string;
  readonly dir: string;
  readonly root: string;
}

export function bareRoot(): string {
  return join(dataDir(), "bare-runc");
}

/** Writes config.json and mounts the rootfs overlay. */
export async function createBareBundle(o: BareOptions): Promise<BareBundle> {
  const root = bareRoot();
  const dir = join(root, "bundles", o.id);
  await destroyBareBundle({ id: o.id, dir, root });
  const skeleton = join(dir, "skeleton");
  const rootfs = join(dir, "rootfs");
  mkdirSync(skeleton, { recursive: true, mode: 0o755 });
  mkdirSync(rootfs, { recursive: true, mode: 0o755 });
  // Lower-only overlay (two lower layers, no upper): read-only, like Palisade's.
  await exec("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${skeleton}:${o.imageRootfs}`, rootfs]);
  const caps = [...(o.capabilities ?? RUNC_DEFAULT_CAPS)];
  const spec = {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [...o.args],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      cwd: "/",
      capabilities: { bounding: caps, effective: caps, inheritable: caps, permitted: caps, ambient: caps },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 4096, soft: 4096 }],
      noNewPrivileges: false,
    },
    root: { path: "rootfs", readonly: true },
    hostname: o.id.slice(0, 63),
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
      { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777", "size=65536k"] },
    ],
    linux: {
      namespaces: [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }],
      resources: { devices: [{ allow: false, access: "rwm" }] },
      cgroupsPath: `/palisade-bare/${o.id}`,
      maskedPaths: ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(spec, null, 2));
  return { id: o.id, dir, root };
}

function runcArgs(b: BareBundle, ...rest: string[]): string[] {
  return ["--root", b.root, ...rest];
}

export interface BareResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `runc run` in the foreground; resolves when the container exits. */
export function runBare(b: BareBundle, timeoutMs = 60_000): Promise<BareResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("runc", runcArgs(b, "run", "--bundle", b.dir, b.id), { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PATH: PATH_ENV } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ exitCode: code ?? 128 + (signal ? 9 : 0), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

/**
 * Starts a long-running container (`runc run` in the foreground, owned by
 * us) and returns once runc has written its pid: the caller can then enter
 * its network namespace (/proc/PID/ns/net) and must call stopBare().
 */
export async function startBare(b: BareBundle): Promise<{ pid: number; child: ChildProcess }> {
  const pidFile = join(b.dir, "pid");
  const child = spawn("runc", runcArgs(b, "run", "--pid-file", pidFile, "--bundle", b.dir, b.id), { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, PATH: PATH_ENV } });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const pid = Number(readFileSync(pidFile, "utf8").trim());
      if (pid > 0) return { pid, child };
    } catch {
      // not written yet
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`bare runc ${b.id} did not start: ${stderr.trim() || "timeout"}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Kills a container started by startBare and waits for its runc to exit. */
export async function stopBare(b: BareBundle, child: ChildProcess): Promise<void> {
  const exited = child.exitCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once("close", () => r()));
  await exec("runc", runcArgs(b, "kill", "--all", b.id, "KILL"), { env: { ...process.env, PATH: PATH_ENV } }).catch(() => undefined);
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
}

/** Deletes the container, unmounts the overlay and removes the bundle. Idempotent. */
export async function destroyBareBundle(b: BareBundle): Promise<void> {
  // runc keeps state in <root>/<id>/ until delete; without it there is nothing to delete (as in RuncDriver.delete,
  // so the benchmark's bare side does not pay a runc start that Palisade's side no longer pays).
  if (existsSync(join(b.root, b.id))) await exec("runc", runcArgs(b, "delete", "--force", b.id), { env: { ...process.env, PATH: PATH_ENV } }).catch(() => undefined);
  const rootfs = join(b.dir, "rootfs");
  if (isMountPoint(rootfs)) await exec("umount", [rootfs]).catch(() => exec("umount", ["-l", rootfs]));
  // Never recurse into a still-mounted rootfs: it is the shared image tree.
  if (isMountPoint(rootfs)) throw new Error(`${rootfs} is still mounted; not removing ${b.dir}`);
  rmSync(b.dir, { recursive: true, force: true });
}

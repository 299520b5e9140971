/**
 * The OCI bundle of one workload instance, under `<dataDir>/workloads/<id>/`:
 *
 *   config.json    the compiled OCI spec
 *   launch.conf    the launcher's Landlock ruleset (bind-mounted read-only)
 *   etc/           generated hosts, hostname, resolv.conf (bind-mounted read-only)
 *   skeleton/      empty mount points the image lacks (see below)
 *   rootfs/        a read-only overlay: skeleton over the image store's shared rootfs
 *   upper/, work/  only for readOnlyRootFilesystem: false (writes land in upper/)
 *   state.json     lifecycle state (workloadState.ts)
 *
 * Why an overlay: the image store's rootfs is shared by every workload of
 * that image and must never change, yet runc needs a mount point for each
 * mount (/.palisade/launch, volumes, /etc/resolv.conf when the image has a
 * dangling symlink there …) and would create missing ones inside the rootfs.
 * A lower-only overlay (skeleton above the image) gives runc every mount
 * point and is itself read-only, so nothing can write to the shared tree.
 * Volumes: emptyDir under `<dataDir>/volumes/<id>/`, persistent under
 * `<dataDir>/persistent/<namespace>/<name>/`, owned by the workload's user
 * (mapped through its user namespace).
 */
import { execFile } from "node:child_process";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import type { CompilePaths, CompiledWorkload, OciSpec } from "../compiler/index.js";
import { PalisadeError } from "../core/errors.js";
import { dataDir } from "../core/paths.js";

const exec = promisify(execFile);

export interface BundleLayout {
  readonly id: string;
  readonly dir: string;
  readonly config: string;
  readonly launchConfig: string;
  readonly etc: string;
  readonly skeleton: string;
  readonly rootfs: string;
  readonly upper: string;
  readonly work: string;
  readonly state: string;
  readonly pidFile: string;
  readonly runcLog: string;
  readonly volumes: string;
  readonly persistent: string;
}

/** runc container ids: letters, digits, `_ + - .`; ours are `<namespace>.<name>`. */
export function workloadId(namespace: string, name: string): string {
  const id = `${namespace}.${name}`;
  if (!/^[A-Za-z0-9][\w+.-]*$/.test(id) || id.length > 200) throw new PalisadeError("USAGE", `invalid workload name ${JSON.stringify(id)}`, { hint: "use a DNS label" });
  return id;
}

export function workloadsRoot(): string {
  return join(dataDir(), "workloads");
}

export function statePath(id: string): string {
  return join(workloadsRoot(), id, "state.json");
}

export function bundleLayout(id: string, namespace: string, name: string): BundleLayout {
  const dir = join(workloadsRoot(), id);
  return {
    id,
    dir,
    config: join(dir, "config.json"),
    launchConfig: join(dir, "launch.conf"),
    etc: join(dir, "etc"),
    skeleton: join(dir, "skeleton"),
    rootfs: join(dir, "rootfs"),
    upper: join(dir, "upper"),
    work: join(dir, "work"),
    state: join(dir, "state.json"),
    pidFile: join(dir, "pid"),
    runcLog: join(dir, "runc.log"),
    volumes: join(dataDir(), "volumes", id),
    persistent: join(dataDir(), "persistent", namespace, name),
  };
}

/** The host paths the compiler writes into the spec. */
export function compilePaths(layout: BundleLayout, imageRootfs: string, launcher: string): CompilePaths {
  return { rootfs: imageRootfs, launcher, launchConfig: layout.launchConfig, volumes: layout.volumes, persistent: layout.persistent, etc: layout.etc };
}

export interface BundleInputs {
  readonly layout: BundleLayout;
  readonly compiled: CompiledWorkload;
  readonly imageRootfs: string;
  /** Host uid/gid owning writable volumes (the workload's user, through its id map). */
  readonly volumeOwner: { readonly uid: number; readonly gid: number };
  readonly hosts: { readonly hostname: string; readonly address?: string; readonly nameservers?: readonly string[] };
}

/** Writes the bundle and mounts its rootfs overlay. On failure, nothing is left mounted. */
export async function createBundle(input: BundleInputs): Promise<void> {
  const { layout, compiled } = input;
  const spec = compiled.spec;
  mkdirSync(layout.dir, { recursive: true, mode: 0o711 });
  // runc mounts the rootfs and bind sources from inside the user namespace, as the
  // workload's (unprivileged) root: every directory on the way must be traversable.
  for (const d of [dataDir(), workloadsRoot(), layout.dir]) allowTraverse(d);
  requireTraversable(dirname(dataDir()));
  await unmountRootfs(layout);
  for (const d of [layout.skeleton, layout.upper, layout.work]) rmSync(d, { recursive: true, force: true });
  mkdirSync(layout.etc, { recursive: true });
  writeFileSync(join(layout.etc, "hostname"), `${input.hosts.hostname}\n`);
  writeFileSync(
    join(layout.etc, "hosts"),
    `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${input.hosts.address ?? "127.0.1.1"}\t${input.hosts.hostname}\n`,
  );
  const ns = input.hosts.nameservers ?? [];
  writeFileSync(join(layout.etc, "resolv.conf"), ns.length ? ns.map((n) => `nameserver ${n}\n`).join("") : "# the host has no nameserver reachable from a workload\n");
  for (const f of ["hostname", "hosts", "resolv.conf"]) chmodSync(join(layout.etc, f), 0o644);
  if (compiled.launchText !== null) replaceFile(layout.launchConfig, compiled.launchText, 0o644);
  prepareVolumes(spec, layout, input.volumeOwner);
  makeSkeleton(spec, input.imageRootfs, layout.skeleton);
  mkdirSync(layout.rootfs, { recursive: true });
  const writable = !spec.root.readonly;
  if (writable) {
    mkdirSync(layout.upper, { recursive: true });
    mkdirSync(layout.work, { recursive: true });
  }
  for (const p of [layout.skeleton, input.imageRootfs]) {
    if (/[,:\n]/.test(p)) throw new PalisadeError("RUNTIME", `path ${p} contains ',' or ':', which overlayfs options cannot carry`, { hint: "choose a PALISADE_DATA_DIR without them" });
  }
  const options = [`lowerdir=${layout.skeleton}:${input.imageRootfs}`, ...(writable ? [`upperdir=${layout.upper}`, `workdir=${layout.work}`] : [])].join(",");
  try {
    await exec("mount", ["-t", "overlay", "overlay", "-o", options, layout.rootfs], { timeout: 30_000 });
  } catch (cause) {
    throw new PalisadeError("RUNTIME", `mounting the rootfs overlay for ${layout.id} failed: ${String((cause as { stderr?: string }).stderr ?? cause).trim()}`, {
      hint: "Palisade needs root and overlayfs (grep overlay /proc/filesystems)",
      cause,
    });
  }
  replaceFile(layout.config, JSON.stringify(spec, null, 2) + "\n", 0o600);
}

/**
 * Replaces a bundle file atomically (a concurrent `inspect` never reads half
 * a config.json) but without fsync: the bundle is rebuilt on every start and
 * means nothing after a crash, and on a busy device the four fsyncs of
 * writeFileAtomic were the largest part of the time before runc starts
 * (docs/benchmarks.md, start latency).
 */
function replaceFile(path: string, data: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/** Adds search (x) permission for group and others, never removing any. */
function allowTraverse(dir: string): void {
  const mode = statSync(dir).mode & 0o7777;
  if ((mode & 0o011) !== 0o011) chmodSync(dir, mode | 0o011);
}

/** Checks that others may traverse every directory from `dir` up to /. */
export function requireTraversable(dir: string): void {
  for (let d = dir; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) {
      throw new PalisadeError("RUNTIME", `${d} is not traversable by other users (mode ${(statSync(d).mode & 0o777).toString(8)}), so a workload's user-namespace root cannot reach its files`, {
        hint: `chmod o+x ${d}, or set PALISADE_DATA_DIR (and PALISADE_NATIVE_DIR) below traversable directories`,
      });
    }
    if (d === "/") return;
  }
}

/** Unmounts the overlay and removes everything but state.json and config.json (kept for inspect), and emptyDir volumes. */
export async function destroyBundle(layout: BundleLayout): Promise<void> {
  await unmountRootfs(layout);
  for (const d of [layout.rootfs, layout.skeleton, layout.upper, layout.work, layout.pidFile, layout.volumes]) rmSync(d, { recursive: true, force: true });
}

async function unmountRootfs(layout: BundleLayout): Promise<void> {
  if (!isMountPoint(layout.rootfs)) return;
  try {
    await exec("umount", [layout.rootfs], { timeout: 30_000 });
  } catch {
    // Still busy (a process is dying): detach it; the kernel frees it when the last user goes.
    await exec("umount", ["-l", layout.rootfs], { timeout: 30_000 }).catch(() => undefined);
  }
}

export function isMountPoint(path: string): boolean {
  try {
    return readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .some((l) => l.split(" ")[4] === path.replace(/ /g, "\\040"));
  } catch {
    return false;
  }
}

/**
 * Mount points the image lacks, as empty files/directories in the skeleton
 * layer. Parents that the image has are recreated with the image's mode and
 * owner, because the upper layer's attributes win in an overlay.
 */
function makeSkeleton(spec: OciSpec, imageRootfs: string, skeleton: string): void {
  mkdirSync(skeleton, { recursive: true, mode: 0o755 });
  const fileTypes = new Set(["bind"]);
  for (const m of spec.mounts) {
    const isFile = fileTypes.has(m.type) && existsSync(m.source) && !statSync(m.source).isDirectory();
    const inImage = lstatSync(join(imageRootfs, m.destination), { throwIfNoEntry: false });
    if (inImage && !inImage.isSymbolicLink() && inImage.isDirectory() !== isFile) continue;
    ensureParents(m.destination, imageRootfs, skeleton);
    const target = join(skeleton, m.destination);
    if (isFile) writeFileSync(target, "");
    else mkdirSync(target, { recursive: true, mode: 0o755 });
  }
}

function ensureParents(dest: string, imageRootfs: string, skeleton: string): void {
  const parts = dirname(dest).split("/").filter(Boolean);
  let cur = "";
  for (const p of parts) {
    cur += `/${p}`;
    const s = join(skeleton, cur);
    if (existsSync(s)) continue;
    mkdirSync(s, { mode: 0o755 });
    const img = lstatSync(join(imageRootfs, cur), { throwIfNoEntry: false });
    if (img && img.isDirectory()) {
      chmodSync(s, img.mode & 0o7777);
      chownSync(s, img.uid, img.gid);
    }
  }
}

/** emptyDir and persistent directories, owned by the workload's user; hostPath sources must exist. */
function prepareVolumes(spec: OciSpec, layout: BundleLayout, owner: { uid: number; gid: number }): void {
  for (const m of spec.mounts) {
    if (m.type !== "bind") continue;
    const ours = m.source.startsWith(layout.volumes + "/") || m.source.startsWith(layout.persistent + "/");
    if (ours) {
      const fresh = !existsSync(m.source);
      mkdirSync(m.source, { recursive: true, mode: 0o770 });
      if (fresh || m.source.startsWith(layout.volumes + "/")) {
        chownSync(m.source, owner.uid, owner.gid);
        chmodSync(m.source, 0o770);
      }
    } else if (!existsSync(m.source)) {
      throw new PalisadeError("RUNTIME", `the source of mount ${m.destination} does not exist on the host: ${m.source}`, {
        hint: "create the hostPath directory, or fix the volume's path in the manifest",
      });
    }
  }
}

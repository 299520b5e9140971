/**
 * Shared fixtures for compiler tests: manifests and policies written as
 * YAML (parsed by the real parser, so tests read like what users write), a
 * HostFeatures shaped like this kind of machine, and small temp rootfs trees.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeTree, type TreeSpec } from "../fixtures/tree.js";
import type { CompilePaths } from "../../src/compiler/index.js";
import type { BackendName, BackendStatus, HostFeatures } from "../../src/native/hostFeatures.js";
import { parseDocuments, type Policy, type Workload } from "../../src/policy/index.js";

export const DIGEST = `sha256:${"a".repeat(64)}`;

export interface ManifestOptions {
  readonly command?: readonly string[];
  /** Extra YAML under the container (indented 4 spaces). */
  readonly container?: string;
  /** Extra YAML under spec (indented 2 spaces). */
  readonly spec?: string;
  /** Policy documents' `spec` bodies (indented 2 spaces), one policy each, selecting the workload. */
  readonly policies?: readonly string[];
}

export function manifestYaml(o: ManifestOptions = {}): string {
  const cmd = JSON.stringify(o.command ?? ["/bin/sh", "-c", "echo hi"]);
  let text = `apiVersion: palisade.dev/v1
kind: Workload
metadata:
  name: demo
  labels: {app: demo}
spec:
  containers:
  - name: main
    image: busybox@${DIGEST}
    command: ${cmd}
${o.container ?? ""}${o.spec ?? ""}`;
  (o.policies ?? []).forEach((body, i) => {
    text += `---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: p${i}}
spec:
  selector: {matchLabels: {app: demo}}
${body}`;
  });
  return text;
}

export function parse(o: ManifestOptions = {}): { workload: Workload; policies: Policy[] } {
  const r = parseDocuments(manifestYaml(o), "demo.yaml");
  if (r.errors.length > 0) throw new Error(`fixture does not parse: ${r.errors.map((e) => `${e.where?.line}: ${e.message}`).join("; ")}`);
  return { workload: r.workloads[0]!, policies: [...r.policies] };
}

const ALL_BACKENDS: readonly BackendName[] = ["namespaces", "capabilities", "cgroups", "seccomp", "landlock", "bpf-lsm", "cgroup-bpf", "fanotify", "apparmor"];

/** This kind of machine (PLATFORM.md): Landlock ABI 7, seccomp, user namespaces; no BPF-LSM, no AppArmor. */
export function features(overrides: { landlock?: number; usable?: Partial<Record<BackendName, boolean>>; arch?: string; userns?: boolean } = {}): HostFeatures {
  const abi = overrides.landlock ?? 7;
  const usable: Record<BackendName, boolean> = {
    namespaces: true,
    capabilities: true,
    cgroups: true,
    seccomp: true,
    landlock: abi > 0,
    "bpf-lsm": false,
    "cgroup-bpf": true,
    fanotify: true,
    apparmor: false,
    ...overrides.usable,
  };
  const backends: BackendStatus[] = ALL_BACKENDS.map((name) => ({ name, usable: usable[name], reason: usable[name] ? `${name} works (test)` : `${name} unavailable (test)` }));
  return {
    kernel: "6.18.0-test",
    arch: overrides.arch ?? "x86_64",
    root: true,
    namespaces: { mnt: true, pid: true, net: true, ipc: true, uts: true, user: overrides.userns ?? true, cgroup: true, time: true },
    cgroup: { mode: "hybrid", v2Mount: "/sys/fs/cgroup/unified" },
    seccomp: { filter: true, userNotification: true },
    landlock: { abi },
    lsm: { active: ["lockdown", "capability", "landlock", "bpf"], bpfListed: true, bpfLoadable: false, bpfLoadError: "EPERM", apparmor: usable.apparmor },
    bpf: { btf: true, ringbuf: true, tpBtf: true, cgroupDevice: true, cgroupSockAddr: true },
    fanotify: true,
    runtimes: { runc: "1.1.5" },
    backends,
  };
}

export type { TreeSpec };

/** A temp directory tree (see writeTree). */
export function tempTree(spec: TreeSpec): { root: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), "palisade-tree-"));
  writeTree(root, spec);
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** A small image-like rootfs (busybox style: applets are symlinks, one hard link pair). */
export const IMAGE_TREE: TreeSpec = {
  "bin/busybox": "ELF",
  "bin/sh": { symlink: "busybox" },
  "bin/cat": { symlink: "busybox" },
  "etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
  "etc/group": "root:x:0:\napp:x:1000:\n",
  "etc/shadow": "root:*:1::::::\n",
  "etc/ssl/certs/ca.pem": "CA",
  "etc/ssl/private/key.pem": "KEY",
  "usr/bin/tool": "ELF2",
  "usr/bin/tool-alias": { hardlink: "usr/bin/tool" },
  "usr/lib/libc.so": "LIB",
  "lib/ld-linux-x86-64.so.2": "LD",
  "tmp": null,
  "proc": null,
  "dev": null,
};

export function compilePathsFor(rootfs: string): CompilePaths {
  return {
    rootfs,
    launcher: "/opt/palisade/palisade-launch",
    launchConfig: "/var/lib/palisade/workloads/default.demo/launch.conf",
    volumes: "/var/lib/palisade/volumes/default.demo",
    persistent: "/var/lib/palisade/persistent/default/demo",
    etc: "/var/lib/palisade/workloads/default.demo/etc",
  };
}

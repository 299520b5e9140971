/**
 * `palisade probe [--json]`: what this kernel offers for enforcement, measured
 * (src/native/probe.ts), and which backends are therefore usable, with the
 * reason for each. Field meanings: docs/probe.md.
 */
import type { Command } from "commander";
import type { HostFeatures } from "../native/hostFeatures.js";
import { probeHost } from "../native/probe.js";
import { formatTable, printJson } from "./output.js";

const yn = (b: boolean) => (b ? "yes" : "no");

/** The features table: one row per thing an operator asks "does this host have X?". */
export function featureRows(h: HostFeatures): string[][] {
  const fail = (key: string) => h.failures?.[key] ?? "";
  const ns = Object.entries(h.namespaces);
  const missingNs = ns.filter(([, ok]) => !ok).map(([n]) => `${n}: ${fail(`namespaces.${n}`)}`);
  const cg =
    h.cgroup.mode === "hybrid"
      ? `v1 controllers + v2 at ${h.cgroup.v2Mount}`
      : h.cgroup.mode === "v2"
        ? `at ${h.cgroup.v2Mount}`
        : h.cgroup.mode === "v1"
          ? "v1 only"
          : "no cgroup filesystem mounted";
  const ll = h.landlock.abi;
  return [
    ["namespaces", ns.every(([, ok]) => ok) ? "yes" : "partial", missingNs.length ? `missing ${missingNs.join("; ")}` : ns.map(([n]) => n).join(" ")],
    ["user namespace", yn(h.namespaces.user), h.namespaces.user ? "" : fail("namespaces.user")],
    ["cgroups", h.cgroup.mode, cg],
    ["seccomp filter", yn(h.seccomp.filter), h.seccomp.filter ? `actions: ${(h.seccomp.actions ?? []).join(" ")}` : fail("seccomp.filter")],
    ["seccomp user notification", yn(h.seccomp.userNotification), h.seccomp.userNotification ? "listener fd created in a test child" : fail("seccomp.userNotification")],
    ["Landlock", ll ? `ABI ${ll}` : "no", ll ? (ll >= 4 ? "fs + TCP rules" : "fs rules only") : fail("landlock")],
    ["active LSM list", h.lsm.active.length ? "read" : "unknown", h.lsm.active.length ? h.lsm.active.join(",") : fail("lsm.active")],
    ["BPF LSM listed", yn(h.lsm.bpfListed), ""],
    ["BPF LSM loadable", yn(h.lsm.bpfLoadable), h.lsm.bpfLoadable ? "lsm/file_open loaded" : `lsm/file_open: ${fail("lsm.bpfLoadable")}`],
    ["BTF", yn(h.bpf.btf), h.bpf.btf ? "/sys/kernel/btf/vmlinux" : fail("bpf.btf")],
    ["BPF tp_btf", yn(h.bpf.tpBtf), h.bpf.tpBtf ? "sched_process_exec loaded" : fail("bpf.tpBtf")],
    ["BPF cgroup/dev", yn(h.bpf.cgroupDevice), fail("bpf.cgroupDevice")],
    ["BPF cgroup/connect4", yn(h.bpf.cgroupSockAddr), fail("bpf.cgroupSockAddr")],
    ["BPF ring buffer", yn(h.bpf.ringbuf), fail("bpf.ringbuf")],
    ["fanotify permission events", yn(h.fanotify), fail("fanotify")],
    ["AppArmor", yn(h.lsm.apparmor), h.lsm.apparmorParser ? `apparmor_parser ${h.lsm.apparmorParser}` : "apparmor_parser not installed"],
    ["runc", h.runtimes.runc ?? "not installed", ""],
    ["crun", h.runtimes.crun ?? "not installed", ""],
    ["root", yn(h.root), h.root ? "" : "some measurements need root (see notes)"],
  ];
}

export function renderProbe(h: HostFeatures): string {
  let out = `Palisade probe: Linux ${h.kernel} (${h.arch}), ${h.root ? "as root" : "NOT as root"}\n\n`;
  out += formatTable(["FEATURE", "PRESENT", "DETAIL"], featureRows(h));
  out += "\n";
  out += formatTable(
    ["BACKEND", "USABLE", "WHY"],
    h.backends.map((b) => [b.name, yn(b.usable), b.reason]),
  );
  if (h.notes?.length) out += `\nnotes:\n${h.notes.map((n) => `  - ${n}\n`).join("")}`;
  return out;
}

export function registerProbeCommand(program: Command): void {
  program
    .command("probe")
    .description("measure what this kernel offers for enforcement and which backends are usable")
    .option("--json", "print the HostFeatures object (docs/probe.md)")
    .action(async (opts: { json?: boolean }) => {
      const features = await probeHost();
      if (opts.json) printJson(features);
      else process.stdout.write(renderProbe(features));
    });
}

/**
 * Independent measurements to compare the probe against: other tools, other
 * code paths (libbpf's ELF loader via bpftool, util-linux, procfs). None of
 * them changes the host: mounts happen inside `unshare --mount`.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir, cleanup } from "./helpers.js";

function sh(script: string): { code: number | null; out: string; err: string } {
  const r = spawnSync("sh", ["-c", script], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The active LSM list read by util-linux mount in a throwaway mount namespace (root only). */
export function lsmListViaMount(): string[] {
  const r = sh(
    "unshare --mount --propagation private sh -c '[ -e /sys/kernel/security/lsm ] || mount -t securityfs securityfs /sys/kernel/security; cat /sys/kernel/security/lsm'",
  );
  if (r.code !== 0) throw new Error(`reading the LSM list failed: ${r.err}`);
  return r.out.trim().split(",");
}

/** Whether a clang-compiled object with one program in `section` loads with bpftool (libbpf), and bpftool's stderr. */
export function bpftoolLoads(section: string): { ok: boolean; stderr: string } {
  const dir = tempDir("bpfobj");
  try {
    const src = join(dir, "p.bpf.c");
    writeFileSync(src, `__attribute__((section("${section}"), used)) int pal_check(void *ctx) { return 0; }\nchar LICENSE[] __attribute__((section("license"), used)) = "GPL";\n`);
    const cc = spawnSync("clang", ["-O2", "-g", "-target", "bpf", "-c", src, "-o", join(dir, "p.o")], { encoding: "utf8" });
    if (cc.status !== 0) throw new Error(`clang failed: ${cc.stderr}`);
    // The bpffs (and so the pinned program) exists only in this throwaway mount namespace.
    const r = sh(`mkdir ${dir}/fs && unshare --mount --propagation private sh -c 'mount -t bpf bpf ${dir}/fs && bpftool prog load ${dir}/p.o ${dir}/fs/pin'`);
    return { ok: r.code === 0, stderr: r.err };
  } finally {
    cleanup(dir);
  }
}

/** `bpftool feature probe kernel`: "eBPF program_type X is available" lines → set of available names. */
export function bpftoolFeatures(): { programs: Set<string>; maps: Set<string> } {
  const out = sh("bpftool feature probe kernel 2>/dev/null").out;
  const pick = (kind: string) => new Set([...out.matchAll(new RegExp(`eBPF ${kind} (\\w+) is available`, "g"))].map((m) => m[1] as string));
  return { programs: pick("program_type"), maps: pick("map_type") };
}

/** Names of BPF programs and maps currently loaded (bpftool -j). */
export function loadedBpfNames(): string[] {
  const names: string[] = [];
  for (const what of ["prog", "map"]) {
    const r = sh(`bpftool ${what} show -j`);
    for (const o of JSON.parse(r.out || "[]") as { name?: string }[]) if (o.name) names.push(o.name);
  }
  return names;
}

/** Whether util-linux `unshare --FLAG true` succeeds (as the given uid). */
export function unshareWorks(flag: string, uid?: number): boolean {
  const r = spawnSync("unshare", [flag, "true"], { uid, gid: uid, stdio: "ignore" });
  return r.status === 0;
}

/** cgroup mode from findmnt (util-linux), for comparison with the probe's /proc/mounts reading. */
export function cgroupModeViaFindmnt(): { mode: string; v2Mount?: string } {
  const v2 = sh("findmnt -n -o TARGET -t cgroup2").out.trim().split("\n")[0] || undefined;
  const v1 = sh("findmnt -n -o TARGET -t cgroup").out.trim() !== "";
  return v2 ? { mode: v1 ? "hybrid" : "v2", v2Mount: v2 } : { mode: v1 ? "v1" : "none" };
}

export function seccompActionsAvail(): string[] {
  return readFileSync("/proc/sys/kernel/seccomp/actions_avail", "utf8").trim().split(/\s+/);
}

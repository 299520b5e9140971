/**
 * probeHost(): what this kernel and host offer for enforcement, measured.
 *
 * Two sources, combined by the pure function buildHostFeatures():
 * - the C probe (`palisade-probe`, src/native/probe.c) for everything that
 *   needs a syscall: Landlock ABI, seccomp, namespace creation, BPF program
 *   loads, fanotify, and the active LSM list (it mounts securityfs in a
 *   private mount namespace when the host has not mounted it);
 * - what Node can read: uname, uid, /proc/mounts (cgroup mode),
 *   /proc/self/ns, /sys/kernel/btf/vmlinux, AppArmor's module parameter,
 *   and the versions of runc, crun and apparmor_parser.
 * Fields are documented in docs/probe.md. The result is cached per process.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { machine, release } from "node:os";
import { promisify } from "node:util";
import { z } from "zod";
import { PalisadeError } from "../core/errors.js";
import { launcherPath, probePath, requireBinary } from "./binaries.js";
import type { BackendStatus, HostFeatures } from "./hostFeatures.js";

const run = promisify(execFile);

const NS_NAMES = ["mnt", "pid", "net", "ipc", "uts", "user", "cgroup", "time"] as const;
type NsName = (typeof NS_NAMES)[number];
/** The namespaces runc gives every workload; all must be creatable for the backend. */
const WORKLOAD_NS: readonly NsName[] = ["mnt", "pid", "net", "ipc", "uts", "cgroup"];
export const BTF_PATH = "/sys/kernel/btf/vmlinux";
const APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled";

// ---- the C probe's output (schema: docs/probe.md) ----

const result = z
  .object({ ok: z.boolean(), errno: z.string().optional(), error: z.string().optional() })
  .passthrough();
const nsResult = result.extend({ viaUserns: z.boolean().optional() });
const progResult = result.extend({ target: z.string().optional(), attachBtfId: z.number().optional(), verifier: z.string().optional() });

export const rawProbeSchema = z.object({
  version: z.literal(1),
  uid: z.number(),
  euid: z.number(),
  landlock: result.extend({ abi: z.number().int().min(0), errata: z.number().optional() }),
  seccomp: z.object({
    mode: z.number(),
    actions: z.record(z.boolean()),
    filter: result,
    notifSizes: result,
    userNotification: result,
  }),
  namespaces: z.object(Object.fromEntries(NS_NAMES.map((n) => [n, nsResult])) as Record<NsName, typeof nsResult>),
  fanotify: result,
  lsm: result.extend({ source: z.string().optional(), list: z.string().optional() }),
  bpf: z.object({
    btf: result,
    lsm: progResult,
    tpBtf: progResult,
    cgroupDevice: progResult,
    cgroupSockAddr: progResult,
    ringbuf: result,
  }),
});
export type RawProbe = z.infer<typeof rawProbeSchema>;
type Result = z.infer<typeof result>;

/** Runs `palisade-probe` and validates its JSON. */
export async function runNativeProbe(binary: string = probePath()): Promise<RawProbe> {
  requireBinary(binary);
  let stdout: string;
  try {
    ({ stdout } = await run(binary, [], { timeout: 60_000, maxBuffer: 1 << 20 }));
  } catch (cause) {
    const e = cause as { stderr?: string; code?: unknown };
    throw new PalisadeError("PROBE", `${binary} failed (${String(e.code)}): ${(e.stderr ?? "").trim() || "no output"}`, {
      hint: "rebuild it with: bash scripts/setup.sh",
      cause,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch (cause) {
    throw new PalisadeError("PROBE", `${binary} printed something that is not JSON`, { hint: "rebuild it with: bash scripts/setup.sh", cause });
  }
  const checked = rawProbeSchema.safeParse(parsed);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new PalisadeError("PROBE", `${binary} printed unexpected JSON at ${issue?.path.join(".") ?? "?"}: ${issue?.message ?? ""}`, {
      hint: "the probe binary and the TypeScript disagree; rebuild with: bash scripts/setup.sh",
    });
  }
  return checked.data;
}

// ---- what Node reads itself ----

export interface HostFacts {
  readonly kernel: string;
  readonly arch: string;
  readonly uid: number;
  /** Contents of /proc/mounts. */
  readonly mounts: string;
  /** Entries of /proc/self/ns. */
  readonly nsFiles: readonly string[];
  readonly btfFile: boolean;
  /** /sys/module/apparmor/parameters/enabled is "Y". */
  readonly apparmorEnabled: boolean;
  readonly apparmorParser?: string;
  readonly runc?: string;
  readonly crun?: string;
  readonly launcherBuilt: boolean;
}

/** First "version X" of `cmd --version`, or undefined when it is not installed or fails. */
export async function toolVersion(cmd: string): Promise<string | undefined> {
  // runc and apparmor_parser live in sbin, which a non-root PATH may lack.
  const PATH = `${process.env.PATH ?? ""}:/usr/local/sbin:/usr/sbin:/sbin`;
  try {
    const { stdout, stderr } = await run(cmd, ["--version"], { timeout: 10_000, env: { ...process.env, PATH } });
    return /version\s+(\S+)/i.exec(stdout + stderr)?.[1];
  } catch {
    return undefined;
  }
}

async function readOr(path: string, fallback: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return fallback;
  }
}

export async function readHostFacts(): Promise<HostFacts> {
  const [mounts, nsFiles, apparmor, apparmorParser, runc, crun] = await Promise.all([
    readOr("/proc/mounts", ""),
    readdir("/proc/self/ns").catch(() => [] as string[]),
    readOr(APPARMOR_ENABLED, "N"),
    toolVersion("apparmor_parser"),
    toolVersion("runc"),
    toolVersion("crun"),
  ]);
  return {
    kernel: release(),
    arch: machine(),
    uid: process.getuid?.() ?? -1,
    mounts,
    nsFiles,
    btfFile: existsSync(BTF_PATH),
    apparmorEnabled: apparmor.trim() === "Y",
    ...(apparmorParser === undefined ? {} : { apparmorParser }),
    ...(runc === undefined ? {} : { runc }),
    ...(crun === undefined ? {} : { crun }),
    launcherBuilt: existsSync(launcherPath()),
  };
}

/** cgroup mode from /proc/mounts: v2 only, v1 only, both (hybrid), or none. */
export function cgroupMode(procMounts: string): HostFeatures["cgroup"] {
  let v1 = false;
  let v2Mount: string | undefined;
  for (const line of procMounts.split("\n")) {
    const [, mountPoint, fsType] = line.split(" ");
    if (fsType === "cgroup") v1 = true;
    if (fsType === "cgroup2" && v2Mount === undefined && mountPoint) v2Mount = mountPoint.replace(/\\040/g, " ");
  }
  if (v2Mount !== undefined) return { mode: v1 ? "hybrid" : "v2", v2Mount };
  return { mode: v1 ? "v1" : "none" };
}

// ---- combining ----

function why(r: Result): string {
  return r.ok ? "ok" : `${r.errno ?? "error"} (${r.error ?? "unknown"})`;
}

/** Pure: measurements in, HostFeatures out (tested with recorded inputs). */
export function buildHostFeatures(raw: RawProbe, facts: HostFacts): HostFeatures {
  const root = facts.uid === 0;
  const failures: Record<string, string> = {};
  const notes: string[] = [];
  const record = (key: string, r: Result): boolean => {
    if (!r.ok) failures[key] = why(r) + ("verifier" in r && typeof r.verifier === "string" ? `; verifier: ${r.verifier}` : "");
    return r.ok;
  };
  const needsRoot = (r: Result) => (!root && r.errno === "EPERM" ? " — needs root; run the probe as root" : "");

  const namespaces = {} as Record<NsName, boolean>;
  let viaUserns = false;
  for (const n of NS_NAMES) {
    const r = raw.namespaces[n];
    namespaces[n] = r.ok || r.viaUserns === true;
    viaUserns ||= !r.ok && r.viaUserns === true;
    if (!namespaces[n]) failures[`namespaces.${n}`] = why(r) + (facts.nsFiles.includes(n) ? "" : `; the kernel has no ${n} namespace (/proc/self/ns/${n} absent)`);
  }
  if (viaUserns) notes.push(`as uid ${facts.uid}, namespaces other than user could only be created inside a new user namespace`);

  const cgroup = cgroupMode(facts.mounts);
  record("landlock", raw.landlock);
  const seccompFilter = record("seccomp.filter", raw.seccomp.filter);
  const userNotification = record("seccomp.userNotification", raw.seccomp.userNotification);
  if (raw.seccomp.mode === 2) notes.push("the probe itself runs under a seccomp filter (e.g. inside a container): results are what that filter allows");

  const lsmRead = record("lsm.active", raw.lsm);
  const active = lsmRead && raw.lsm.list ? raw.lsm.list.split(",").filter(Boolean) : [];
  if (raw.lsm.source?.includes("private")) {
    notes.push(
      lsmRead
        ? "securityfs is not mounted at /sys/kernel/security; the probe mounted it in a private mount namespace to read the LSM list (the host's mounts are unchanged)"
        : `securityfs is not mounted at /sys/kernel/security and mounting it failed: ${why(raw.lsm)}${needsRoot(raw.lsm)}`,
    );
  }
  const bpfLoadable = record("lsm.bpfLoadable", raw.bpf.lsm);
  const bpf = {
    btf: facts.btfFile && record("bpf.btf", raw.bpf.btf),
    ringbuf: record("bpf.ringbuf", raw.bpf.ringbuf),
    tpBtf: record("bpf.tpBtf", raw.bpf.tpBtf),
    cgroupDevice: record("bpf.cgroupDevice", raw.bpf.cgroupDevice),
    cgroupSockAddr: record("bpf.cgroupSockAddr", raw.bpf.cgroupSockAddr),
  };
  if (!facts.btfFile) failures["bpf.btf"] = `${BTF_PATH} is absent (kernel built without CONFIG_DEBUG_INFO_BTF)`;
  const fanotify = record("fanotify", raw.fanotify);
  if (!root) {
    notes.push(
      `not root (uid ${facts.uid}): loading BPF programs, fanotify, creating namespaces directly and mounting securityfs need root, ` +
        "so their results here are what this user can do, not what the agent (root) can; run `palisade probe` as root for the full picture",
    );
  }

  const lsm: HostFeatures["lsm"] = {
    active,
    bpfListed: active.includes("bpf"),
    bpfLoadable,
    ...(bpfLoadable ? {} : { bpfLoadError: raw.bpf.lsm.errno ?? "unknown" }),
    apparmor: facts.apparmorEnabled && active.includes("apparmor"),
    ...(facts.apparmorParser === undefined ? {} : { apparmorParser: facts.apparmorParser }),
  };
  const partial = {
    kernel: facts.kernel,
    arch: facts.arch,
    root,
    namespaces,
    cgroup,
    seccomp: { filter: seccompFilter, userNotification, actions: Object.keys(raw.seccomp.actions).filter((a) => raw.seccomp.actions[a]) },
    landlock: { abi: raw.landlock.abi, ...(raw.landlock.errata === undefined ? {} : { errata: raw.landlock.errata }) },
    lsm,
    bpf,
    fanotify,
    runtimes: { ...(facts.runc ? { runc: facts.runc } : {}), ...(facts.crun ? { crun: facts.crun } : {}) },
  };
  return { ...partial, backends: backends(partial, raw, facts, lsmRead), failures, notes };
}

function backends(f: Omit<HostFeatures, "backends">, raw: RawProbe, facts: HostFacts, lsmRead: boolean): BackendStatus[] {
  const out: BackendStatus[] = [];
  const add = (name: BackendStatus["name"], usable: boolean, reason: string) => out.push({ name, usable, reason });
  const notRoot = f.root ? "" : " — needs root; run the probe as root";
  const runc = f.runtimes.runc ? `runc ${f.runtimes.runc}` : undefined;
  const noRunc = "runc is not installed (apt-get install runc)";
  const needRunc = (usable: boolean, yes: string, no: string): [boolean, string] =>
    !runc ? [false, noRunc] : usable ? [f.root, yes + (f.root ? "" : "; but runc needs root to start containers (run the probe as root)")] : [false, no];

  const missingNs = WORKLOAD_NS.filter((n) => !f.namespaces[n]);
  add(
    "namespaces",
    ...needRunc(
      missingNs.length === 0,
      `created ${WORKLOAD_NS.join(", ")} namespaces in a test child (user: ${f.namespaces.user ? "yes" : "no"}, time: ${f.namespaces.time ? "yes" : "no"}); ${runc} sets them up`,
      `could not create ${missingNs.map((n) => `${n} (${raw.namespaces[n].errno ?? "?"})`).join(", ")}${notRoot}`,
    ),
  );
  add("capabilities", ...needRunc(true, `${runc} drops capabilities from every set (bounding, effective, permitted, inheritable, ambient)`, ""));
  const cgDesc =
    f.cgroup.mode === "hybrid"
      ? `cgroup hybrid: v1 controllers plus cgroup2 at ${f.cgroup.v2Mount}`
      : f.cgroup.mode === "v2"
        ? `cgroup v2 at ${f.cgroup.v2Mount}`
        : `cgroup v1 only`;
  add("cgroups", ...needRunc(f.cgroup.mode !== "none", `${cgDesc}; ${runc} applies limits and device rules`, "no cgroup filesystem is mounted (/proc/mounts)"));
  add(
    "seccomp",
    ...needRunc(
      f.seccomp.filter,
      `a filter was installed in a test child (SECCOMP_SET_MODE_FILTER); user notification ${f.seccomp.userNotification ? "available (listener fd created)" : "unavailable"}; ${runc} applies the OCI profile`,
      `installing a filter failed: ${why(raw.seccomp.filter)}`,
    ),
  );

  const abi = f.landlock.abi;
  const extras = [abi >= 4 ? "TCP bind/connect" : "no TCP rules (needs ABI 4)", abi >= 6 ? "scopes" : "", abi >= 7 ? "audit after exec" : ""].filter(Boolean);
  add(
    "landlock",
    abi >= 1 && facts.launcherBuilt,
    abi < 1
      ? `the kernel has no Landlock: ${why(raw.landlock)} (ENOSYS: not built in; EOPNOTSUPP: not in lsm= at boot)`
      : !facts.launcherBuilt
        ? `kernel reports Landlock ABI ${abi}, but palisade-launch is not built (run: bash scripts/setup.sh)`
        : `kernel reports Landlock ABI ${abi}: file rights, ${extras.join(", ")}; applied by palisade-launch (unprivileged)`,
  );

  const lsmErr = raw.bpf.lsm.ok ? "" : `${raw.bpf.lsm.errno ?? "error"}${raw.bpf.lsm.errno === "EPERM" && !f.root ? " (not root)" : ""}`;
  let lsmReason: string;
  if (!lsmRead) lsmReason = `could not read the active LSM list (${why(raw.lsm)})${f.root ? "" : notRoot}; loading lsm/file_open: ${f.lsm.bpfLoadable ? "ok" : lsmErr}`;
  else if (f.lsm.bpfListed && f.lsm.bpfLoadable) lsmReason = "listed in the active LSMs, and a trivial lsm/file_open program loaded";
  else if (f.lsm.bpfListed)
    lsmReason = `listed in the active LSMs, but loading lsm/file_open failed: ${lsmErr}${f.root ? " — BPF LSM programs cannot be used on this kernel" : notRoot}`;
  else if (f.lsm.bpfLoadable) lsmReason = `a lsm/file_open program loads, but "bpf" is not in the active LSMs (${f.lsm.active.join(",")}), so it would never run; boot with lsm=...,bpf`;
  else lsmReason = `"bpf" is not in the active LSMs (${f.lsm.active.join(",") || "none"}) and loading lsm/file_open failed: ${lsmErr}`;
  add("bpf-lsm", f.lsm.bpfListed && f.lsm.bpfLoadable, lsmReason);

  const cgFail = [
    f.bpf.cgroupDevice ? "" : `cgroup/dev: ${why(raw.bpf.cgroupDevice)}`,
    f.bpf.cgroupSockAddr ? "" : `cgroup/connect4: ${why(raw.bpf.cgroupSockAddr)}`,
    f.cgroup.v2Mount ? "" : "no cgroup2 hierarchy to attach to",
  ].filter(Boolean);
  add(
    "cgroup-bpf",
    cgFail.length === 0,
    cgFail.length === 0 ? `cgroup/dev and cgroup/connect4 programs load; they attach to a workload's cgroup under ${f.cgroup.v2Mount}` : cgFail.join("; ") + (f.root ? "" : notRoot),
  );
  add(
    "fanotify",
    f.fanotify,
    f.fanotify ? "fanotify_init(FAN_CLASS_CONTENT) succeeded: open/exec permission events on chosen inodes" : `fanotify_init(FAN_CLASS_CONTENT) failed: ${why(raw.fanotify)}${f.root ? "" : notRoot}`,
  );
  const parser = f.lsm.apparmorParser ? `apparmor_parser ${f.lsm.apparmorParser} can still check generated profiles` : "apparmor_parser is not installed";
  add(
    "apparmor",
    f.lsm.apparmor && f.lsm.apparmorParser !== undefined,
    f.lsm.apparmor
      ? f.lsm.apparmorParser
        ? `AppArmor is enabled and active; apparmor_parser ${f.lsm.apparmorParser} loads profiles`
        : "AppArmor is active, but apparmor_parser is not installed (apt-get install apparmor)"
      : `${
          !facts.apparmorEnabled
            ? `AppArmor is not enabled in this kernel (${APPARMOR_ENABLED} is not Y)`
            : lsmRead
              ? `AppArmor is enabled but not an active LSM (active: ${f.lsm.active.join(",")})`
              : "AppArmor is enabled, but whether it is active is unknown (the LSM list could not be read)"
        }; profiles are generated but cannot be loaded; ${parser}`,
  );
  return out;
}

// ---- the cached entry point ----

let cached: Promise<HostFeatures> | undefined;

/** Measures the host once per process; later calls return the same result. */
export function probeHost(): Promise<HostFeatures> {
  if (process.platform !== "linux") {
    return Promise.reject(new PalisadeError("NOT_LINUX", `the probe measures the Linux kernel; this is ${process.platform}`, { hint: "run Palisade on a Linux 6.x machine or VM" }));
  }
  cached ??= Promise.all([runNativeProbe(), readHostFacts()]).then(([raw, facts]) => buildHostFeatures(raw, facts));
  // A failure is not cached: the next call (e.g. after building) measures again.
  cached.catch(() => (cached = undefined));
  return cached;
}

/** Forgets the cached result (tests; or after the host changed). */
export function resetProbeCache(): void {
  cached = undefined;
}

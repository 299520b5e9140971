/**
 * What the kernel and host offer for enforcement, as measured by the probe
 * (`palisade probe`). Every field is a measurement, never an assumption: a
 * feature counts as present only when a real test (a syscall, a program load)
 * succeeded. The compiler chooses backends from this.
 */

export type BackendName =
  | "namespaces" // pid/mount/ipc/uts/net/cgroup namespaces via runc
  | "capabilities" // capability bounding/effective sets via runc
  | "cgroups" // resource limits and device cgroup rules via runc
  | "seccomp" // OCI seccomp profile applied by runc
  | "landlock" // file and TCP allow-lists applied by the native launcher
  | "bpf-lsm" // BPF LSM programs (needs a loadable lsm/ program, not just "bpf" in the LSM list)
  | "cgroup-bpf" // cgroup/dev and cgroup/connect programs attached to a workload's cgroup
  | "fanotify" // permission events on chosen inodes
  | "apparmor"; // AppArmor profiles (text generated everywhere; loaded only where AppArmor is active)

export interface BackendStatus {
  readonly name: BackendName;
  readonly usable: boolean;
  /** Why it is (not) usable, in one line: what was measured. */
  readonly reason: string;
}

export interface HostFeatures {
  readonly kernel: string;
  readonly arch: string;
  readonly root: boolean;
  readonly namespaces: Readonly<Record<"mnt" | "pid" | "net" | "ipc" | "uts" | "user" | "cgroup" | "time", boolean>>;
  readonly cgroup: { readonly mode: "v1" | "v2" | "hybrid" | "none"; readonly v2Mount?: string };
  readonly seccomp: {
    readonly filter: boolean;
    readonly userNotification: boolean;
    /** Return actions the kernel supports (SECCOMP_GET_ACTION_AVAIL), e.g. "kill_process", "log", "user_notif". */
    readonly actions?: readonly string[];
  };
  /** Landlock ABI version the kernel reports; 0 when Landlock is absent or disabled. */
  readonly landlock: {
    readonly abi: number;
    /** Bitmask of fixed Landlock issues (LANDLOCK_CREATE_RULESET_ERRATA), when the kernel reports it. */
    readonly errata?: number;
  };
  readonly lsm: {
    readonly active: readonly string[];
    readonly bpfListed: boolean;
    /** A trivial lsm/file_open program actually loaded. */
    readonly bpfLoadable: boolean;
    readonly bpfLoadError?: string;
    readonly apparmor: boolean;
    readonly apparmorParser?: string;
  };
  readonly bpf: Readonly<Record<"btf" | "ringbuf" | "tpBtf" | "cgroupDevice" | "cgroupSockAddr", boolean>>;
  readonly fanotify: boolean;
  readonly runtimes: { readonly runc?: string; readonly crun?: string };
  readonly backends: readonly BackendStatus[];
  /**
   * Why each absent feature is absent, keyed by its field path
   * ("bpf.tpBtf", "namespaces.time", "lsm.bpfLoadable", "fanotify", ...):
   * the errno name and text, e.g. "EPERM (Operation not permitted)".
   */
  readonly failures?: Readonly<Record<string, string>>;
  /** How the probe got its results where that matters: privilege, securityfs, user namespaces. */
  readonly notes?: readonly string[];
}

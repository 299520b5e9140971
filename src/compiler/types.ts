/**
 * Types shared by the compiler's backends and its entry point
 * (compileWorkload). Kept apart so that each backend module imports only
 * these, never another backend.
 */
import { formatLocation } from "../core/errors.js";
import type { BackendName } from "../native/hostFeatures.js";
import type { Action, Origin, Rule, UnenforcedNote } from "../policy/model.js";

/**
 * Everything that enforces something. The probe's backends, plus "mounts":
 * the read-only root filesystem and the mount table, which enforce some rules
 * by themselves (a path that cannot be written, or does not exist).
 */
export type Enforcer = BackendName | "mounts";

/** What the image says about how to run it (the image store's `config(ref)`). */
export interface ImageConfig {
  readonly entrypoint?: readonly string[] | null;
  readonly cmd?: readonly string[] | null;
  readonly env?: readonly string[] | null;
  readonly workingDir?: string | null;
  /** "", "uid", "uid:gid", "name" or "name:group", as in the OCI image config. */
  readonly user?: string | null;
}

/** A user-namespace id range on the host: container ids 0…size-1 map to hostId…hostId+size-1. */
export interface IdMap {
  readonly hostId: number;
  readonly size: number;
}

/** Host paths the compiled spec refers to; the runtime creates them (src/runtime/bundle.ts). */
export interface CompilePaths {
  /** The image's unpacked rootfs (shared, read-only). Read to resolve users and enumerate Block complements. */
  readonly rootfs: string;
  /** The static launcher binary on the host. */
  readonly launcher: string;
  /** Where the runtime writes the encoded LaunchConfig. */
  readonly launchConfig: string;
  /** Parent of this workload's emptyDir directories (one sub-directory per volume). */
  readonly volumes: string;
  /** Parent of this workload's persistent volumes (kept across restarts and updates). */
  readonly persistent: string;
  /** Directory holding the generated hosts, hostname and resolv.conf files. */
  readonly etc: string;
}

export interface CompileOptions {
  /** The runc container id; also the cgroup leaf name. */
  readonly id: string;
  /** Which container of the workload (default: the first). */
  readonly container?: string;
  readonly image: ImageConfig;
  readonly paths: CompilePaths;
  /** Host id range for a user namespace; omit to run without one. */
  readonly idMap?: IdMap;
  /** Audit mode: every Block rule is demoted to Audit and the postures to audit; nothing in policy blocks. */
  readonly auditOnly?: boolean;
  /** A network namespace prepared by the runtime (veth + NAT) for the `network` interface. */
  readonly netnsPath?: string;
  /**
   * Parent of the workload's cgroup (default "/palisade"). The runtime adds
   * its data directory's scope, since cgroups are host-wide and ids are not.
   */
  readonly cgroupParent?: string;
  /** Test seams: where host devices and host directories are looked up (default "/dev" and "/"). */
  readonly devRoot?: string;
  readonly hostRoot?: string;
}

/** A rule as shown to people: one line of text and where it was written. */
export interface RuleRef {
  readonly kind: Rule["kind"] | "unenforced";
  readonly action: Action;
  readonly text: string;
  /** file:line:column of the rule in its policy file. */
  readonly where: string;
  readonly path: string;
}

export interface UnsupportedRule {
  readonly rule: Rule | UnenforcedNote;
  readonly ref: RuleRef;
  /** The backend that would enforce it, and why that cannot happen here. */
  readonly backend: string;
  readonly reason: string;
}

export interface EnforcedRule {
  readonly ref: RuleRef;
  readonly backend: Enforcer;
  /** How, in a few words (e.g. "complement of 41 entries"). */
  readonly how: string;
}

export interface BackendSummary {
  readonly name: Enforcer;
  /** Usable on this host, per the probe. */
  readonly available: boolean;
  /** Part of this workload's confinement. */
  readonly used: boolean;
  readonly reason: string;
  /** Policy rules this backend enforces for the workload. */
  readonly rules: number;
  /** What it does for the workload, and any approximation, one line each. */
  readonly notes: readonly string[];
}

export function ruleRef(rule: Rule | UnenforcedNote): RuleRef {
  return {
    kind: rule.kind === "unenforced" ? "unenforced" : rule.kind,
    action: rule.action,
    text: describeRule(rule),
    where: formatLocation(rule.origin),
    path: rule.origin.path,
  };
}

export function originText(o: Origin): string {
  return formatLocation(o);
}

function matchText(m: { kind: "path"; path: string } | { kind: "directory"; dir: string; recursive: boolean } | { kind: "pattern"; pattern: string }): string {
  switch (m.kind) {
    case "path":
      return m.path;
    case "directory":
      return m.recursive ? `${m.dir} (recursive)` : m.dir;
    case "pattern":
      return `pattern ${m.pattern}`;
  }
}

/** "Block file /etc/shadow from /bin/cat (ownerOnly)": what a rule says, for reports. */
export function describeRule(rule: Rule | UnenforcedNote): string {
  const from = rule.kind !== "unenforced" && rule.fromSource.length > 0 ? ` from ${rule.fromSource.map(matchText).join(", ")}` : "";
  switch (rule.kind) {
    case "process":
      return `${rule.action} exec ${matchText(rule.match)}${from}${rule.ownerOnly ? " (ownerOnly)" : ""}`;
    case "file":
      return `${rule.action} file ${matchText(rule.match)}${from}${rule.readOnly ? " (readOnly)" : ""}${rule.ownerOnly ? " (ownerOnly)" : ""}`;
    case "network":
      return `${rule.action} network ${rule.protocol}${from}`;
    case "capability":
      return `${rule.action} capability ${rule.capability}${from}`;
    case "syscall":
      return `${rule.action} syscalls ${rule.syscalls.join(",")}${rule.paths.length ? ` on ${rule.paths.map(matchText).join(", ")}` : ""}${from}`;
    case "unenforced":
      return `${rule.action} ${rule.category} ${rule.feature} ${JSON.stringify(rule.value)}`;
  }
}

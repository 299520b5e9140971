/**
 * The compiler's entry point: one workload container + its effective policy
 * + what this host can enforce → every artifact the runtime needs (OCI spec
 * with seccomp inside, Landlock launch config, AppArmor text) and a report
 * of which backend enforces which rule.
 *
 * Fail closed: a rule that no *available* backend can enforce stops the
 * compile with COMPILE_UNSUPPORTED naming the rule and the reason, unless
 * the rule's action is Audit (audit rules need no enforcing backend; they
 * are recorded for the sensor). Nothing is silently dropped: every rule ends
 * up in `enforced`, `audited` or `unsupported`.
 */
import { PalisadeError } from "../core/errors.js";
import type { BackendName, HostFeatures } from "../native/hostFeatures.js";
import { encodeLaunchConfig, type LaunchConfig } from "../native/launchConfig.js";
import { combinePolicies, freezeDeep, type CapabilityRule, type Container, type EffectivePolicy, type Policy, type Rule, type Workload } from "../policy/index.js";
import { apparmorCannotExpress, apparmorProfileName, compileAppArmor } from "./apparmorProfile.js";
import { resolveInterfaceGrants, type InterfaceGrants } from "./interfaceGrants.js";
import { compileLandlock, findProgram } from "./landlockRules.js";
import { buildMounts, compileOciSpec, DEFAULT_PATH, MASKED_PATHS, planUserNamespace, programOf, READONLY_PATHS, type UserNamespacePlan } from "./ociSpec.js";
import type { OciSpec, SeccompProfile } from "./ociTypes.js";
import { compileSeccomp, type SeccompSummary } from "./seccompProfile.js";
import { ruleRef, type BackendSummary, type CompileOptions, type EnforcedRule, type Enforcer, type RuleRef, type UnsupportedRule } from "./types.js";

export interface CompiledWorkload {
  readonly id: string;
  readonly container: string;
  readonly spec: OciSpec;
  readonly seccomp: SeccompProfile;
  readonly seccompSummary: SeccompSummary;
  /** The Landlock ruleset, or null when the launcher is not used. */
  readonly launch: LaunchConfig | null;
  /** `launch` encoded for the launcher (launch.conf), or null. */
  readonly launchText: string | null;
  readonly apparmor: { readonly name: string; readonly text: string; readonly loaded: boolean };
  readonly capabilities: readonly string[];
  readonly userns: { readonly enabled: boolean; readonly reason: string };
  readonly grants: InterfaceGrants;
  readonly enforced: readonly EnforcedRule[];
  /** Rules only logged: action Audit, or everything in audit mode. */
  readonly audited: readonly RuleRef[];
  /** Empty unless compiled with failClosed: false. */
  readonly unsupported: readonly UnsupportedRule[];
  readonly backends: Readonly<Record<Enforcer, BackendSummary>>;
  readonly policies: readonly string[];
  readonly auditOnly: boolean;
}

export interface CompileWorkloadOptions extends CompileOptions {
  /** Default true. false returns unsupported rules in the result instead of throwing (for tests and explain tools). */
  readonly failClosed?: boolean;
}

const ALL_ENFORCERS: readonly Enforcer[] = ["namespaces", "capabilities", "cgroups", "seccomp", "landlock", "mounts", "apparmor", "bpf-lsm", "cgroup-bpf", "fanotify"];

export function compileWorkload(
  workload: Workload,
  policies: EffectivePolicy | readonly Policy[],
  features: HostFeatures,
  opts: CompileWorkloadOptions,
): CompiledWorkload {
  const container = pickContainer(workload, opts.container);
  const combined = Array.isArray(policies)
    ? combinePolicies(policies as readonly Policy[], workload.labels, { namespace: workload.namespace, ...(workload.defaultPosture ? { defaultPosture: workload.defaultPosture } : {}) })
    : (policies as EffectivePolicy);
  if (combined.target === "host") {
    throw new PalisadeError("USAGE", "host policies (KubeArmorHostPolicy) confine the device, not a workload; combine the workload's policies with target \"workload\"", { where: workload.origin });
  }
  const policy = opts.auditOnly ? demoteToAudit(combined) : combined;
  const usable = (n: BackendName) => features.backends.find((b) => b.name === n);
  const isUsable = (n: BackendName) => usable(n)?.usable === true;
  const whyNot = (n: BackendName) => usable(n)?.reason ?? "the probe did not report this backend";

  const grants = resolveInterfaceGrants(workload, container, { ...(opts.devRoot ? { devRoot: opts.devRoot } : {}), ...(opts.hostRoot ? { hostRoot: opts.hostRoot } : {}) });
  const enforced: EnforcedRule[] = [];
  const unsupported: UnsupportedRule[] = [];
  const notes = new Map<Enforcer, string[]>(ALL_ENFORCERS.map((e) => [e, []]));
  const note = (e: Enforcer, ...lines: string[]) => notes.get(e)!.push(...lines);

  const capabilities = grantedCapabilities(container, policy, enforced, unsupported, notes.get("capabilities")!);
  const rootReadOnly = container.securityContext.readOnlyRootFilesystem;
  const joinsHostNetns = workload.interfaces.some((i) => i.name === "network");
  const userns = planUserNamespace(features.namespaces.user, opts.idMap, grants, rootReadOnly, joinsHostNetns ? capabilities : []);
  const launcherUsable = isUsable("landlock");
  const { mounts, points } = buildMounts({
    workload,
    container,
    paths: opts.paths,
    grants,
    launcher: launcherUsable,
    bindSysfs: userns.enabled && opts.netnsPath !== undefined,
  });

  const view = { root: opts.paths.rootfs, mounts: points };
  const program = programOf(container, opts.image);
  const pathEnv = [...(opts.image.env ?? []), ...container.env.map((e) => `${e.name}=${e.value}`)].filter((e) => e.startsWith("PATH=")).pop()?.slice(5) ?? DEFAULT_PATH;
  const entrypoint = findProgram(view, program[0], pathEnv);
  const landlock = compileLandlock({
    ...(entrypoint ? { entrypoint } : {}),
    policy,
    abi: features.landlock.abi,
    available: launcherUsable,
    unavailableReason: whyNot("landlock"),
    view,
    rootReadOnly,
    grants,
    volumes: container.volumeMounts.map((v) => ({ destination: v.mountPath, readOnly: v.readOnly })),
    // rbind: runc 1.1 makes only the top of a recursive bind read-only, so its submounts may be writable.
    writableMounts: mounts.filter((m) => !(m.options ?? []).includes("ro") || (m.options ?? []).includes("rbind")).map((m) => m.destination),
  });
  enforced.push(...landlock.enforced);
  unsupported.push(...landlock.unsupported);
  note("landlock", ...landlock.notes);

  const seccomp = compileSeccomp({ arch: features.arch, policy, rawSockets: capabilities.includes("net_raw") });
  if (isUsable("seccomp")) enforced.push(...seccomp.enforced);
  else for (const e of seccomp.enforced) unsupported.push({ rule: findRule(policy, e.ref), ref: e.ref, backend: "seccomp", reason: whyNot("seccomp") });
  unsupported.push(...seccomp.unsupported);
  note("seccomp", ...seccomp.notes);

  for (const n of policy.unenforced ?? []) {
    if (n.action === "Audit") continue;
    unsupported.push({ rule: n, ref: ruleRef(n), backend: "none", reason: n.reason });
  }

  // AppArmor, where it is the active LSM, can take over what the others cannot express.
  const apparmorName = apparmorProfileName(opts.id);
  const apparmorText = compileAppArmor({ id: opts.id, policy, capabilities });
  const apparmorLoaded = isUsable("apparmor");
  const remaining: UnsupportedRule[] = [];
  for (const u of unsupported) {
    if (apparmorLoaded && apparmorCannotExpress(u.rule) === undefined) enforced.push({ ref: u.ref, backend: "apparmor", how: "AppArmor profile rule" });
    else remaining.push(u);
  }
  if (remaining.length > 0 && opts.failClosed !== false) throw unenforceable(remaining, features);

  const launchText = landlock.config ? encodeLaunchConfig(landlock.config) : null;
  const spec = compileOciSpec({
    id: opts.id,
    workload,
    container,
    image: opts.image,
    rootfs: opts.paths.rootfs,
    grants,
    // The launcher is mounted when Landlock is usable; drop its mounts when it turned out to have nothing to do.
    mounts: landlock.config ? mounts : mounts.filter((m) => !m.destination.startsWith("/.palisade/")),
    capabilities,
    userns,
    ...(opts.netnsPath ? { netnsPath: opts.netnsPath } : {}),
    ...(opts.cgroupParent ? { cgroupParent: opts.cgroupParent } : {}),
    launcher: landlock.config !== null,
    seccomp: seccomp.profile,
    ...(apparmorLoaded ? { apparmorProfile: apparmorName } : {}),
  });

  const audited = policy.rules.filter((r) => r.action === "Audit").map(ruleRef);
  for (const n of policy.unenforced ?? []) if (n.action === "Audit") audited.push(ruleRef(n));
  describeBaseline(note, spec, userns, capabilities, grants, seccomp.summary, landlock.config, landlock.enumerated, rootReadOnly);

  const backends = {} as Record<Enforcer, BackendSummary>;
  const used: Record<Enforcer, boolean> = {
    namespaces: true,
    capabilities: true,
    cgroups: true,
    seccomp: true,
    mounts: true,
    landlock: landlock.config !== null,
    apparmor: apparmorLoaded,
    "bpf-lsm": false,
    "cgroup-bpf": false,
    fanotify: false,
  };
  for (const e of ALL_ENFORCERS) {
    const status = e === "mounts" ? { usable: true, reason: "read-only root and the mount table, applied by runc" } : usable(e);
    if (e === "fanotify" || e === "cgroup-bpf") note(e, "not used by the compiler yet: Block rules it could enforce are reported unsupported instead");
    if (e === "apparmor" && !apparmorLoaded) note(e, "profile generated (see inspect --json) but not loaded: AppArmor is not active here");
    backends[e] = {
      name: e,
      available: status?.usable ?? false,
      used: used[e],
      reason: status?.reason ?? "not reported by the probe",
      rules: enforced.filter((x) => x.backend === e).length,
      notes: notes.get(e)!,
    };
  }

  return freezeDeep({
    id: opts.id,
    container: container.name,
    spec,
    seccomp: seccomp.profile,
    seccompSummary: seccomp.summary,
    launch: landlock.config,
    launchText,
    apparmor: { name: apparmorName, text: apparmorText, loaded: apparmorLoaded },
    capabilities,
    userns: { enabled: userns.enabled, reason: userns.reason },
    grants,
    enforced,
    audited,
    unsupported: remaining,
    backends,
    policies: [...policy.policies],
    auditOnly: opts.auditOnly === true,
  });
}

function pickContainer(workload: Workload, name: string | undefined): Container {
  const c = name === undefined ? workload.containers[0] : workload.containers.find((x) => x.name === name);
  if (!c) {
    throw new PalisadeError("USAGE", name === undefined ? `workload ${workload.name} has no containers` : `workload ${workload.name} has no container ${name}`, {
      where: workload.origin,
      hint: `containers: ${workload.containers.map((x) => x.name).join(", ")}`,
    });
  }
  return c;
}

/** Audit mode: nothing in policy blocks; every rule and every posture only logs. */
export function demoteToAudit(p: EffectivePolicy): EffectivePolicy {
  return {
    ...p,
    rules: p.rules.map((r) => (r.action === "Block" ? ({ ...r, action: "Audit" } as Rule) : r)),
    posture: { process: "audit", file: "audit", network: "audit", capability: "audit" },
    unenforced: (p.unenforced ?? []).map((n) => ({ ...n, action: "Audit" as const })),
  };
}

/**
 * capabilities.add minus what policy blocks (and, in a capability
 * allow-list with posture block, minus what it does not allow). A Block on a
 * capability that is never granted is enforced by its absence.
 */
function grantedCapabilities(container: Container, policy: EffectivePolicy, enforced: EnforcedRule[], unsupported: UnsupportedRule[], notes: string[]): string[] {
  const add = [...new Set(container.securityContext.capabilitiesAdd)];
  const rules = policy.rules.filter((r): r is CapabilityRule => r.kind === "capability");
  const list = policy.allowList.capability && policy.posture.capability === "block";
  const out: string[] = [];
  for (const cap of add) {
    const mine = rules.filter((r) => r.capability === cap);
    const block = mine.find((r) => r.action === "Block" && r.fromSource.length === 0);
    if (block) {
      notes.push(`${cap}: requested by the manifest, dropped: ${ruleRef(block).where} blocks it`);
      continue;
    }
    const scoped = mine.filter((r) => r.fromSource.length > 0 && (r.action === "Block" || (r.action === "Allow" && list)));
    for (const r of scoped) {
      unsupported.push({ rule: r, ref: ruleRef(r), backend: "capabilities", reason: "capability sets belong to the whole workload; granting or blocking one per executable (fromSource) needs BPF-LSM, which cannot load on this kernel" });
    }
    if (list && !mine.some((r) => r.action === "Allow" && r.fromSource.length === 0)) {
      if (scoped.length === 0) notes.push(`${cap}: requested by the manifest, dropped: not in the capability allow-list`);
      continue;
    }
    out.push(cap);
  }
  for (const r of rules) {
    if (r.action === "Block" && !out.includes(r.capability) && !unsupported.some((u) => u.rule === r)) {
      enforced.push({ ref: ruleRef(r), backend: "capabilities", how: add.includes(r.capability) ? "dropped from every set" : "never granted (all capabilities are dropped)" });
    } else if (r.action === "Allow" && list && r.fromSource.length === 0) {
      enforced.push({ ref: ruleRef(r), backend: "capabilities", how: "capability allow-list" });
    }
  }
  return out.sort();
}

function findRule(policy: EffectivePolicy, ref: RuleRef): Rule {
  return policy.rules.find((r) => ruleRef(r).where === ref.where && ruleRef(r).text === ref.text) ?? policy.rules[0]!;
}

function unenforceable(list: readonly UnsupportedRule[], features: HostFeatures): PalisadeError {
  const first = list[0]!;
  const more = list.length > 1 ? ` (and ${list.length - 1} more rule${list.length > 2 ? "s" : ""}: ${list.slice(1).map((u) => u.ref.where).join(", ")})` : "";
  return new PalisadeError(
    "COMPILE_UNSUPPORTED",
    `${first.ref.text} (${first.ref.where}) cannot be enforced on this host: ${first.reason}${more}; the workload was not started`,
    {
      where: first.rule.origin,
      hint:
        "set action: Audit to run with this rule audited only, or run on a kernel with " +
        (features.lsm.bpfLoadable ? "AppArmor active" : "BPF-LSM (lsm=…,bpf and a loadable lsm/ program) or AppArmor active"),
      details: { unsupported: list.map((u) => ({ rule: u.ref.text, where: u.ref.where, backend: u.backend, reason: u.reason })) },
    },
  );
}

/** One line per backend saying what it does for this workload (shown by inspect). */
function describeBaseline(
  note: (e: Enforcer, ...l: string[]) => void,
  spec: OciSpec,
  userns: UserNamespacePlan,
  caps: readonly string[],
  grants: InterfaceGrants,
  seccomp: SeccompSummary,
  launch: LaunchConfig | null,
  enumerated: number,
  rootReadOnly: boolean,
): void {
  note("namespaces", `new ${spec.linux.namespaces.map((n) => (n.path ? `${n.type} (joined ${n.path})` : n.type)).join(", ")}`, `user namespace: ${userns.enabled ? "on" : "off"} — ${userns.reason}`);
  note("capabilities", caps.length ? `granted: ${caps.join(", ")}; all others dropped from every set` : "none: every capability dropped from every set", "no_new_privs set");
  const r = spec.linux.resources;
  note(
    "cgroups",
    `memory ${r.memory ? `${r.memory.limit} bytes` : "unlimited"}, cpu ${r.cpu ? `${r.cpu.quota}/${r.cpu.period} µs` : "unlimited"}, pids ${r.pids?.limit ?? "unlimited"}`,
    `devices: deny all, allow ${grants.devices.length ? grants.devices.map((d) => `${d.type} ${d.major}:${d.minor} (${d.path})`).join(", ") : "only runc's standard nodes"}`,
  );
  note("seccomp", `default ${seccomp.defaultAction}, ${seccomp.allowed} syscalls allowed, conditional: ${seccomp.conditional.join(", ")}`);
  note(
    "mounts",
    rootReadOnly ? "root filesystem read-only" : "root filesystem WRITABLE (readOnlyRootFilesystem: false; writes go to a per-workload overlay)",
    `masked: ${MASKED_PATHS.length} paths, read-only: ${READONLY_PATHS.join(", ")}`,
  );
  if (launch) note("landlock", `${launch.handledFs.length} fs rights handled, ${launch.paths.length} path rules (${enumerated} rootfs entries enumerated), net: ${launch.handledNet.join(",") || "none"}, ports: ${launch.ports.map((p) => p.port).join(",") || "none"}, scopes: ${(launch.scopes ?? []).join(",") || "none"}, min ABI ${launch.minAbi}`);
}

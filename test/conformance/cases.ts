/**
 * Loads and checks the conformance data: cases/*.yaml (one attack each) and
 * backends.yaml (what each enforcement backend is, needs, and cannot
 * express). docs/conformance.md documents both formats. Pure: no kernel, no
 * runtime — the runner (conformance.test.ts) and the matrix printer
 * (matrix.ts) share it.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { z } from "zod";

export const CONFORMANCE_DIR = dirname(fileURLToPath(import.meta.url));
export const CASES_DIR = join(CONFORMANCE_DIR, "cases");

/** Every enforcer a case may name: the probe's backends plus "mounts" (read-only root, mount table). */
export const BACKENDS = ["mounts", "namespaces", "capabilities", "cgroups", "seccomp", "landlock", "cgroup-bpf", "fanotify", "bpf-lsm", "apparmor"] as const;
export type Backend = (typeof BACKENDS)[number];
const backend = z.enum(BACKENDS);

export const OPS = ["read", "write", "exec", "rawsock", "tcpsock", "mount", "ptrace", "init_module", "finit_module", "mknod-chr", "mknod-fifo", "bind", "connect", "await"] as const;
/** OK, or an errno name. A list means any of them (used only where kernels legitimately differ). */
const result = z.string().regex(/^(OK|E[A-Z0-9]+)$/, "OK or an errno name such as EACCES");
const expectation = z.union([result, z.array(result).min(1)]);
const op = z.object({ op: z.enum(OPS), arg: z.string().min(1).default("-"), expect: expectation }).strict();
export type AttackOp = z.infer<typeof op>;

const name = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/, "a DNS label of at most 42 characters");
const relName = z.string().regex(/^[A-Za-z0-9._-]+$/, "a plain file name");
const mode = z.string().regex(/^0[0-7]{3}$/, "an octal mode like 0644");
/** Host-side preparation in the case's fresh host directory {{dir}}. */
const hostStep = z.union([
  z.object({ file: relName, content: z.string().default(""), mode: mode.default("0644") }).strict(),
  z.object({ mknod: relName, major: z.number().int().min(0), minor: z.number().int().min(0), mode: mode.default("0666") }).strict(),
  z.object({ chmod: mode }).strict(),
]);
/** Done by the host while the workload runs, inside its root (/proc/PID/root). */
const duringStep = z.object({ mknod: z.string().startsWith("/"), major: z.number().int().min(0), minor: z.number().int().min(0), mode: mode.default("0666") }).strict();

/**
 * Workload tweaks, merged into the suite's base Workload (busybox + helpers
 * image, command = the attack). Validated for real by Palisade's own parser,
 * so only their shape is checked here.
 */
const tweaks = z
  .object({
    securityContext: z.record(z.unknown()).optional(),
    volumeMounts: z.array(z.record(z.unknown())).optional(),
    volumes: z.array(z.record(z.unknown())).optional(),
    interfaces: z.array(z.unknown()).optional(),
    defaultPosture: z.unknown().optional(),
  })
  .strict();
export type Tweaks = z.infer<typeof tweaks>;

/** What a backend must show in the compiled workload for this case (see evidence() in conformance.test.ts). */
const evidence = z
  .object({
    readOnlyRoot: z.literal(true).optional(),
    nodev: z.string().startsWith("/").optional(),
    namespaces: z.array(z.enum(["pid", "mount", "network", "ipc", "uts", "cgroup", "user"])).optional(),
    lacks: z.array(z.string()).optional(),
    denies: z.array(z.string()).optional(),
    blocksProtocol: z.array(z.string()).optional(),
    deniesDevice: z.string().regex(/^[cb] \d+:\d+$/).optional(),
    handlesNet: z.array(z.enum(["bind_tcp", "connect_tcp"])).optional(),
    enforces: z.string().optional(),
  })
  .strict();
export type Evidence = z.infer<typeof evidence>;

const control = z
  .object({
    /** bare: runc without Palisade (all capabilities); host: the helper run on the host; no-policy: the case without its policies; workload: other tweaks. */
    mode: z.enum(["bare", "host", "no-policy", "workload"]),
    why: z.string().min(1),
    workload: tweaks.optional(),
    /** Default: the case's refused ops, each expected OK. */
    attack: z.array(op).optional(),
  })
  .strict();
export type Control = z.infer<typeof control>;

const caseSchema = z
  .object({
    name,
    title: z.string().min(1),
    why: z.string().optional(),
    enforcers: z.record(backend, evidence).default({}),
    /** Kernel features beyond the enforcers' own, e.g. "landlock-abi>=4". */
    requires: z.array(z.string().regex(/^landlock-abi>=\d+$|^userns$/)).default([]),
    /** When none of the enforcers is offered here, runWorkload must refuse with COMPILE_UNSUPPORTED. */
    failClosed: z.boolean().default(false),
    workload: tweaks.default({}),
    /** KubeArmorPolicy `spec` bodies; the runner adds the selector. */
    policies: z.array(z.record(z.unknown())).default([]),
    host: z.array(hostStep).default([]),
    during: z.array(duringStep).default([]),
    attack: z.array(op).min(1),
    /** Rule texts that must be reported audited (not enforced). */
    audited: z.array(z.string()).default([]),
    control: z.array(control).default([]),
    /** Backend → why it cannot express this case. */
    cannotExpress: z.record(backend, z.string().min(1)).default({}),
  })
  .strict();
export type Case = z.infer<typeof caseSchema> & { readonly file: string };

const backendSchema = z
  .object({
    name: backend,
    /** Short name of the kernel feature a refusal by this backend needs (matrix column). */
    feature: z.string().min(1),
    enforces: z.string().min(1),
    requires: z.string().min(1),
    /** Does Palisade's compiler produce artifacts for it (so a case may rely on it)? */
    compiled: z.boolean(),
    /** Does PLATFORM.md say our machines offer it? Absent ones must be reported unusable by the probe. */
    platform: z.enum(["expected", "absent"]),
    cannotExpress: z.array(z.string()).default([]),
  })
  .strict();
export type BackendInfo = z.infer<typeof backendSchema>;

export const refused = (o: AttackOp): boolean => [o.expect].flat().every((r) => r !== "OK");

/** Problems a schema cannot see: the rules that keep a case honest. */
export function caseProblems(c: Case): string[] {
  const out: string[] = [];
  const refusals = c.attack.filter(refused);
  const names = Object.keys(c.enforcers);
  if (refusals.length > 0 && names.length === 0) out.push("refuses something but names no enforcer");
  if (refusals.length > 0 && c.control.length === 0) out.push("refuses something but has no control run proving the action works without the confinement");
  if (refusals.length === 0 && names.length > 0) out.push("names enforcers but refuses nothing");
  if (c.failClosed && c.policies.length === 0) out.push("failClosed needs a policy (only policy rules can be unenforceable)");
  for (const b of names) if (b in c.cannotExpress) out.push(`${b} is both an enforcer and listed in cannotExpress`);
  // Every refusal needs a control that tries the same operation (same argument, except on the host,
  // whose paths differ) and gets something else than the refusal: proof that the confinement refused it.
  for (const o of refusals) {
    const errnos = [o.expect].flat();
    const covered = c.control.some((ctl) =>
      (ctl.attack ?? refusals.map((r) => ({ ...r, expect: "OK" }))).some((p) => p.op === o.op && (ctl.mode === "host" || p.arg === o.arg) && [p.expect].flat().every((e) => !errnos.includes(e))),
    );
    if (!covered) out.push(`no control tries "${o.op} ${o.arg}" without the confinement`);
  }
  if (/\{\{dir\}\}/.test(JSON.stringify([c.workload, c.attack, c.control])) && c.host.length === 0 && !JSON.stringify(c.workload).includes("hostPath")) {
    out.push("uses {{dir}} without preparing it");
  }
  return out;
}

export function loadCases(dir = CASES_DIR): Case[] {
  const files = readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();
  const cases = files.map((f) => {
    const parsed = caseSchema.safeParse(parse(readFileSync(join(dir, f), "utf8")));
    if (!parsed.success) throw new Error(`${f}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    if (`${parsed.data.name}.yaml` !== f) throw new Error(`${f}: name ${parsed.data.name} must match the file name`);
    const c = { ...parsed.data, file: f };
    const problems = caseProblems(c);
    if (problems.length) throw new Error(`${f}: ${problems.join("; ")}`);
    return c;
  });
  return cases;
}

export function loadBackends(file = join(CONFORMANCE_DIR, "backends.yaml")): BackendInfo[] {
  const list = z.array(backendSchema).parse(parse(readFileSync(file, "utf8")));
  const names = list.map((b) => b.name);
  for (const b of BACKENDS) if (!names.includes(b)) throw new Error(`backends.yaml: ${b} is missing`);
  if (new Set(names).size !== names.length) throw new Error("backends.yaml: a backend is listed twice");
  return list;
}

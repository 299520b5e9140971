/**
 * Runs one conformance case for real: its Workload (the suite's image, the
 * attack helper as command, the case's tweaks) and policies go through
 * Palisade's parser and runWorkload, exactly as `palisade run` would; the
 * helper's lines are compared with the case's expectations. Controls run
 * the refused operations without the confinement (bare runc, the host, the
 * case without its policies), and evidence checks that the backend a case
 * names is the one configured to refuse it.
 */
import { execFile, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import type { CompiledWorkload } from "../../../src/compiler/index.js";
import { PalisadeError } from "../../../src/core/errors.js";
import type { HostFeatures } from "../../../src/native/hostFeatures.js";
import { compileWorkload } from "../../../src/compiler/index.js";
import { parseDocuments, type Policy, type Workload } from "../../../src/policy/index.js";
import { statePath, workloadId } from "../../../src/runtime/bundle.js";
import type { ImageStore } from "../../../src/runtime/imageStore.js";
import { runWorkload } from "../../../src/runtime/workloads.js";
import { refused, type AttackOp, type Backend, type Case, type Control, type Evidence, type Tweaks } from "../cases.js";
import { allCaps, createBareBundle, destroyBareBundle, runBare } from "./bareRunc.js";
import { ATTACK, type ConformanceImage } from "./image.js";
import { buildHelper } from "./native.js";

const exec = promisify(execFile);

export interface SuiteContext {
  readonly store: ImageStore;
  readonly image: ConformanceImage;
  readonly features: HostFeatures;
}

/** One line of the helper: "OP ARG: RESULT". */
export interface Outcome {
  readonly line: string;
  readonly result: string;
}

export interface CaseRun {
  readonly outcomes: readonly Outcome[];
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
  readonly compiled: CompiledWorkload;
}

/** Host paths a case's strings may name: {{dir}} (prepared by `host` steps) and {{marker}} (a host file never mounted). */
export interface HostPaths {
  readonly dir: string;
  readonly marker: string;
}

export function prepareHost(c: Case): HostPaths {
  const base = mkdtempSync(join(tmpdir(), `palisade-conf-${c.name}-`));
  chmodSync(base, 0o755); // a user-namespace root must traverse it to reach a hostPath volume
  const dir = join(base, "dir");
  mkdirSync(dir, { mode: 0o755 });
  const marker = join(base, "host-marker");
  writeFileSync(marker, "host only\n", { mode: 0o644 });
  for (const step of c.host) {
    if ("chmod" in step) chmodSync(dir, parseInt(step.chmod, 8));
    else if ("file" in step) writeFileSync(join(dir, step.file), step.content, { mode: parseInt(step.mode, 8) });
    else mknod(join(dir, step.mknod), step.major, step.minor, step.mode);
  }
  return { dir, marker };
}

export function cleanupHost(p: HostPaths): void {
  rmSync(join(p.dir, ".."), { recursive: true, force: true });
}

/** A character device node, made by coreutils' mknod (Node has no mknod). */
function mknod(path: string, major: number, minor: number, mode: string): void {
  rmSync(path, { force: true });
  const r = spawnSync("mknod", ["-m", mode, path, "c", String(major), String(minor)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`mknod ${path} failed: ${r.stderr || r.error?.message || "unknown error"}`);
}

/** Replaces {{dir}} and {{marker}} in every string of a value. */
export function expand<T>(value: T, p: HostPaths): T {
  return JSON.parse(JSON.stringify(value).replaceAll("{{dir}}", p.dir).replaceAll("{{marker}}", p.marker)) as T;
}

export function argv(ops: readonly AttackOp[]): string[] {
  return ops.flatMap((o) => [o.op, o.arg]);
}

/** The case's Workload and policies as one YAML file, parsed by Palisade's own parser. */
export function caseDocuments(name: string, image: string, ops: readonly AttackOp[], tweaks: Tweaks, policies: readonly Record<string, unknown>[]): { workload: Workload; policies: Policy[]; text: string } {
  const container: Record<string, unknown> = { name: "main", image, command: [ATTACK, ...argv(ops)] };
  if (tweaks.securityContext) container.securityContext = tweaks.securityContext;
  if (tweaks.volumeMounts) container.volumeMounts = tweaks.volumeMounts;
  const spec: Record<string, unknown> = { containers: [container] };
  if (tweaks.volumes) spec.volumes = tweaks.volumes;
  if (tweaks.interfaces) spec.interfaces = tweaks.interfaces;
  if (tweaks.defaultPosture !== undefined) spec.defaultPosture = tweaks.defaultPosture;
  const docs: unknown[] = [{ apiVersion: "palisade.dev/v1", kind: "Workload", metadata: { name, labels: { app: name } }, spec }];
  policies.forEach((body, i) => {
    docs.push({ apiVersion: "security.kubearmor.com/v1", kind: "KubeArmorPolicy", metadata: { name: `${name}-p${i}` }, spec: { selector: { matchLabels: { app: name } }, ...body } });
  });
  const text = docs.map((d) => stringify(d)).join("---\n");
  const r = parseDocuments(text, `${name}.yaml`);
  if (r.errors.length) throw new Error(`${name}: the case's documents do not parse:\n${r.errors.map((e) => e.message).join("\n")}\n${text}`);
  return { workload: r.workloads[0]!, policies: [...r.policies], text };
}

export function parseOutcomes(stdout: string): Outcome[] {
  return stdout
    .split("\n")
    .map((l) => /^(\S+ .*): (.+)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ line: m[1]!, result: m[2]! }));
}

/** Differences between what the helper printed and what the ops expect (empty: all as expected). */
export function mismatches(ops: readonly AttackOp[], outcomes: readonly Outcome[]): string[] {
  const out: string[] = [];
  ops.forEach((o, i) => {
    const got = outcomes[i];
    const want = [o.expect].flat();
    if (!got) out.push(`${o.op} ${o.arg}: expected ${want.join("|")}, the helper printed nothing`);
    else if (got.line !== `${o.op} ${o.arg}`) out.push(`line ${i + 1} is "${got.line}", expected "${o.op} ${o.arg}"`);
    else if (!want.includes(got.result)) out.push(`${o.op} ${o.arg}: expected ${want.join("|")}, got ${got.result}`);
  });
  if (outcomes.length > ops.length) out.push(`extra output: ${outcomes.slice(ops.length).map((x) => x.line).join(", ")}`);
  return out;
}

/**
 * Runs the workload. `during` steps are done from the host once runc has
 * started the container (its pid is in state.json), inside /proc/PID/root.
 */
export async function runConfined(ctx: SuiteContext, c: Case, name: string, ops: readonly AttackOp[], tweaks: Tweaks, policies: readonly Record<string, unknown>[], during = c.during): Promise<CaseRun> {
  const { workload, policies: parsed } = caseDocuments(name, ctx.image.ref, ops, tweaks, policies);
  const run = runWorkload({ workload, policies: parsed, features: ctx.features, store: ctx.store, stdio: "pipe", timeoutMs: 30_000 });
  if (during.length > 0) await doDuring(workloadId(workload.namespace, name), during, run);
  const r = await run;
  return { outcomes: parseOutcomes(r.stdout), stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode, compiled: r.compiled };
}

async function doDuring(id: string, steps: Case["during"], run: Promise<unknown>): Promise<void> {
  let finished = false;
  void run.finally(() => (finished = true)).catch(() => undefined);
  const deadline = Date.now() + 20_000;
  while (!finished && Date.now() < deadline) {
    const state = existsSync(statePath(id)) ? (JSON.parse(readFileSync(statePath(id), "utf8")) as { pid?: number }) : undefined;
    if (state?.pid) {
      for (const s of steps) mknod(`/proc/${state.pid}/root${s.mknod}`, s.major, s.minor, s.mode);
      return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${id}: the container never reported a pid, so the host could not act while it ran`);
}

/** The refused ops as a control expects them by default: each one OK. */
export function controlOps(c: Case, ctl: Control): AttackOp[] {
  return ctl.attack ?? c.attack.filter(refused).map((o) => ({ ...o, expect: "OK" }));
}

/** Runs one control and returns its mismatches (empty: the action works without the confinement). */
export async function runControl(ctx: SuiteContext, c: Case, ctl: Control, p: HostPaths): Promise<{ problems: string[]; output: string }> {
  const ops = expand(controlOps(c, ctl), p);
  let outcomes: Outcome[];
  let output: string;
  if (ctl.mode === "host") {
    const { stdout, stderr } = await exec(buildHelper("attack"), argv(ops), { timeout: 30_000 });
    output = stdout + stderr;
    outcomes = parseOutcomes(stdout);
  } else if (ctl.mode === "bare") {
    const bundle = await createBareBundle({ id: `conf-${c.name}`, imageRootfs: ctx.image.rootfs, args: [ATTACK, ...argv(ops)], capabilities: allCaps() });
    try {
      const r = await runBare(bundle, 30_000);
      output = r.stdout + r.stderr;
      outcomes = parseOutcomes(r.stdout);
    } finally {
      await destroyBareBundle(bundle);
    }
  } else {
    const tweaks = ctl.mode === "workload" ? expand(ctl.workload ?? {}, p) : expand(c.workload, p);
    const policies = ctl.mode === "no-policy" ? [] : expand(c.policies, p);
    const r = await runConfined(ctx, c, `${c.name}-ctl`.slice(0, 63), ops, tweaks, policies, []);
    output = r.stdout + r.stderr;
    outcomes = [...r.outcomes];
  }
  return { problems: mismatches(ops, outcomes), output };
}

/** Compiles the case without running it, keeping unsupported rules instead of throwing. */
export function compileOnly(ctx: SuiteContext, c: Case, p: HostPaths): CompiledWorkload {
  const { workload, policies } = caseDocuments(c.name, ctx.image.ref, expand(c.attack, p), expand(c.workload, p), expand(c.policies, p));
  const paths = { rootfs: ctx.image.rootfs, launcher: "/nonexistent/launcher", launchConfig: "/nonexistent/launch.conf", volumes: "/nonexistent/volumes", persistent: "/nonexistent/persistent", etc: "/nonexistent/etc" };
  return compileWorkload(workload, policies, ctx.features, { id: `conf.${c.name}`, image: ctx.store.config(ctx.image.ref), paths, failClosed: false });
}

/** Runs the case expecting runWorkload to refuse it; returns the error (or throws if it started). */
export async function expectRefusedStart(ctx: SuiteContext, c: Case, p: HostPaths): Promise<PalisadeError> {
  try {
    await runConfined(ctx, c, c.name, expand(c.attack, p), expand(c.workload, p), expand(c.policies, p), []);
  } catch (e) {
    if (e instanceof PalisadeError) return e;
    throw e;
  }
  throw new Error(`${c.name}: runWorkload started a workload whose policy no offered backend can enforce (it must fail closed)`);
}

const has = (xs: readonly string[], x: string) => xs.includes(x);

/** Why the compiled workload does not show that `backend` refuses this case (empty: it does). */
export function evidenceProblems(backend: Backend, ev: Evidence, compiled: CompiledWorkload): string[] {
  const out: string[] = [];
  const spec = compiled.spec;
  if (ev.readOnlyRoot && !spec.root.readonly) out.push("the root filesystem is not read-only");
  if (ev.nodev) {
    const m = spec.mounts.find((x) => x.destination === ev.nodev);
    if (!m || !has(m.options, "nodev")) out.push(`${ev.nodev} is not mounted nodev`);
  }
  for (const ns of ev.namespaces ?? []) if (!spec.linux.namespaces.some((n) => n.type === ns && !n.path)) out.push(`no new ${ns} namespace`);
  for (const cap of ev.lacks ?? []) {
    if (has(compiled.capabilities, cap) || has(spec.process.capabilities.bounding, `CAP_${cap.toUpperCase()}`)) out.push(`the workload keeps ${cap}`);
  }
  for (const name of ev.denies ?? []) {
    const opened = compiled.seccomp.syscalls.filter((s) => s.names.includes(name) && (s.action === "SCMP_ACT_ALLOW" || s.action === "SCMP_ACT_LOG"));
    if (compiled.seccomp.defaultAction !== "SCMP_ACT_ERRNO" || opened.length > 0) out.push(`seccomp lets ${name} through`);
  }
  for (const p of ev.blocksProtocol ?? []) {
    if ((compiled.seccompSummary.protocols as Record<string, string>)[p] !== "block") out.push(`seccomp's socket() filter does not block ${p}`);
  }
  if (ev.deniesDevice) {
    const [type, mm] = ev.deniesDevice.split(" ") as [string, string];
    const [major, minor] = mm.split(":").map(Number);
    const rules = spec.linux.resources.devices;
    const first = rules[0];
    if (!first || first.allow || first.type !== undefined || first.access !== "rwm") out.push("the device cgroup does not start with deny-all");
    if (rules.some((r) => r.allow && (r.type === undefined || r.type === "a" || r.type === type) && (r.major === undefined || r.major === major) && (r.minor === undefined || r.minor === minor))) {
      out.push(`the device cgroup allows ${ev.deniesDevice}`);
    }
  }
  for (const right of ev.handlesNet ?? []) {
    if (!compiled.launch || !has(compiled.launch.handledNet, right)) out.push(`Landlock does not handle ${right}`);
  }
  if (ev.enforces && !compiled.enforced.some((e) => e.backend === backend && e.ref.text === ev.enforces)) {
    out.push(`${backend} is not reported enforcing "${ev.enforces}" (enforced: ${compiled.enforced.map((e) => `${e.backend}: ${e.ref.text}`).join("; ") || "none"})`);
  }
  if (backend === "landlock" && !compiled.launch) out.push("the Landlock launcher is not used");
  return out;
}

/**
 * Workload lifecycle: run (foreground, one-shot or long-running), stop,
 * list, inspect, remove. One function call runs a workload under full
 * confinement and returns its exit status and output, so tests (and the
 * attack conformance suite) can drive real containers directly:
 *
 *   const r = await runWorkload({ workload, policies, stdio: "pipe" });
 *   r.exitCode, r.stdout, r.stderr, r.confinement
 *
 * Steps: resolve the image by digest → allocate a user-namespace id range
 * (and a subnet for `network`) → compile (fails closed before anything is
 * created) → bundle → `runc run` → on exit, tear everything down and record
 * the exit status in state.json, which stays for `ps`/`inspect` until removed.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { compileWorkload, confinementLine, confinementReport, RUNTIME_NEEDS, type CompiledWorkload, type ConfinementReport, type IdMap, type InterfaceGrants } from "../compiler/index.js";
import { PalisadeError } from "../core/errors.js";
import { dataDirScope } from "../core/paths.js";
import type { HostFeatures } from "../native/hostFeatures.js";
import { launcherPath, requireBinary } from "../native/binaries.js";
import { probeHost } from "../native/probe.js";
import { combinePolicies, type EffectivePolicy, type Policy, type Workload } from "../policy/index.js";
import { bundleLayout, compilePaths, createBundle, destroyBundle, requireTraversable, workloadId, workloadsRoot, type BundleLayout } from "./bundle.js";
import { ImageStore } from "./imageStore.js";
import { MAX_NETWORK_SLOTS, setupNetwork, teardownNetwork, type WorkloadNetwork } from "./network.js";
import { RuncDriver, type RuncState } from "./runcDriver.js";
import { claimSlot, parseSlotOwner, releaseSlots, slotOwnerKey } from "./slots.js";
import { listStates, processAlive, readState, updateState, writeState, type WorkloadState } from "./workloadState.js";

/** User namespaces get 65536 ids each, from here up (far above /etc/subuid's usual ranges). */
export const IDMAP_BASE = 1_000_000_000;
export const IDMAP_SIZE = 65536;
const MAX_IDMAP_SLOTS = 4096;
/** How long `stop` waits after SIGTERM before SIGKILL. */
export const STOP_GRACE_MS = 10_000;

export interface RunOptions {
  readonly workload: Workload;
  /** Policies (combined against the workload's labels) or an already combined EffectivePolicy. */
  readonly policies?: readonly Policy[] | EffectivePolicy;
  /** What the host can enforce; probed when omitted. */
  readonly features?: HostFeatures;
  /** Instance name (default: the workload's name). */
  readonly name?: string;
  readonly container?: string;
  /** Audit mode: policy blocks nothing, every rule only logs. */
  readonly auditOnly?: boolean;
  /** "pipe" (default) captures stdout/stderr into the result; "inherit" streams them to this process's. */
  readonly stdio?: "inherit" | "pipe";
  readonly store?: ImageStore;
  /** The manifest file, recorded in state for `ps`. */
  readonly manifest?: string;
  /** Called once the confinement is compiled and the bundle is ready, just before the workload starts. */
  readonly onConfined?: (report: ConfinementReport, line: string) => void;
  /**
   * Called once the workload's cgroup v2 directory exists and before any of
   * its processes runs (so a sensor watching the cgroup sees the entrypoint's
   * exec). A rejection fails the run; catch inside to keep running without.
   */
  readonly onCreated?: (info: CreatedWorkload) => Promise<void>;
  /** Forward SIGINT/SIGTERM received by this process to the workload (the CLI does). */
  readonly forwardSignals?: boolean;
  /** Kill the workload (SIGKILL) after this long. */
  readonly timeoutMs?: number;
  readonly runc?: RuncDriver;
}

/** What onCreated learns about the workload about to start. */
export interface CreatedWorkload {
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly container: string;
  /** The image reference as the store resolved it (name@digest). */
  readonly image: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The cgroup v2 directory runc will put the container in; undefined without a cgroup2 hierarchy. */
  readonly cgroupPath?: string;
  /** The policies combined against the workload (what the confinement was compiled from, before audit demotion). */
  readonly effective: EffectivePolicy;
  readonly auditOnly: boolean;
  /** The launcher's path inside the container when it wraps the entrypoint (its exec is setup, not the workload). */
  readonly launcher?: string;
  /** Paths granted whatever the policy says (implicitGrantsOf): the sensor logs them instead of alerting. */
  readonly implicitGrants?: readonly RuntimeGrant[];
}

/** One path the runtime grants every workload (the sensor's ImplicitGrant has the same shape). */
export interface RuntimeGrant {
  readonly path: string;
  readonly write: boolean;
  readonly recursive: boolean;
}

const WRITE_RIGHTS = new Set(["write_file", "truncate", "make_reg", "make_dir", "remove_file"]);

/**
 * The compiler's baseline Landlock grants (RUNTIME_NEEDS), the paths of the
 * workload's interfaces and its volumes — what a file allow-list never has
 * to name. Kept beside the compiler's list so the sensor and the
 * confinement cannot disagree (docs/sensor.md, "Implicit grants").
 */
export function implicitGrantsOf(grants: Pick<InterfaceGrants, "devices" | "mounts" | "sysfs">, volumes: readonly { readonly mountPath: string; readonly readOnly: boolean }[]): RuntimeGrant[] {
  return [
    ...RUNTIME_NEEDS.map((n) => ({ path: n.path, write: n.rights.some((r) => WRITE_RIGHTS.has(r)), recursive: true })),
    ...grants.devices.map((d) => ({ path: d.path, write: true, recursive: false })),
    ...grants.mounts.map((m) => ({ path: m.destination, write: !m.readOnly, recursive: true })),
    ...(grants.sysfs ? [{ path: "/sys", write: false, recursive: true }] : []),
    ...volumes.map((v) => ({ path: v.mountPath, write: !v.readOnly, recursive: true })),
  ];
}

export interface RunResult {
  readonly id: string;
  /** The workload's exit status; 128+N when killed by signal N. */
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly confinement: ConfinementReport;
  readonly compiled: CompiledWorkload;
  readonly timedOut: boolean;
}

/** A workload as `ps` and `inspect` show it: its state file reconciled with runc. */
export interface WorkloadView {
  readonly state: WorkloadState;
  /** What runc says now (undefined: runc does not know the container). */
  readonly runc?: RuncState;
  /** running / exited / failed, corrected when the recorded state is stale. */
  readonly status: string;
}

function requireRoot(): void {
  if (process.platform !== "linux") throw new PalisadeError("NOT_LINUX", `workloads run on Linux; this is ${process.platform}`);
  if (process.getuid?.() !== 0) {
    throw new PalisadeError("NOT_ROOT", "running workloads needs root (namespaces, cgroups, mounts)", { hint: "rerun with sudo" });
  }
}

/** A state whose supervisor is gone and whose container runc no longer runs. */
function isDead(owner: string): boolean {
  const { dataDir: dir, id } = parseSlotOwner(owner);
  const s = readState(join(dir, "workloads", id, "state.json"));
  return !s || !(s.status === "running" || s.status === "created") || !processAlive(s.supervisorPid);
}

export async function runWorkload(opts: RunOptions): Promise<RunResult> {
  requireRoot();
  const { workload } = opts;
  const name = opts.name ?? workload.name;
  const id = workloadId(workload.namespace, name);
  const layout = bundleLayout(id, workload.namespace, name);
  const runc = opts.runc ?? new RuncDriver();
  const existing = readState(layout.state);
  if (existing && (existing.status === "running" || existing.status === "created") && processAlive(existing.supervisorPid)) {
    throw new PalisadeError("RUNTIME", `workload ${name} is already running (pid ${existing.pid ?? "?"})`, { hint: `stop it first: palisade stop ${name}, or use --name` });
  }
  if (existing) await cleanup(layout, runc, existing);

  const features = opts.features ?? (await probeHost());
  const container = opts.container === undefined ? workload.containers[0] : workload.containers.find((c) => c.name === opts.container);
  if (!container) throw new PalisadeError("USAGE", `workload ${workload.name} has no container ${opts.container ?? ""}`);
  const store = opts.store ?? ImageStore.open();
  const image = store.config(container.image);
  const imageRootfs = await store.rootfs(container.image);

  let idMapSlot: number | undefined;
  let idMap: IdMap | undefined;
  let net: WorkloadNetwork | undefined;
  let netSlot: number | undefined;
  let compiled: CompiledWorkload | undefined;
  let createdCgroup: string | undefined;
  try {
    if (features.namespaces.user) {
      idMapSlot = claimSlot("idmap", slotOwnerKey(id), MAX_IDMAP_SLOTS, isDead);
      idMap = { hostId: IDMAP_BASE + idMapSlot * IDMAP_SIZE, size: IDMAP_SIZE };
    }
    const wantsNetwork = workload.interfaces.some((i) => i.name === "network");
    const launcher = launcherPath();
    const compileOpts = {
      id,
      ...(opts.container ? { container: opts.container } : {}),
      image,
      paths: compilePaths(layout, imageRootfs, launcher),
      ...(idMap ? { idMap } : {}),
      ...(opts.auditOnly ? { auditOnly: true } : {}),
      cgroupParent: `/palisade/${dataDirScope()}`,
    };
    // Compile once before touching the network, so an unenforceable policy changes nothing on the host.
    compiled = compileWorkload(workload, opts.policies ?? [], features, compileOpts);
    if (wantsNetwork) {
      netSlot = claimSlot("net", slotOwnerKey(id), MAX_NETWORK_SLOTS, isDead);
      net = await setupNetwork(id, netSlot);
      compiled = compileWorkload(workload, opts.policies ?? [], features, { ...compileOpts, netnsPath: net.netnsPath });
    }
    if (compiled.launch) {
      requireBinary(launcher);
      if (compiled.userns.enabled) requireTraversable(dirname(launcher));
    }
    const report = confinementReport(compiled);
    const user = compiled.spec.process.user;
    const mapped = (x: number) => (compiled!.userns.enabled && idMap ? idMap.hostId + x : x);
    await createBundle({
      layout,
      compiled,
      imageRootfs,
      volumeOwner: { uid: mapped(user.uid), gid: mapped(user.gid) },
      hosts: { hostname: compiled.spec.hostname, ...(net ? { address: net.address, nameservers: net.nameservers } : {}) },
    });
    writeState(layout.state, {
      version: 1,
      id,
      name,
      namespace: workload.namespace,
      container: container.name,
      image: container.image,
      ...(opts.manifest ? { manifest: opts.manifest } : {}),
      status: "created",
      createdAt: new Date().toISOString(),
      supervisorPid: process.pid,
      bundle: layout.dir,
      ...(idMapSlot !== undefined && idMap ? { idMapSlot, idMap } : {}),
      ...(net && netSlot !== undefined ? { network: { slot: netSlot, address: net.address, netns: net.netns } } : {}),
      confinement: report,
    });
    if (opts.onCreated) {
      // runc (cgroupfs driver) joins an existing cgroup directory, so creating it first lets the
      // caller watch its id before runc starts anything in it; runc removes it on delete.
      if (features.cgroup.v2Mount) {
        createdCgroup = join(features.cgroup.v2Mount, compiled.spec.linux.cgroupsPath);
        mkdirSync(createdCgroup, { recursive: true });
      }
      await opts.onCreated({
        id,
        name,
        namespace: workload.namespace,
        container: container.name,
        image: container.image,
        labels: workload.labels,
        ...(createdCgroup ? { cgroupPath: createdCgroup } : {}),
        effective: Array.isArray(opts.policies ?? [])
          ? combinePolicies((opts.policies ?? []) as readonly Policy[], workload.labels, { namespace: workload.namespace, ...(workload.defaultPosture ? { defaultPosture: workload.defaultPosture } : {}) })
          : (opts.policies as EffectivePolicy),
        auditOnly: opts.auditOnly === true,
        ...(compiled.launch && compiled.spec.process.args[0] ? { launcher: compiled.spec.process.args[0] } : {}),
        implicitGrants: implicitGrantsOf(compiled.grants, container.volumeMounts),
      });
    }
    opts.onConfined?.(report, confinementLine(report));
    const outcome = await superviseRun(layout, runc, opts);
    const runcError = existsSync(layout.runcLog) ? RuncDriver.errorsIn(readFileSync(layout.runcLog, "utf8")) : undefined;
    if (runcError && !outcome.started) {
      updateState(layout.state, { status: "failed", error: runcError, finishedAt: new Date().toISOString() });
      throw new PalisadeError("RUNTIME", `runc could not start ${name}: ${runcError}`, { hint: `palisade inspect ${name} shows the confinement it was given` });
    }
    updateState(layout.state, { status: "exited", exitCode: outcome.exitCode, finishedAt: new Date().toISOString() });
    return { id, exitCode: outcome.exitCode, stdout: outcome.stdout, stderr: outcome.stderr, confinement: report, compiled, timedOut: outcome.timedOut };
  } catch (e) {
    const s = readState(layout.state);
    if (s && s.status !== "failed" && s.status !== "exited") updateState(layout.state, { status: "failed", error: e instanceof Error ? e.message : String(e), finishedAt: new Date().toISOString() });
    throw e;
  } finally {
    await runc.delete(id, { force: true }).catch(() => undefined);
    await destroyBundle(layout).catch(() => undefined);
    if (createdCgroup) rmCgroupDir(createdCgroup);
    if (netSlot !== undefined) await teardownNetwork(id, netSlot);
    releaseSlots("net", slotOwnerKey(id));
    releaseSlots("idmap", slotOwnerKey(id));
  }
}

/** Removes a cgroup directory we created when runc did not (it failed before, or left it empty). */
function rmCgroupDir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // gone already (runc removed it), or still populated: runc's delete owns it then
  }
}

interface Outcome {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly started: boolean;
  readonly timedOut: boolean;
}

/** Runs `runc run` to completion, forwarding signals and recording the pid once runc wrote it. */
async function superviseRun(layout: BundleLayout, runc: RuncDriver, opts: RunOptions): Promise<Outcome> {
  rmSync(layout.runcLog, { force: true });
  const stdio = opts.stdio ?? "pipe";
  const child = runc.spawnRun(layout.id, layout.dir, { stdio, pidFile: layout.pidFile, logFile: layout.runcLog });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on("data", (b: Buffer) => out.push(b));
  child.stderr?.on("data", (b: Buffer) => err.push(b));
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  // Ctrl-C on a terminal already reaches runc (same foreground process group); forwarding it
  // too would deliver SIGINT twice. Without a terminal, the signal was meant for us alone.
  const onInt = process.stdin.isTTY ? () => undefined : forward("SIGINT");
  const onTerm = forward("SIGTERM");
  if (opts.forwardSignals) {
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
  }
  let started = false;
  // Until runc writes the pid file; then the poll stops (a supervisor waits for days: 40
  // wakeups a second were most of its idle CPU).
  const poll = setInterval(() => {
    if (started || !existsSync(layout.pidFile)) return;
    const pid = Number(readFileSync(layout.pidFile, "utf8").trim());
    if (pid > 0) {
      started = true;
      clearInterval(poll);
      updateState(layout.state, { status: "running", pid, startedAt: new Date().toISOString() });
    }
  }, 25);
  let timedOut = false;
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          void runc.kill(layout.id, "KILL", { all: true }).catch(() => child.kill("SIGKILL"));
        }, opts.timeoutMs);
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (c, s) => resolve([c, s]));
    });
    started ||= existsSync(layout.pidFile);
    const exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
    return { exitCode, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), started, timedOut };
  } finally {
    clearInterval(poll);
    if (timer) clearTimeout(timer);
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  }
}

/** Tears down what a dead supervisor left behind (container, overlay, namespace, slots). */
async function cleanup(layout: BundleLayout, runc: RuncDriver, state: WorkloadState): Promise<void> {
  await runc.delete(state.id, { force: true }).catch(() => undefined);
  await destroyBundle(layout).catch(() => undefined);
  if (state.network) await teardownNetwork(state.id, state.network.slot);
  releaseSlots("net", slotOwnerKey(state.id));
  releaseSlots("idmap", slotOwnerKey(state.id));
}

/** Manifest digests of the images of running or starting workloads (for the image store's gc keep-list). */
export function imagesInUse(): string[] {
  return listStates(workloadsRoot())
    .filter((s) => (s.status === "running" || s.status === "created") && processAlive(s.supervisorPid))
    .map((s) => s.image.slice(s.image.indexOf("@") + 1));
}

/** Finds one workload by `name`, `namespace/name` or id. */
export function findWorkload(ref: string): WorkloadState {
  const states = listStates(workloadsRoot());
  const [ns, nm] = ref.includes("/") ? (ref.split("/", 2) as [string, string]) : [undefined, ref];
  const hits = states.filter((s) => s.id === ref || (s.name === nm && (ns === undefined || s.namespace === ns)));
  if (hits.length === 0) {
    throw new PalisadeError("RUNTIME_NOT_FOUND", `no workload named ${ref}`, { hint: states.length ? `known: ${states.map((s) => s.name).join(", ")}` : "palisade ps lists workloads" });
  }
  if (hits.length > 1) throw new PalisadeError("USAGE", `${ref} is ambiguous: ${hits.map((s) => `${s.namespace}/${s.name}`).join(", ")}`, { hint: "name it as NAMESPACE/NAME" });
  return hits[0]!;
}

async function view(state: WorkloadState, runc: RuncDriver, live?: Map<string, RuncState>): Promise<WorkloadView> {
  const r = live ? live.get(state.id) : await runc.state(state.id).catch(() => undefined);
  let status: string = state.status;
  if ((state.status === "running" || state.status === "created") && !processAlive(state.supervisorPid)) status = r && r.status === "running" ? "running (unsupervised)" : "lost";
  return { state, ...(r ? { runc: r } : {}), status };
}

export async function listWorkloads(runc = new RuncDriver()): Promise<WorkloadView[]> {
  const states = listStates(workloadsRoot());
  const live = new Map<string, RuncState>();
  if (existsSync(runc.root)) for (const r of await runc.list().catch(() => [] as RuncState[])) live.set(r.id, r);
  return Promise.all(states.map((s) => view(s, runc, live)));
}

export async function inspectWorkload(ref: string, runc = new RuncDriver()): Promise<WorkloadView> {
  return view(findWorkload(ref), runc);
}

/**
 * Stops a running workload: SIGTERM, then SIGKILL to every process after
 * `graceMs`. Its supervisor (`palisade run`) sees the exit and cleans up; if
 * the supervisor is gone, stop cleans up itself.
 */
export async function stopWorkload(ref: string, opts: { graceMs?: number; runc?: RuncDriver } = {}): Promise<WorkloadView> {
  requireRoot();
  const runc = opts.runc ?? new RuncDriver();
  const state = findWorkload(ref);
  const layout = bundleLayout(state.id, state.namespace, state.name);
  const running = async () => (await runc.state(state.id).catch(() => undefined))?.status === "running";
  if (await running()) {
    await runc.kill(state.id, "SIGTERM").catch(() => undefined);
    const deadline = Date.now() + (opts.graceMs ?? STOP_GRACE_MS);
    while (Date.now() < deadline && (await running())) await sleep(100);
    if (await running()) await runc.kill(state.id, "KILL", { all: true }).catch(() => undefined);
  }
  // Give the supervisor a moment to record the exit status and clean up.
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline && processAlive(state.supervisorPid) && ["running", "created"].includes(readState(layout.state)?.status ?? "")) await sleep(50);
  const now = readState(layout.state) ?? state;
  if (now.status === "running" || now.status === "created") {
    await cleanup(layout, runc, now);
    updateState(layout.state, { status: "exited", finishedAt: new Date().toISOString() });
  }
  return view(readState(layout.state) ?? now, runc);
}

/** Forgets an exited workload (its state file and config.json); persistent volumes stay. */
export async function removeWorkload(ref: string, runc = new RuncDriver()): Promise<void> {
  const state = findWorkload(ref);
  const v = await view(state, runc);
  if (v.status.startsWith("running")) throw new PalisadeError("RUNTIME", `workload ${ref} is running`, { hint: `palisade stop ${ref} first` });
  const layout = bundleLayout(state.id, state.namespace, state.name);
  await cleanup(layout, runc, state);
  rmSync(layout.dir, { recursive: true, force: true });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

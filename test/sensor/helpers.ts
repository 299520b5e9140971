/**
 * Shared by the sensor tests: builds src/native/sensor (incremental make, at
 * import time like test/native/helpers.ts, because kernelIt() checks for the
 * binaries while tests are collected), makes throwaway cgroups, runs the
 * static test helper, and checks that nothing is left behind.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nativeBuildDir, repoRoot } from "../../src/core/paths.js";
import { cgroup2Mount, cgroupIdOfPath } from "../../src/sensor/cgroup.js";
import { EventPipeline } from "../../src/sensor/eventPipeline.js";
import type { SensorEvent } from "../../src/sensor/events.js";
import { EventStore } from "../../src/sensor/eventStore.js";
import type { SensorProcess } from "../../src/sensor/sensorProcess.js";
import { afterEach } from "vitest";
import type { Requirement } from "../kernelTest.js";

export const BIN = nativeBuildDir();
export const SENSOR_SRC = join(repoRoot(), "src", "native", "sensor");
export const HELPER = join(BIN, "palisade-sensor-testhelper");
/** Names of our BPF programs, to check none outlives the sensor. */
export const OUR_PROGS = ["on_exec", "on_fork", "on_exit", "on_sys_exit"];

let buildError: string | null = null;
if (process.platform === "linux") {
  try {
    execFileSync("make", ["-s", "-C", SENSOR_SRC, `OUT=${BIN}`], { stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    buildError = `make -C src/native/sensor failed: ${err.stderr?.toString().trim().split("\n").slice(-3).join(" | ") ?? err.message}`;
  }
}

export const SENSOR_BUILT: Requirement = {
  feature: "palisade-sensor built (clang, bpftool, libbpf-dev, kernel BTF)",
  check: () => buildError ?? (existsSync(join(BIN, "palisade-sensor")) ? null : "build/native/palisade-sensor is missing"),
};

export const BPF: Requirement = {
  feature: "BPF tp_btf tracepoints with BTF",
  check: () => (existsSync("/sys/kernel/btf/vmlinux") ? null : "no /sys/kernel/btf/vmlinux (kernel without BTF)"),
};

export const CGROUP2: Requirement = {
  feature: "cgroup v2 hierarchy",
  check: () => (cgroup2Mount() ? null : "no cgroup2 filesystem mounted"),
};

export const AUDIT: Requirement = {
  feature: "kernel audit (auditctl)",
  check: () => (spawnSync("auditctl", ["-s"]).status === 0 ? null : "auditctl -s failed (no CONFIG_AUDIT, or auditd package missing)"),
};

export const LANDLOCK_AUDIT: Requirement = {
  feature: "Landlock ABI >= 7 (audit logging flags)",
  check: () => {
    if (!existsSync(HELPER)) return `${HELPER} is missing`;
    const r = spawnSync(HELPER, ["landlock-log-exec", "landlock-net"], { encoding: "utf8" });
    return r.status === 0 ? null : `landlock test restriction failed: ${(r.stdout ?? "").trim().split("\n").pop() ?? ""}`;
  },
};

export interface TestCgroup {
  readonly path: string;
  readonly id: string;
  remove(): void;
}

/**
 * What a test must undo, undone after it whatever it did, last first (a
 * sensor stops before the cgroup it watched is removed). Call once at a test
 * file's top level: it registers the afterEach and returns `defer`.
 */
export function cleanupAfterEach(): (undo: () => unknown) => void {
  const undos: (() => unknown)[] = [];
  afterEach(async () => {
    for (const undo of undos.splice(0).reverse()) await undo();
  });
  return (undo) => void undos.push(undo);
}

let cgSeq = 0;
/** A child cgroup of the v2 root, removed (after its processes are gone) by remove() — or after the test, given `defer` (cleanupAfterEach). */
export function makeCgroup(tag: string, defer?: (undo: () => unknown) => void): TestCgroup {
  const mount = cgroup2Mount();
  if (!mount) throw new Error("no cgroup2 mount");
  const path = join(mount, `palisade-sensor-test-${process.pid}-${tag}-${cgSeq++}`);
  mkdirSync(path);
  const cg: TestCgroup = {
    path,
    id: cgroupIdOfPath(path),
    remove() {
      if (!existsSync(path)) return;
      for (const pid of readFileSync(join(path, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // already gone
        }
      }
      for (let i = 0; i < 100; i++) {
        try {
          rmdirSync(path);
          return;
        } catch {
          spawnSync("sleep", ["0.02"]); // the killed processes are still exiting
        }
      }
      rmdirSync(path);
    },
  };
  defer?.(() => cg.remove());
  return cg;
}

export interface HelperRun {
  readonly pid: number;
  readonly code: number | null;
  readonly steps: readonly { step: string; arg?: string; result?: number; pid?: number }[];
  readonly stderr: string;
}

/** Runs the static test helper (see src/native/sensor/testhelper.c) to completion. */
export function runHelper(args: readonly string[]): Promise<HelperRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(HELPER, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const steps = out
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as HelperRun["steps"][number]);
      resolve({ pid: child.pid ?? -1, code, steps, stderr: err });
    });
  });
}

/** Records every event the sensor emits. */
export function collect(sensor: SensorProcess): SensorEvent[] {
  const events: SensorEvent[] = [];
  sensor.on("event", (ev: SensorEvent) => events.push(ev));
  return events;
}

/** Resolves with the first recorded event matching `pred`, polling until the timeout. */
export async function waitFor<E extends SensorEvent>(events: readonly SensorEvent[], pred: (e: SensorEvent) => e is E, timeoutMs?: number): Promise<E>;
export async function waitFor(events: readonly SensorEvent[], pred: (e: SensorEvent) => boolean, timeoutMs?: number): Promise<SensorEvent>;
export async function waitFor(events: readonly SensorEvent[], pred: (e: SensorEvent) => boolean, timeoutMs = 5000): Promise<SensorEvent> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const hit = events.find(pred);
    if (hit) return hit;
    if (Date.now() > end) throw new Error(`no matching event within ${timeoutMs} ms (${events.length} events seen)`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `auditctl -s` "enabled" value. */
export function auditEnabled(): number {
  const m = /^enabled (\d+)/m.exec(execFileSync("auditctl", ["-s"], { encoding: "utf8" }));
  return Number(m?.[1] ?? -1);
}

export { progIdsOfPid } from "../../bench/lib/procStats.js";

/** Ids of all loaded BPF programs (bpftool). */
export function loadedProgIds(): number[] {
  const r = spawnSync("bpftool", ["prog", "show", "-j"], { encoding: "utf8" });
  if (r.status !== 0) return [];
  return (JSON.parse(r.stdout) as { id?: number }[]).map((p) => p.id ?? -1);
}

/** Names of loaded BPF programs (bpftool). */
export function loadedProgNames(): string[] {
  const r = spawnSync("bpftool", ["prog", "show", "-j"], { encoding: "utf8" });
  if (r.status !== 0) return [];
  return (JSON.parse(r.stdout) as { name?: string }[]).map((p) => p.name ?? "");
}

/** A temp dir that uid 65534 can traverse. */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `palisade-${prefix}-`));
  chmodSync(d, 0o755);
  return d;
}

/** A BPF-only EventPipeline storing into a throwaway events.db, and a throwaway cgroup; all undone by `defer`. */
export async function pipelineFixture(tag: string, defer: (undo: () => unknown) => void): Promise<{ cg: TestCgroup; store: EventStore; pipeline: EventPipeline }> {
  const dir = tempDir(tag);
  defer(() => rmSync(dir, { recursive: true, force: true }));
  const cg = makeCgroup(tag, defer);
  const store = EventStore.open(join(dir, "events.db"));
  defer(() => store.close());
  const pipeline = await EventPipeline.start({ store, sensor: { binDir: BIN, bpf: "required", audit: false } });
  defer(() => pipeline.close());
  return { cg, store, pipeline };
}

/** A file only root may read (mode 0600). */
export function secretFile(dir: string): string {
  const p = join(dir, "secret");
  writeFileSync(p, "s3cret\n", { mode: 0o600 });
  return p;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The two things every benchmark compares, behind one interface:
 *
 * - confined: Palisade's runWorkload with everything on (user namespace,
 *   read-only root, no capabilities, seccomp, the Landlock launcher) and a
 *   realistic allow-list policy (REALISTIC_POLICY below);
 * - bare: the same image and rootfs under runc with a minimal config.json
 *   (test/conformance/harness/bareRunc.ts): no seccomp, no launcher, no
 *   Palisade rules.
 *
 * Both run a command to completion (run) or keep a server up (serve) so
 * the caller can enter its network namespace.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PalisadeError } from "../../src/core/errors.js";
import type { HostFeatures } from "../../src/native/hostFeatures.js";
import { probeHost } from "../../src/native/probe.js";
import { parseDocuments } from "../../src/policy/index.js";
import { statePath, workloadId } from "../../src/runtime/bundle.js";
import { ImageStore } from "../../src/runtime/imageStore.js";
import { runWorkload, stopWorkload, type CreatedWorkload, type RunResult } from "../../src/runtime/workloads.js";
import { createBareBundle, destroyBareBundle, runBare, startBare, stopBare } from "../../test/conformance/harness/bareRunc.js";
import { buildConformanceImage, type ConformanceImage } from "../../test/conformance/harness/image.js";

export interface BenchContext {
  readonly store: ImageStore;
  readonly image: ConformanceImage;
  readonly features: HostFeatures;
}

/**
 * Runs `fn` with a BenchContext in a private data directory (its own image
 * store and runc state; PALISADE_DATA_DIR points there meanwhile), removed
 * afterwards, the variable restored.
 */
export async function withBenchContext<T>(fn: (ctx: BenchContext, dataDir: string) => Promise<T>): Promise<T> {
  if (process.getuid?.() !== 0) throw new Error("the benchmark runs containers: run it as root");
  const previous = process.env.PALISADE_DATA_DIR;
  const dataDir = mkdtempSync(join(tmpdir(), "palisade-bench-"));
  process.env.PALISADE_DATA_DIR = dataDir;
  try {
    const store = ImageStore.open();
    return await fn({ store, image: await buildConformanceImage(store), features: await probeHost() }, dataDir);
  } finally {
    if (previous === undefined) delete process.env.PALISADE_DATA_DIR;
    else process.env.PALISADE_DATA_DIR = previous;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export type TargetName = "confined" | "bare";

export interface Server {
  /** The container's first process on the host (for /proc/PID/ns/net). */
  readonly pid: number;
  stop(): Promise<void>;
}

export interface Target {
  readonly name: TargetName;
  /**
   * Runs argv in a fresh container; resolves with its stdout once it exited 0.
   * onPrepared is called when the bundle is ready and runc is about to be started.
   */
  run(argv: readonly string[], onPrepared?: () => void): Promise<string>;
  serve(argv: readonly string[]): Promise<Server>;
}

/** The port the server benchmark listens on (granted by network-bind in the confined run). */
export const HTTP_PORT = 8080;

/**
 * What a small web/status service on a device would get: exec of its
 * programs only, read-only access to its content and configuration (but not
 * the credentials file), TCP only, no chmod; default posture block.
 */
export const REALISTIC_POLICY = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: bench-allow}
spec:
  selector: {matchLabels: {app: bench}}
  process:
    matchPaths:
    - path: /bin/busybox
    - path: /usr/bin/openbench
    - path: /usr/bin/stamp
    action: Allow
  file:
    matchDirectories:
    - {dir: /srv/www/, recursive: true, readOnly: true}
    - {dir: /etc/, recursive: true, readOnly: true}
    action: Allow
  network:
    matchProtocols:
    - protocol: tcp
    action: Allow
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: bench-block}
spec:
  selector: {matchLabels: {app: bench}}
  file:
    matchPaths:
    - path: /etc/passwd
  syscalls:
    matchSyscalls:
    - syscall: [chmod, fchmod, fchmodat]
  action: Block
`;

function documents(name: string, image: string, argv: readonly string[]): string {
  return `apiVersion: palisade.dev/v1
kind: Workload
metadata: {name: ${name}, labels: {app: bench}}
spec:
  containers:
  - name: main
    image: ${image}
    command: ${JSON.stringify(argv)}
  interfaces:
  - {name: network-bind, ports: [${HTTP_PORT}]}
---
${REALISTIC_POLICY}`;
}

/** The benchmark's Workload (named `name`, running argv) with REALISTIC_POLICY, parsed. */
export function benchWorkload(name: string, image: string, argv: readonly string[]) {
  const r = parseDocuments(documents(name, image, argv), `${name}.yaml`);
  if (r.errors.length) throw new Error(`bench workload does not parse: ${r.errors.map((e) => e.message).join("; ")}`);
  return { workload: r.workloads[0]!, policies: [...r.policies] };
}

function checkExit(what: string, code: number, stdout: string, stderr: string): string {
  if (code !== 0) throw new Error(`${what} exited ${code}: ${stderr.trim() || stdout.trim() || "no output"}`);
  return stdout;
}

/** `onCreated`: called for each workload before it starts (the sensor benchmark watches its cgroup there). */
export function confinedTarget(ctx: BenchContext, onCreated?: (c: CreatedWorkload) => Promise<void>): Target {
  const opts = { features: ctx.features, store: ctx.store, stdio: "pipe" as const, ...(onCreated ? { onCreated } : {}) };
  // Parsed once per command, as the agent holds a deployed manifest parsed and restarts from it:
  // YAML parsing (≈ 4 ms) is deploy time, not container start time.
  const parsed = new Map<string, ReturnType<typeof benchWorkload>>();
  const workloadFor = (argv: readonly string[]) => {
    const key = JSON.stringify(argv);
    if (!parsed.has(key)) parsed.set(key, benchWorkload("bench-run", ctx.image.ref, argv));
    return parsed.get(key)!;
  };
  return {
    name: "confined",
    async run(argv, onPrepared) {
      const r = await runWorkload({ ...workloadFor(argv), ...opts, timeoutMs: 600_000, ...(onPrepared ? { onConfined: () => onPrepared() } : {}) });
      return checkExit(`confined ${argv.join(" ")}`, r.exitCode, r.stdout, r.stderr);
    },
    async serve(argv) {
      const name = "bench-serve";
      const id = workloadId("default", name);
      let done: RunResult | Error | undefined;
      const running = runWorkload({ ...benchWorkload(name, ctx.image.ref, argv), ...opts }).then(
        (r) => (done = r),
        (e: Error) => (done = e),
      );
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (done instanceof Error) throw done;
        if (done) throw new Error(`confined server exited at once (${done.exitCode}): ${done.stderr.trim()}`);
        const pid = readPid(statePath(id));
        if (pid) {
          return {
            pid,
            stop: async () => {
              await stopWorkload(name, { graceMs: 2_000 }).catch((e: unknown) => {
                if (!(e instanceof PalisadeError && e.code === "RUNTIME_NOT_FOUND")) throw e;
              });
              await running;
            },
          };
        }
        if (Date.now() > deadline) throw new Error("confined server did not start within 30 s");
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

function readPid(file: string): number | undefined {
  try {
    const s = JSON.parse(readFileSync(file, "utf8")) as { status?: string; pid?: number };
    return s.status === "running" && s.pid ? s.pid : undefined;
  } catch {
    return undefined;
  }
}

export function bareTarget(ctx: BenchContext): Target {
  return {
    name: "bare",
    async run(argv, onPrepared) {
      const b = await createBareBundle({ id: "bench-bare-run", imageRootfs: ctx.image.rootfs, args: argv });
      onPrepared?.();
      try {
        const r = await runBare(b, 600_000);
        return checkExit(`bare ${argv.join(" ")}`, r.exitCode, r.stdout, r.stderr);
      } finally {
        await destroyBareBundle(b);
      }
    },
    async serve(argv) {
      const b = await createBareBundle({ id: "bench-bare-serve", imageRootfs: ctx.image.rootfs, args: argv });
      try {
        const { pid, child } = await startBare(b);
        return {
          pid,
          stop: async () => {
            await stopBare(b, child);
            await destroyBareBundle(b);
          },
        };
      } catch (e) {
        await destroyBareBundle(b);
        throw e;
      }
    },
  };
}

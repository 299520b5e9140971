import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRunInputs } from "../../src/cli/runCommand.js";
import { writeState, type WorkloadState } from "../../src/runtime/workloadState.js";
import { kernelIt, unmet } from "../kernelTest.js";
import { workloadProgram } from "./cliHarness.js";
import { CONTAINERS, setupRuntime, teardownRuntime, type RuntimeFixture } from "./runtimeFixture.js";
import { captureOutput } from "../runCli.js";

const previous = process.env.PALISADE_DATA_DIR;
const files = mkdtempSync(join(tmpdir(), "palisade-cli-"));
let f: RuntimeFixture | undefined;
beforeAll(async () => {
  if (unmet(CONTAINERS) === null) f = await setupRuntime();
  else process.env.PALISADE_DATA_DIR = join(files, "data");
}, 120_000);
afterAll(() => {
  teardownRuntime(f, previous);
  rmSync(files, { recursive: true, force: true });
});

const cli = (args: string[]) => captureOutput(() => workloadProgram().parseAsync(args, { from: "user" }));

/** The harness in its own node process (not through the tsx binary, which would answer SIGINT itself). */
function spawnHarness(args: string[], opts: { env: NodeJS.ProcessEnv; stdio: ["ignore", "pipe", "pipe"] }) {
  return spawn(process.execPath, ["--import", "tsx", join(process.cwd(), "test/runtime/cliHarness.ts"), ...args], opts);
}

function manifest(name: string, image: string, script: string, extra = ""): string {
  const file = join(files, `${name}.yaml`);
  writeFileSync(
    file,
    `apiVersion: palisade.dev/v1\nkind: Workload\nmetadata:\n  name: ${name}\n  labels: {app: ${name}}\nspec:\n  containers:\n  - name: main\n    image: ${image}\n    command: [/bin/sh, -c, ${JSON.stringify(script)}]\n${extra}`,
  );
  return file;
}

describe("workload verbs", () => {
  it("run reads the manifest's workload and policies plus --policy files, and refuses ambiguity", async () => {
    const m = manifest("two", `busybox@sha256:${"b".repeat(64)}`, "true", `---\napiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: p}\nspec:\n  selector: {matchLabels: {app: two}}\n  file:\n    matchPaths:\n    - path: /etc/shadow\n  action: Block\n`);
    const extra = join(files, "extra.yaml");
    writeFileSync(extra, "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: q}\nspec:\n  process:\n    matchPaths:\n    - path: /bin/nc\n  action: Block\n");
    const r = await loadRunInputs(m, [extra]);
    expect(r.workload.name).toBe("two");
    expect(r.policies.map((p) => p.name)).toEqual(["p", "q"]);
    await expect(loadRunInputs(m, [m])).rejects.toMatchObject({ code: "USAGE", message: expect.stringMatching(/holds a Workload/) });
    await expect(loadRunInputs(extra, [])).rejects.toMatchObject({ code: "USAGE", message: expect.stringMatching(/has no Workload/) });
  });

  it("ps --json and inspect read state files; an unknown name is RUNTIME_NOT_FOUND", async () => {
    const dir = join(process.env.PALISADE_DATA_DIR!, "workloads", "default.fake");
    mkdirSync(dir, { recursive: true });
    writeState(join(dir, "state.json"), {
      version: 1,
      id: "default.fake",
      name: "fake",
      namespace: "default",
      container: "main",
      image: `busybox@sha256:${"c".repeat(64)}`,
      status: "exited",
      exitCode: 0,
      createdAt: "2026-01-01T00:00:00.000Z",
      bundle: dir,
      confinement: { backends: [] } as unknown as WorkloadState["confinement"],
    });
    const ps = await cli(["ps", "--json"]);
    expect(JSON.parse(ps.out)).toContainEqual(expect.objectContaining({ name: "fake", status: "exited", exitCode: 0 }));
    const table = await cli(["ps"]);
    expect(table.out).toMatch(/^NAME +NAMESPACE +STATUS +PID +IMAGE +CREATED$/m);
    expect(table.out).toMatch(/^fake +default +exited \(0\) +- +busybox@cccccccccccc +2026-01-01T00:00:00Z$/m);
    const missing = await cli(["inspect", "nosuch"]);
    expect(missing.error).toMatchObject({ code: "RUNTIME_NOT_FOUND" });
  });

  kernelIt("palisade run streams the workload, prints one confinement line, forwards SIGINT and exits with the workload's status", CONTAINERS, async () => {
    const m = manifest("sig", f!.image, 'trap "echo got-int; exit 9" INT; echo ready; while true; do sleep 0.1; done');
    const child = spawnHarness(["run", m], { env: { ...process.env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("ready")) child.kill("SIGINT");
    });
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    expect(out).toBe("ready\ngot-int\n");
    expect(err).toMatch(/^palisade: confinement: ns pid,ipc,uts,mount,cgroup,network,user; caps none; seccomp SCMP_ACT_ERRNO\(EPERM\)/m);
    expect(code).toBe(9);
  });

  kernelIt("palisade run exits 4 and starts nothing when a rule cannot be enforced", CONTAINERS, async () => {
    const m = manifest("bad", f!.image, "true", `---\napiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: pat}\nspec:\n  selector: {matchLabels: {app: bad}}\n  file:\n    matchPatterns:\n    - pattern: /etc/*\n  action: Block\n`);
    const child = spawnHarness(["run", m], { env: { ...process.env }, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    expect(code).toBe(4);
    expect(err).toMatch(/error COMPILE_UNSUPPORTED at spec\.file\.matchPatterns\[0\]: Block file pattern \/etc\/\* \(.*bad\.yaml:\d+:\d+\) cannot be enforced on this host/);
    expect(err).toMatch(/hint: set action: Audit to run with this rule audited only/);
    expect(err).not.toMatch(/palisade: confinement:/);
  });
});

/**
 * The README's main job, end to end: `bash scripts/start.sh --check` starts
 * a hub and an agent as real processes, signs, pushes and deploys the sample
 * gateway, which runs confined and tries to read its credentials file (the
 * policy blocks it); the script exits 0 once the alert for that refusal has
 * reached the hub, after stopping everything. This test then checks, in the
 * demo directory the script left behind, that
 *
 * - the hub stored a kernel alert for the blocked read: policy
 *   gateway-protect-credentials, Action Block, Enforcer Landlock, from the
 *   enrolled node, and the node reported the gateway running;
 * - the workload's own output shows the read refused (Permission denied),
 *   never "NOT BLOCKED";
 * - the workload ran confined: user namespace, no capabilities, read-only
 *   root, seccomp and Landlock in its recorded confinement;
 * - nothing of the demo is left running.
 *
 * setup.sh is skipped (START_SKIP_SETUP=1) because the test command ran it
 * already; when dist/ is older than src/ the TypeScript build runs first, so
 * the CLI the script drives is the code under test.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect } from "vitest";
import { CONTAINERS } from "../runtime/runtimeFixture.js";
import { kernelIt } from "../kernelTest.js";
import { REPO } from "./fleetHarness.js";

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith(".ts")) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds dist/ when it is older than src/ (asynchronously: a blocked test worker loses its RPC). */
async function ensureBuilt(): Promise<void> {
  let built = 0;
  try {
    built = statSync(join(REPO, "dist/cli/main.js")).mtimeMs;
  } catch {
    built = 0;
  }
  if (built >= newestMtime(join(REPO, "src"))) return;
  const r = await run("npx", ["tsc", "-p", "tsconfig.build.json"], {});
  if (r.status !== 0) throw new Error(`TypeScript build failed:\n${r.stdout}${r.stderr}`);
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 170_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(cmd, args, { cwd: REPO, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    // SIGINT is the script's Ctrl-C: it still stops everything it started.
    const timer = setTimeout(() => child.kill("SIGINT"), timeoutMs);
    child.on("close", (status) => {
      clearTimeout(timer);
      res({ status, stdout, stderr });
    });
  });
}

/** Pids of live processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, "utf8").includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe("the main job (scripts/start.sh)", () => {
  let dir = "";
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  kernelIt(
    "hub + agent + the sample workload confined by its policy; a blocked read reaches the hub as an alert",
    CONTAINERS,
    async () => {
      await ensureBuilt();
      dir = mkdtempSync(join(tmpdir(), "palisade-mainjob-"));
      const r = await run("bash", ["scripts/start.sh", "--check"], { PALISADE_DATA_DIR: dir, START_SKIP_SETUP: "1", START_HUB_PORT: "0", START_CHECK_TIMEOUT: "60" });
      const out = `${r.stdout}${r.stderr}`;
      expect(r.status, out.slice(-4000)).toBe(0);
      expect(out).toMatch(/check passed: a blocked-action alert reached the hub/);
      const nodeId = /node=(node_[A-Za-z0-9_-]+)/.exec(readFileSync(join(dir, "logs/agent.log"), "utf8"))?.[1];
      expect(nodeId).toBeDefined();

      // At the hub: the kernel's alert for the blocked read, and the gateway reported running.
      const db = new Database(join(dir, "hub.sqlite"), { readonly: true });
      try {
        const alerts = (db.prepare("SELECT node_id, data FROM alerts").all() as { node_id: string; data: string }[]).map((a): Record<string, unknown> => ({ node: a.node_id, ...(JSON.parse(a.data) as Record<string, unknown>) }));
        const blocked = alerts.filter((a) => a.PolicyName === "gateway-protect-credentials");
        expect(blocked.length, JSON.stringify(alerts).slice(0, 2000)).toBeGreaterThanOrEqual(1);
        expect(blocked[0]).toMatchObject({
          node: nodeId,
          NodeID: nodeId,
          Type: "MatchedPolicy",
          PodName: "gateway",
          Operation: "File",
          Resource: "/etc/gateway/credentials",
          Action: "Block",
          Enforcer: "Landlock",
          Result: "Permission denied",
          Severity: "8",
        });
        const reports = (db.prepare("SELECT data FROM status_reports WHERE node_id = ?").all(nodeId) as { data: string }[]).map((s) => JSON.parse(s.data) as { workloads: { name: string; state: string }[] });
        expect(reports.some((s) => s.workloads.some((w) => w.name === "gateway" && w.state === "running"))).toBe(true);
      } finally {
        db.close();
      }

      // The workload's own view: its read was refused. The sensor watched it from its start (announced by its supervisor), once.
      const gatewayLog = readFileSync(join(dir, "agent/instances/gateway.log"), "utf8");
      expect(gatewayLog).not.toMatch(/sensor not watching/);
      expect(readFileSync(join(dir, "logs/agent.log"), "utf8").match(/sensor: watching gateway/g)).toHaveLength(1);
      expect(gatewayLog).toMatch(/read \/etc\/gateway\/credentials: cat: can't open '\/etc\/gateway\/credentials': Permission denied/);
      expect(gatewayLog).not.toMatch(/NOT BLOCKED/);

      // It ran confined, as recorded when it started.
      const state = JSON.parse(readFileSync(join(dir, "workloads/default.gateway/state.json"), "utf8")) as {
        manifest: string;
        confinement: { userNamespace: { enabled: boolean }; capabilities: string[]; rootReadOnly: boolean; noNewPrivileges: boolean; landlock: unknown; seccomp: unknown; policies: string[] };
      };
      expect(state.manifest).toMatch(/^bundle:sha256:[0-9a-f]{64}$/);
      expect(state.confinement).toMatchObject({ userNamespace: { enabled: true }, capabilities: [], rootReadOnly: true, noNewPrivileges: true });
      expect(state.confinement.landlock).not.toBeNull();
      expect(state.confinement.seccomp).toBeTruthy();
      expect([...state.confinement.policies].sort()).toEqual(["default/gateway-least-privilege", "default/gateway-protect-credentials"]);

      // Ctrl-C (here: the check's end) stopped the hub, the agent and the workload.
      expect(processesMentioning(dir)).toEqual([]);
    },
    240_000,
  );
});

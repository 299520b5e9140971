/**
 * `palisade logs` and the sensor in `palisade run`: the verbs in-process
 * (run, then logs in every output mode) on real workloads, `logs --follow`
 * as its own process picking up a record written after it started, and the
 * input checks, which need no kernel.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatRecord, parseSince, registerLogsCommand } from "../../src/cli/logsCommand.js";
import { registerRunCommand } from "../../src/cli/runCommand.js";
import { EventStore, eventStorePath } from "../../src/sensor/eventStore.js";
import { kernelIt, unmet } from "../kernelTest.js";
import { CONTAINERS, setupRuntime, teardownRuntime, type RuntimeFixture } from "../runtime/runtimeFixture.js";
import { AUDIT, BPF, CGROUP2, LANDLOCK_AUDIT, SENSOR_BUILT } from "./helpers.js";
import { captureOutput } from "../runCli.js";

const NEEDS = [...CONTAINERS, SENSOR_BUILT, BPF, CGROUP2, AUDIT, LANDLOCK_AUDIT];
const previous = process.env.PALISADE_DATA_DIR;
const files = mkdtempSync(join(tmpdir(), "palisade-logs-"));
let f: RuntimeFixture | undefined;
beforeAll(async () => {
  if (unmet(NEEDS) === null) f = await setupRuntime();
  else process.env.PALISADE_DATA_DIR = join(files, "data");
}, 120_000);
afterAll(() => {
  teardownRuntime(f, previous);
  rmSync(files, { recursive: true, force: true });
});

function program(): Command {
  const p = new Command("palisade").exitOverride();
  registerRunCommand(p);
  registerLogsCommand(p);
  return p;
}

const cli = (args: string[]) => captureOutput(() => program().parseAsync(args, { from: "user" }));

function manifest(name: string, script: string): string {
  const file = join(files, `${name}.yaml`);
  writeFileSync(
    file,
    `apiVersion: palisade.dev/v1\nkind: Workload\nmetadata:\n  name: ${name}\n  labels: {app: ${name}, tier: edge}\nspec:\n  containers:\n  - name: main\n    image: ${f!.image}\n    command: [/bin/sh, -c, ${JSON.stringify(script)}]\n` +
      `---\napiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: ${name}-secrets}\nspec:\n  selector: {matchLabels: {app: ${name}}}\n  severity: 5\n  file:\n    matchPaths:\n    - path: /etc/passwd\n  action: Block\n`,
  );
  return file;
}

describe("palisade logs (input)", () => {
  it("parses --since as a duration or an RFC 3339 time, and refuses anything else", () => {
    const now = Date.parse("2026-01-02T00:00:00Z");
    expect(parseSince("10m", now).toISOString()).toBe("2026-01-01T23:50:00.000Z");
    expect(parseSince("2h", now).toISOString()).toBe("2026-01-01T22:00:00.000Z");
    expect(parseSince("1d", now).toISOString()).toBe("2026-01-01T00:00:00.000Z");
    expect(parseSince("2026-01-01T12:00:00+02:00").toISOString()).toBe("2026-01-01T10:00:00.000Z");
    for (const bad of ["10", "yesterday", "2026-01-01", "5w"]) expect(() => parseSince(bad)).toThrow(/neither a duration nor an RFC 3339/);
  });

  it("formats one line per record: time, workload, action/result, operation, resource, policy, count", () => {
    const rec = { UpdatedTime: "2026-01-01T00:00:00.000001Z", Operation: "File", Resource: "/etc/passwd", Result: "Permission denied", Action: "Block", PolicyName: "p", Count: 3 };
    expect(formatRecord({ seq: 1, kind: "alert", workload: "w", record: rec as never })).toBe("2026-01-01T00:00:00.000001Z  w  Block/Permission denied  File  /etc/passwd  p  ×3");
    expect(formatRecord({ seq: 2, kind: "log", workload: "w", record: { ...rec, Result: "Passed", Count: undefined } as never })).toBe("2026-01-01T00:00:00.000001Z  w  Log/Passed  File  /etc/passwd");
    expect(formatRecord({ seq: 4, kind: "log", workload: "w", record: { ...rec, Result: "Passed", Count: 20, OtherPIDs: 19 } as never })).toBe("2026-01-01T00:00:00.000001Z  w  Log/Passed  File  /etc/passwd  ×20 (19 by other processes of the program)");
    // A workload chooses its paths: no forged second line, no terminal escape sequences.
    const evil = formatRecord({ seq: 3, kind: "log", workload: "w", record: { ...rec, Resource: "/tmp/a\n2026-01-01T00:00:00Z  w  Log/Passed  File  /fake\u001b[2J" } as never });
    expect(evil.includes("\n") || evil.includes("\u001b")).toBe(false);
    expect(evil).toContain("/tmp/a\\x0a2026");
    expect(evil).toContain("/fake\\x1b[2J");
  });

  it("refuses a bad --type and reports a missing store with a hint", async () => {
    const bad = await cli(["logs", "--type", "warning"]);
    expect(bad.error).toMatchObject({ code: "USAGE" });
    const prev = process.env.PALISADE_DATA_DIR;
    process.env.PALISADE_DATA_DIR = join(files, "empty");
    try {
      const missing = await cli(["logs"]);
      expect(missing.error).toMatchObject({ code: "IO", message: expect.stringMatching(/no event store/), hint: expect.stringMatching(/palisade run/) });
    } finally {
      process.env.PALISADE_DATA_DIR = prev;
    }
  });
});

describe("palisade run + palisade logs (real workloads)", () => {
  kernelIt(
    "run records into <dataDir>/events.db; logs prints them as lines or KubeArmor JSON, filtered",
    NEEDS,
    async () => {
      const run = await cli(["run", manifest("clidemo", "/bin/cat /etc/hostname; /bin/cat /etc/passwd; exit 0")]);
      expect(run.error).toBeUndefined();
      expect(run.err).toContain(`events → ${eventStorePath()}`);
      const json = await cli(["logs", "--json", "--workload", "clidemo", "--type", "alert"]);
      const alerts = json.out.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(alerts).toEqual([
        expect.objectContaining({ Operation: "File", Resource: "/etc/passwd", Action: "Block", Result: "Permission denied", PolicyName: "clidemo-secrets", Severity: "5", Enforcer: "Landlock", ProcessName: "/bin/cat", ContainerName: "clidemo", Labels: "app=clidemo,tier=edge" }),
      ]);
      const human = await cli(["logs", "--workload", "clidemo"]);
      const lines = human.out.trim().split("\n");
      expect(lines.some((l) => / {2}clidemo {2}Block\/Permission denied {2}File {2}\/etc\/passwd {2}clidemo-secrets$/.test(l))).toBe(true);
      expect(lines.some((l) => / {2}clidemo {2}Log\/Passed {2}File {2}\/etc\/hostname$/.test(l))).toBe(true);
      const logsOnly = await cli(["logs", "--json", "--type", "log", "--workload", "clidemo"]);
      expect(logsOnly.out.trim().split("\n").every((l) => !("Action" in (JSON.parse(l) as object)))).toBe(true);
      expect((await cli(["logs", "--since", "2099-01-01T00:00:00Z"])).out).toBe("");
      expect((await cli(["logs", "--since", "1h", "--workload", "clidemo"])).out).toBe(human.out);

      const off = await cli(["run", "--no-sensor", "--name", "quiet", manifest("clidemo2", "/bin/cat /etc/passwd; exit 0")]);
      expect(off.err).toContain("sensor off (--no-sensor)");
      expect((await cli(["logs", "--workload", "quiet"])).out).toBe("");
    },
    180_000,
  );

  kernelIt(
    "logs --follow prints records stored after it started, and exits 0 on SIGINT",
    NEEDS,
    async () => {
      // Make sure the store exists before the follower opens it.
      EventStore.open(eventStorePath()).close();
      const child = spawn(process.execPath, ["--import", "tsx", join(process.cwd(), "src/cli/main.ts"), "logs", "--follow", "--json", "--workload", "later", "--interval", "200"], {
        env: process.env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      const run = await cli(["run", "--name", "later", manifest("follow", "/bin/cat /etc/passwd; exit 0")]);
      expect(run.error).toBeUndefined();
      const deadline = Date.now() + 20_000;
      while (!out.includes('"Resource":"/etc/passwd"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      child.kill("SIGINT");
      expect(await exited).toBe(0);
      const recs = out.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(recs).toContainEqual(expect.objectContaining({ ContainerName: "later", Resource: "/etc/passwd", Action: "Block" }));
    },
    180_000,
  );
});

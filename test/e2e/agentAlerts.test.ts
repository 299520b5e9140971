/**
 * Kernel alerts from a device to the hub, with real processes: a `palisade
 * hub` (SQLite), a `palisade agent` with its sensor, and a deployed busybox
 * workload that keeps trying to read /etc/passwd, which its policy blocks
 * (Landlock refuses it). The alerts reach the hub; after the agent is
 * killed with SIGKILL and started again it adopts the running workload,
 * watches it again, and its alerts keep arriving. Every alert at the hub is
 * one record of the device's events.db (nothing invented, nothing twice),
 * and every alert events.db holds reaches the hub.
 *
 * Needs root, runc, busybox-static and the native launcher and sensor.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect } from "vitest";
import { kernelAlertId } from "../../src/agent/agentSensor.js";
import { EventStore } from "../../src/sensor/eventStore.js";
import { ImageStore } from "../../src/runtime/imageStore.js";
import { buildBusyboxImage } from "../fixtures/images.js";
import { kernelIt } from "../kernelTest.js";
import { CONTAINERS } from "../runtime/runtimeFixture.js";
import { AgentProcess, cli, cliJson, HubProcess, runningPid, stopAllWorkloads, waitFor } from "./fleetHarness.js";

const LONG = 180_000;

describe("kernel alerts from the agent's sensor", () => {
  let work = "";
  let device = "";
  let hub: HubProcess | undefined;
  const agents: AgentProcess[] = [];
  const previousConfig = process.env.PALISADE_CONFIG_DIR;

  afterAll(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    if (device) await stopAllWorkloads(device).catch(() => undefined);
    await hub?.stop().catch(() => undefined);
    if (previousConfig === undefined) delete process.env.PALISADE_CONFIG_DIR;
    else process.env.PALISADE_CONFIG_DIR = previousConfig;
    if (work) rmSync(work, { recursive: true, force: true });
  }, LONG);

  kernelIt(
    "blocked reads reach the hub as alerts, also across an agent killed -9 and restarted; each stored alert arrives once",
    CONTAINERS,
    async () => {
      work = mkdtempSync(join(tmpdir(), "palisade-alerts-e2e-"));
      chmodSync(work, 0o755);
      device = join(work, "device");
      process.env.PALISADE_CONFIG_DIR = join(work, "config");
      hub = await HubProcess.start(`sqlite:${join(work, "hub.sqlite")}`, join(work, "hub.log"));
      const image = `busybox@${(await buildBusyboxImage(ImageStore.open(join(device, "images")), "busybox:test")).digest}`;
      expect((await cli(["login", "--hub", hub.url, "--token", hub.bootstrapToken!, "--context", "alerts"])).code).toBe(0);
      await cliJson(["publisher", "create", "acme"]);
      const key = join(work, "acme.key");
      await cliJson(["publisher", "key", "create", "acme", "--out", key]);
      const token = (await cliJson<{ token: string }>(["enrollment-token", "create", "--uses", "1", "--labels", "site=lab"])).token;

      const manifest = join(work, "reader.yaml");
      writeFileSync(
        manifest,
        `apiVersion: palisade.dev/v1\nkind: Workload\nmetadata:\n  name: reader\n  labels: {app: reader}\nspec:\n  containers:\n  - name: main\n    image: ${image}\n` +
          `    command: [/bin/sh, -c, "trap 'exit 0' TERM; while true; do cat /etc/passwd > /dev/null 2>&1; sleep 1; done"]\n` +
          `---\napiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: reader-no-passwd}\nspec:\n  selector: {matchLabels: {app: reader}}\n  severity: 7\n  file:\n    matchPaths:\n    - path: /etc/passwd\n  action: Block\n`,
      );
      const args = ["--poll", "1s", "--stop-grace", "3s", "--log-format", "json"];
      const start = (first: boolean) => {
        const a = new AgentProcess(device, first ? [...args, "--hub", hub!.url, "--token", token] : args, join(work, "agent.log"));
        agents.push(a);
        return a;
      };
      let agent = start(true);
      const context = () => `--- agent ---\n${agent.tail(25)}`;
      const nodeId = String((await waitFor("agent ready", () => agent.events().find((e) => e.msg === "agent ready"), { context })).node);
      expect(agent.events().some((e) => e.msg.startsWith("sensor on"))).toBe(true);

      const bundle = join(work, "reader-1.json");
      await cliJson(["workload", "sign", manifest, "--key", key, "--version", "1", "-o", bundle]);
      const digest = (await cliJson<{ digest: string }>(["workload", "push", bundle])).digest;
      await cliJson(["deploy", "reader", "--bundle", digest, "--selector", "site=lab"]);
      const pid = await waitFor("reader running", () => runningPid(device, "reader"), { context });

      const kernelAlertsAtHub = async () =>
        (await cliJson<{ id: string; nodeId: string; alert: Record<string, unknown> }[]>(["alerts", "--kernel", "--last", "0"])).filter((a) => a.alert.PolicyName === "reader-no-passwd");
      // Refused reads (the container runtime's own read of /etc/passwd before the entrypoint, which the sensor also sees, passes).
      const refusedAtHub = async () => (await kernelAlertsAtHub()).filter((a) => a.alert.Result === "Permission denied");
      const first = await waitFor("two blocked reads at the hub", async () => ((await refusedAtHub()).length >= 2 ? await refusedAtHub() : undefined), { context });
      expect(first[0]).toMatchObject({
        nodeId,
        alert: { NodeID: nodeId, PodName: "reader", Operation: "File", Resource: "/etc/passwd", Action: "Block", Enforcer: "Landlock", Result: "Permission denied", Severity: "7" },
      });

      // The agent dies without warning; the workload keeps running; a new agent adopts and watches it again.
      agent.child.kill("SIGKILL");
      await agent.exited();
      expect(runningPid(device, "reader")).toBe(pid);
      agent = start(false);
      await waitFor("the restarted agent watches reader", () => agent.events().some((e) => e.msg === "sensor: watching reader"), { context });
      // ... before it says it is ready (the first sync runs at start), not at a periodic sync later.
      const order = agent.events().map((e) => e.msg);
      expect(order.indexOf("sensor: watching reader")).toBeGreaterThanOrEqual(0);
      expect(order.indexOf("sensor: watching reader")).toBeLessThan(order.indexOf("agent ready"));
      const before = new Set(first.map((a) => a.id));
      await waitFor("new alerts after the restart", async () => (await refusedAtHub()).filter((a) => !before.has(a.id)).length >= 2, { context });
      expect(runningPid(device, "reader")).toBe(pid);

      // Every alert events.db holds for reader reaches the hub; every one at the hub is one stored record.
      const events = EventStore.open(join(device, "events.db"), { readonly: true });
      try {
        const storedIds = () => events.query({ kind: "alert", workload: "reader" }).map((r) => kernelAlertId(nodeId, r));
        const stored = storedIds();
        await waitFor("every stored alert at the hub", async () => {
          const at = new Set((await kernelAlertsAtHub()).map((a) => a.id));
          return stored.every((id) => at.has(id));
        }, { context });
        const atHub = await kernelAlertsAtHub();
        const storedNow = new Set(storedIds());
        expect(atHub.filter((a) => !storedNow.has(a.id)).map((a) => a.id)).toEqual([]);
        expect(new Set(atHub.map((a) => a.id)).size).toBe(atHub.length);
      } finally {
        events.close();
      }
    },
    LONG,
  );
});

/**
 * `palisade alerts` against a real hub on a loopback port: alerts delivered
 * by an enrolled node over the signed node API, read back through the CLI's
 * `main` — all of them across pages, kernel-only, per node, the newest N,
 * and --follow picking up an alert delivered after it started.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { agentAlert } from "../../src/agent/agentAlerts.js";
import { enrollNode, NodeHubClient } from "../../src/agent/hubClient.js";
import { main } from "../../src/cli/main.js";
import { runCli } from "../runCli.js";
import { generateEd25519 } from "../../src/core/signing/ed25519.js";
import { startHub, type RunningHub } from "../../src/hub/startHub.js";
import { scratchDb, type ScratchDb } from "../hub/helpers.js";

const cli = runCli;

/** A kernel alert as the event pipeline produces it (KubeArmor field names). */
function kernelAlert(id: string, n: number, pod = "gateway"): Record<string, unknown> {
  return {
    id,
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    alert: {
      Timestamp: 1767225600 + n,
      Type: "MatchedPolicy",
      PodName: pod,
      Operation: "File",
      Resource: "/etc/gateway/credentials",
      Result: "Permission denied",
      PolicyName: "gateway-protect-credentials",
      Severity: "8",
      Action: "Block",
      Message: "access to the gateway's cloud credentials",
    },
  };
}

describe("palisade alerts", () => {
  let db: ScratchDb;
  let hub: RunningHub;
  let dir: string;
  const nodes: NodeHubClient[] = [];
  const saved = { config: process.env.PALISADE_CONFIG_DIR, hub: process.env.PALISADE_HUB, token: process.env.PALISADE_TOKEN };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "palisade-alerts-"));
    db = await scratchDb({ name: "sqlite" });
    hub = await startHub({ listen: "127.0.0.1:0", dbUrl: db.url });
    process.env.PALISADE_CONFIG_DIR = join(dir, "config");
    process.env.PALISADE_HUB = hub.url;
    process.env.PALISADE_TOKEN = hub.bootstrap!.token;
    const et = await (await fetch(`${hub.url}/v1/enrollment-tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${hub.bootstrap!.token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "t", maxUses: 2, labels: {} }),
    })).json() as { token: string };
    for (const name of ["dev1", "dev2"]) {
      const { publicKey, privateKey } = generateEd25519();
      const node = await enrollNode({ hubUrl: hub.url, token: et.token, publicKey, privateKey, hostname: name, labels: {} });
      nodes.push(new NodeHubClient(hub.url, node.nodeId, privateKey));
    }
  });
  afterAll(async () => {
    await hub?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
    for (const [k, v] of [["PALISADE_CONFIG_DIR", saved.config], ["PALISADE_HUB", saved.hub], ["PALISADE_TOKEN", saved.token]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it("with none reported, says so", async () => {
    const r = await cli(["alerts"]);
    expect(r).toMatchObject({ code: 0, out: "no alerts yet\n" });
  });

  it("lists every alert across pages, filters kernel alerts and nodes, and keeps the newest N", async () => {
    const [a, b] = nodes as [NodeHubClient, NodeHubClient];
    // 1005 kernel alerts from dev1: more than one page of the hub's API (1000).
    const many = Array.from({ length: 1005 }, (_, i) => kernelAlert(`k-${String(i).padStart(4, "0")}`, i));
    await a.deliver("alert", many.slice(0, 600));
    await a.deliver("alert", many.slice(600));
    await b.deliver("alert", [agentAlert("ag-1", b.nodeId, { operation: "Workload", resource: "default/gateway", action: "Audit", severity: 3, message: "gateway exited", result: "exit 3" })]);

    const all = JSON.parse((await cli(["alerts", "--last", "0", "--json"])).out) as { id: string; nodeId: string; alert: Record<string, unknown> }[];
    expect(all).toHaveLength(1006);
    expect(new Set(all.map((x) => x.id)).size).toBe(1006);
    const kernel = JSON.parse((await cli(["alerts", "--last", "0", "--kernel", "--json"])).out) as { id: string; nodeId: string }[];
    expect(kernel).toHaveLength(1005);
    expect(kernel.every((x) => x.nodeId === a.nodeId)).toBe(true);
    const onB = JSON.parse((await cli(["alerts", "--node", b.nodeId, "--json"])).out) as { id: string; alert: Record<string, unknown> }[];
    expect(onB.map((x) => x.id)).toEqual(["ag-1"]);
    expect(onB[0]!.alert.Type).toBe("AgentEvent");

    const newest = JSON.parse((await cli(["alerts", "--kernel", "--last", "2", "--json"])).out) as { id: string }[];
    expect(newest.map((x) => x.id)).toEqual(["k-1003", "k-1004"]);

    const table = await cli(["alerts", "--kernel", "--last", "1"]);
    expect(table.code).toBe(0);
    const lines = table.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^TIME\s+NODE\s+WORKLOAD\s+ACTION\s+SEV\s+POLICY\s+WHAT \(RESULT\)$/);
    expect(lines[1]).toContain(a.nodeId);
    expect(lines[1]).toMatch(/gateway\s+Block\s+8\s+gateway-protect-credentials\s+File \/etc\/gateway\/credentials \(Permission denied\)/);
  });

  it("rejects a bad --last with a usage error", async () => {
    const r = await cli(["alerts", "--last", "-3"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/error USAGE: --last must be a whole number/);
  });

  it("--follow prints alerts that arrive after it started, once each, until interrupted", async () => {
    const [a] = nodes as [NodeHubClient];
    let out = "";
    const o = vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
    try {
      const run = main(["alerts", "--follow", "--kernel", "--last", "1", "--interval", "0.1", "--json"]);
      const until = async (what: () => boolean) => {
        for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 50));
        expect(what()).toBe(true);
      };
      await until(() => out.includes('"k-1004"'));
      await a.deliver("alert", [kernelAlert("late-1", 2000), kernelAlert("late-2", 2001)]);
      await until(() => out.includes('"late-2"'));
      // Give it a few more polls: nothing is printed twice.
      await new Promise((r) => setTimeout(r, 400));
      process.emit("SIGINT");
      expect(await run).toBe(0);
      const ids = out.trimEnd().split("\n").map((l) => (JSON.parse(l) as { id: string }).id);
      expect(ids).toEqual(["k-1004", "late-1", "late-2"]);
    } finally {
      o.mockRestore();
      process.exitCode = undefined;
    }
  });
});

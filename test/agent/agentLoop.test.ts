/**
 * The agent's loops against a real hub over HTTP (in this process, on a
 * random loopback port), with an in-memory runtime so no root is needed:
 * enrollment and key pinning, signed requests only, ETag polling, reconcile
 * and restart policy, the durable queue across a hub outage, refusal of
 * bundles signed by keys the device never pinned, node revocation. Runs on
 * SQLite and on PostgreSQL (PALISADE_TEST_POSTGRES_URL; required under CI).
 * The same behaviours with real processes and containers: test/e2e.
 */
import { readFileSync, readdirSync, rmSync, statSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent, type AgentOptions } from "../../src/agent/agent.js";
import { AgentLog } from "../../src/agent/agentLog.js";
import { startHub, type RunningHub } from "../../src/hub/startHub.js";
import { runnableBackends, scratchDb, type ScratchDb } from "../hub/helpers.js";
import { FakeRuntime } from "./fakeRuntime.js";
import { eventually, HubAdmin } from "./hubAdmin.js";
import { envelope, type Signer } from "./trustFixture.js";

describe.each(runnableBackends())("agent loop against a hub on $name", (backend) => {
  let db: ScratchDb;
  let hub: RunningHub;
  let port: number;
  let admin: HubAdmin;
  let acme: Signer;
  const dirs: string[] = [];
  const logs: string[] = [];

  beforeAll(async () => {
    db = await scratchDb(backend);
    hub = await startHub({ listen: "127.0.0.1:0", dbUrl: db.url });
    port = Number(new URL(hub.url).port);
    admin = new HubAdmin(hub.url, hub.bootstrap!.token);
    acme = await admin.publisher("acme");
  });
  afterAll(async () => {
    await hub.close().catch(() => undefined);
    await db.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function agentOptions(dataDir: string, extra: Partial<AgentOptions> = {}): { opts: AgentOptions; runtime: () => FakeRuntime } {
    let runtime: FakeRuntime | undefined;
    const log = new AgentLog({ format: "json", write: (l) => void logs.push(l) });
    return {
      opts: {
        dataDir,
        hubUrl: hub.url,
        pollMs: 150,
        reconcileMs: 50,
        statusIntervalMs: 60_000,
        onRevokedKey: "stop",
        log,
        runtime: (_paths, store) => (runtime = new FakeRuntime((r) => store.putInstance(r))),
        ...extra,
      },
      runtime: () => runtime!,
    };
  }

  function newDir(): string {
    const d = mkdtempSync(join(tmpdir(), "palisade-agent-"));
    dirs.push(d);
    return d;
  }

  it("enrolls once with a private key file, pins the org's keys, then never sends a bearer secret; a used-up token is refused", async () => {
    const token = await admin.enrollmentToken(1, { site: "loop" });
    const dir = newDir();
    const { opts } = agentOptions(dir, { token, labels: { role: "gw" } });
    const agent = await Agent.open(opts);
    try {
      expect(agent.identity.nodeId).toMatch(/^node_/);
      expect(agent.identity.labels).toEqual({ role: "gw", site: "loop" });
      expect(agent.store.pinnedKeys().map((k) => k.keyId)).toEqual([acme.keyId]);
      expect(statSync(agent.paths.key).mode & 0o777).toBe(0o600);
      expect(statSync(agent.paths.db).mode & 0o777).toBe(0o600);
    } finally {
      agent.close();
    }
    // Nothing on disk holds the enrollment token: after enrollment only the key matters.
    for (const f of readdirSync(join(dir, "agent"))) {
      const p = join(dir, "agent", f);
      if (statSync(p).isFile()) expect(readFileSync(p).includes(token), f).toBe(false);
    }
    const again = agentOptions(newDir(), { token });
    await expect(Agent.open(again.opts)).rejects.toMatchObject({ code: "HUB_ENROLLMENT_USED_UP" });
  });

  it("runs what is deployed, restarts what exits, reports status and alerts, refuses a key the hub added after enrollment", async () => {
    const token = await admin.enrollmentToken(1, { site: "a" });
    const { opts, runtime } = agentOptions(newDir(), { token });
    const agent = await Agent.open(opts);
    const running = agent.run();
    try {
      const v1 = await admin.push(envelope("svc-a", 1), acme);
      await admin.deploy("svc-a", v1, { site: "a" });
      await eventually("svc-a running", () => runtime().running().includes(`svc-a@${v1.slice(7, 15)}`));
      await eventually("status at the hub", async () => (await admin.node(agent.identity.nodeId)).workloads.some((w) => w.deployment === "svc-a" && w.state === "running"));

      runtime().exit("svc-a", 3);
      await eventually("restart", () => runtime().started.filter((s) => s.startsWith("svc-a@")).length === 2, 10_000);
      const exitAlerts = await eventually("exit alert", async () => (await admin.alerts(agent.identity.nodeId)).filter((a) => a.alert.Result === "exit 3"));
      expect(exitAlerts).toHaveLength(1);

      // A compromised hub "adds" a key and pushes an update signed with it: the device keeps v1.
      const late = await admin.addKey(acme);
      const forged = await admin.push(envelope("svc-a", 2, "echo pwned"), late);
      await admin.deploy("svc-a", forged, { site: "a" });
      const refused = await eventually("refusal alert", async () => (await admin.alerts(agent.identity.nodeId)).find((a) => a.alert.Result === "unpinned-key"));
      expect(refused.alert).toMatchObject({ Type: "AgentEvent", Operation: "Bundle", Resource: forged, Action: "Block" });
      expect(runtime().running()).toEqual([`svc-a@${v1.slice(7, 15)}`]);
      const w = await eventually("status names the refusal", async () => (await admin.node(agent.identity.nodeId)).workloads.find((x) => x.deployment === "svc-a" && /unpinned-key/.test(x.message ?? "")));
      expect(w.bundleDigest).toBe(v1);
    } finally {
      agent.stop();
      await running;
      agent.close();
    }
  });

  it("keeps running and queueing while the hub is down, and delivers everything exactly once when it is back", async () => {
    const token = await admin.enrollmentToken(1, { site: "b" });
    const { opts, runtime } = agentOptions(newDir(), { token });
    const agent = await Agent.open(opts);
    const running = agent.run();
    try {
      const v1 = await admin.push(envelope("svc-b", 1), acme);
      await admin.deploy("svc-b", v1, { site: "b" });
      await eventually("svc-b running", () => runtime().running().length === 1);
      await eventually("queue drained", () => agent.outbox.size() === 0);

      await hub.close();
      const queuedBefore = new Set(logs.map((l) => JSON.parse(l) as { msg: string }).filter((l) => l.msg.startsWith("queued alert")).map((l) => l.msg.split(" ")[2]));
      for (let i = 0; i < 3; i++) {
        runtime().exit("svc-b", 10 + i);
        await eventually(`restart ${i}`, () => runtime().running().length === 1 && runtime().started.filter((s) => s.startsWith("svc-b")).length === i + 2, 15_000);
      }
      expect(runtime().running()).toHaveLength(1);
      expect(agent.outbox.size("alert")).toBe(3);
      expect(agent.outbox.size("status")).toBeGreaterThan(0);

      hub = await startHub({ listen: `127.0.0.1:${port}`, dbUrl: db.url });
      await eventually("queue drained after the outage", () => agent.outbox.size() === 0, 30_000);
      const alerts = await admin.alerts(agent.identity.nodeId);
      const queued = new Set(logs.map((l) => JSON.parse(l) as { msg: string }).filter((l) => l.msg.startsWith("queued alert")).map((l) => l.msg.split(" ")[2]!));
      const mine = [...queued].filter((id) => !queuedBefore.has(id));
      const results = alerts.filter((a) => mine.includes(a.id)).map((a) => a.alert.Result).sort();
      expect(results).toEqual(["exit 10", "exit 11", "exit 12"]);
      expect(new Set(alerts.map((a) => a.id)).size).toBe(alerts.length);
    } finally {
      agent.stop();
      await running;
      agent.close();
    }
  }, 90_000);

  it("a revoked node stops its workloads and the agent, and will not start again", async () => {
    const token = await admin.enrollmentToken(1, { site: "c" });
    const dir = newDir();
    const { opts, runtime } = agentOptions(dir, { token });
    const agent = await Agent.open(opts);
    const running = agent.run();
    const v1 = await admin.push(envelope("svc-c", 1), acme);
    await admin.deploy("svc-c", v1, { site: "c" });
    await eventually("svc-c running", () => runtime().running().length === 1);
    await admin.api.post(`/v1/nodes/${agent.identity.nodeId}/revoke`, { reason: "stolen" });
    await expect(running).rejects.toMatchObject({ code: "HUB_NODE_REVOKED" });
    agent.close();
    expect(runtime().running()).toEqual([]);
    await expect(Agent.open(agentOptions(dir).opts)).rejects.toMatchObject({ code: "HUB_NODE_REVOKED" });
  });
});

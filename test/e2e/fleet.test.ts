/**
 * The fleet end to end, with real processes and real confined workloads:
 * one `palisade hub` process (SQLite, then PostgreSQL) and two
 * `palisade agent` processes with their own data directories, running
 * busybox workloads under runc. The fleet verbs (login, publisher, key,
 * enrollment token, workload sign/push, deploy, node ls) drive it.
 *
 * A compromised hub is simulated by writing to its database directly:
 * tampered bundle bytes, a bundle signed with a key the hub made up, a
 * deployment pointed back at an older signed bundle. The agents must refuse
 * all three and keep running what they verified.
 *
 * Needs root, runc, busybox-static and the native launcher (kernelIt: a skip
 * locally, a failure under CI).
 */
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { canonicalBundleBytes, BUNDLE_FORMAT, bundleDigest, signBundle, type BundleEnvelope } from "../../src/core/signing/bundleFormat.js";
import { generateEd25519 } from "../../src/core/signing/ed25519.js";
import { openHubDb } from "../../src/hub/openHubDb.js";
import { ImageStore } from "../../src/runtime/imageStore.js";
import { buildBusyboxImage } from "../fixtures/images.js";
import { runnableBackends, scratchDb, type ScratchDb } from "../hub/helpers.js";
import { kernelIt, unmet } from "../kernelTest.js";
import { CONTAINERS } from "../runtime/runtimeFixture.js";
import { AgentProcess, cli, cliJson, HubProcess, runningPid, simulateReboot, sleep, stopAllWorkloads, waitFor, workloadStates } from "./fleetHarness.js";

const LONG = 240_000;

describe.each(runnableBackends())("fleet end to end on $name", (backend) => {
  let work = "";
  let dirA = "";
  let dirB = "";
  let db: ScratchDb;
  let hub: HubProcess;
  let a: AgentProcess;
  let b: AgentProcess;
  const retiredA: AgentProcess[] = [];
  let image = "";
  let token = "";
  let adminToken = "";
  let keyFile = "";
  const digests: Record<string, string> = {};
  const previousConfig = process.env.PALISADE_CONFIG_DIR;
  const ready = unmet(CONTAINERS) === null;

  const nodeIdOf = (p: AgentProcess) => String(p.events().find((e) => e.msg === "agent ready")?.node ?? "");
  const agentArgs = (extra: string[]) => ["--poll", "1s", "--status-interval", "1m", "--stop-grace", "3s", "--max-restart-delay", "2s", ...extra];
  const context = () => `--- agent A ---\n${a?.tail()}\n--- agent B ---\n${b?.tail()}\n--- hub ---\n${hub?.stderr.slice(-5).join("\n")}`;

  function manifest(name: string, script: string, version: string): string {
    const file = join(work, `${name}-${version}.yaml`);
    writeFileSync(
      file,
      `apiVersion: palisade.dev/v1\nkind: Workload\nmetadata:\n  name: ${name}\n  labels: {app: ${name}}\nspec:\n  containers:\n  - name: main\n    image: ${image}\n    command: [/bin/sh, -c, ${JSON.stringify(script)}]\n` +
        `---\napiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: ${name}-no-shadow}\nspec:\n  selector: {matchLabels: {app: ${name}}}\n  file:\n    matchPaths:\n    - path: /etc/shadow\n  action: Block\n`,
    );
    return file;
  }

  async function signAndPush(name: string, version: number, script: string): Promise<string> {
    const out = join(work, `${name}-v${version}.bundle.json`);
    await cliJson(["workload", "sign", manifest(name, script, String(version)), "--key", keyFile, "--version", String(version), "-o", out]);
    const pushed = await cliJson<{ digest: string }>(["workload", "push", out]);
    return pushed.digest;
  }

  /** Writes to the hub's database behind its back, as an attacker who owns the hub would. */
  async function asCompromisedHub(fn: (hubDb: Awaited<ReturnType<typeof openHubDb>>["db"]) => Promise<void>): Promise<void> {
    const h = await openHubDb(db.url);
    try {
      await fn(h.db);
    } finally {
      await h.close();
    }
  }

  async function pointDeployment(name: string, digest: string): Promise<void> {
    await asCompromisedHub(async (d) => {
      await d.updateTable("deployments").set({ bundle_digest: digest, revision: sql`revision + 1` }).where("name", "=", name).execute();
      // Bumping the generation is what makes the hub serve the new desired state.
      await d.updateTable("orgs").set({ generation: sql`generation + 1` }).execute();
    });
  }

  const alertsAtHub = async (nodeId: string) => {
    const all: { id: string; alert: Record<string, unknown> }[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: { id: string; alert: Record<string, unknown> }[]; nextCursor: string | null } = await (
        await fetch(`${hub.url}/v1/alerts?nodeId=${nodeId}&limit=1000${cursor ? `&cursor=${cursor}` : ""}`, { headers: { authorization: `Bearer ${adminToken}` } })
      ).json();
      all.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return all;
  };
  const nodeAtHub = async (nodeId: string) => cliJson<{ workloads: { deployment?: string; state: string; bundleDigest?: string; message?: string }[] }>(["node", "describe", nodeId]);

  beforeAll(async () => {
    if (!ready) return;
    work = mkdtempSync(join(tmpdir(), "palisade-e2e-"));
    // Workloads run in user namespaces: their root must be able to traverse the data directories.
    chmodSync(work, 0o755);
    dirA = join(work, "device-a");
    dirB = join(work, "device-b");
    process.env.PALISADE_CONFIG_DIR = join(work, "config");
    db = await scratchDb(backend);
    hub = await HubProcess.start(db.url, join(work, "hub.log"));
    adminToken = hub.bootstrapToken!;
    // Both devices hold the same busybox image (the build is reproducible, so one digest).
    for (const d of [dirA, dirB]) image = `busybox@${(await buildBusyboxImage(ImageStore.open(join(d, "images")), "busybox:test")).digest}`;
    expect((await cli(["login", "--hub", hub.url, "--token", adminToken, "--context", "e2e"])).code).toBe(0);
    await cliJson(["publisher", "create", "acme"]);
    keyFile = join(work, "acme.key");
    await cliJson(["publisher", "key", "create", "acme", "--out", keyFile]);
    token = (await cliJson<{ token: string }>(["enrollment-token", "create", "--uses", "2", "--expires", "1h", "--labels", "fleet=e2e"])).token;
  }, LONG);

  afterAll(async () => {
    for (const p of [a, b, ...retiredA]) await p?.stop().catch(() => undefined);
    if (!work) return;
    for (const d of [dirA, dirB]) await stopAllWorkloads(d).catch(() => undefined);
    await hub?.stop().catch(() => undefined);
    await db?.drop().catch(() => undefined);
    if (previousConfig === undefined) delete process.env.PALISADE_CONFIG_DIR;
    else process.env.PALISADE_CONFIG_DIR = previousConfig;
    rmSync(work, { recursive: true, force: true });
  }, LONG);

  kernelIt(
    "two devices enroll with their own keys; a third use of the two-use token is refused",
    CONTAINERS,
    async () => {
      a = new AgentProcess(dirA, agentArgs(["--hub", hub.url, "--token", token, "--on-revoked-key", "stop"]), join(work, "agent-a.log"));
      b = new AgentProcess(dirB, agentArgs(["--hub", hub.url, "--token", token, "--on-revoked-key", "keep"]), join(work, "agent-b.log"));
      await waitFor("both agents ready", () => nodeIdOf(a) && nodeIdOf(b), { context });
      const nodes = await cliJson<{ id: string; labels: Record<string, string> }[]>(["node", "ls", "--selector", "fleet=e2e"]);
      expect(nodes.map((n) => n.id).sort()).toEqual([nodeIdOf(a), nodeIdOf(b)].sort());
      expect(statSync(join(dirA, "agent", "node.key")).mode & 0o777).toBe(0o600);

      const c = new AgentProcess(join(work, "device-c"), agentArgs(["--hub", hub.url, "--token", token]), join(work, "agent-c.log"));
      expect(await c.exited(60_000)).toBe(1);
      expect(c.stderr.join("\n")).toMatch(/error HUB_ENROLLMENT_USED_UP: .*used 2 of 2 times/);
    },
    LONG,
  );

  kernelIt(
    "a signed, deployed workload runs confined on both devices and its status reaches the hub",
    CONTAINERS,
    async () => {
      digests.sleeper1 = await signAndPush("sleeper", 1, "trap 'exit 0' TERM; while true; do sleep 1; done");
      expect((await cli(["deploy", "sleeper", "--bundle", digests.sleeper1, "--selector", "fleet=e2e"])).code).toBe(0);
      for (const d of [dirA, dirB]) await waitFor(`sleeper running in ${d}`, () => runningPid(d, "sleeper"), { context });
      const state = workloadStates(dirA).find((s) => s.name === "sleeper")!;
      expect(state.manifest).toBe(`bundle:${digests.sleeper1}`);
      expect(state.confinement).toBeDefined();
      for (const p of [a, b]) {
        await waitFor("running at the hub", async () => (await nodeAtHub(nodeIdOf(p))).workloads.some((w) => w.deployment === "sleeper" && w.state === "running" && w.bundleDigest === digests.sleeper1), { context });
      }
    },
    LONG,
  );

  kernelIt(
    "a compromised hub cannot make devices run tampered bytes, a bundle signed with its own key, or an older version",
    CONTAINERS,
    async () => {
      const pidsBefore = [runningPid(dirA, "sleeper"), runningPid(dirB, "sleeper")];

      // 1. Tampered bytes: a legitimately signed bundle whose stored bytes the hub changes.
      const tamper = await signAndPush("tamper", 1, "sleep 1000");
      await asCompromisedHub(async (d) => {
        await d.updateTable("bundles").set({ bytes: sql`replace(bytes, 'sleep 1000', 'sleep 1001')` }).where("digest", "=", tamper).execute();
      });
      await cliJson(["deploy", "tamper", "--bundle", tamper, "--selector", "fleet=e2e"]);

      // 2. The hub signs its own "update" of sleeper with a key it made up, and inserts it.
      const rogue = generateEd25519();
      const env: BundleEnvelope = {
        format: BUNDLE_FORMAT,
        name: "sleeper",
        version: 50,
        workload: `apiVersion: palisade.dev/v1\nkind: Workload\nmetadata: {name: sleeper}\nspec:\n  containers:\n  - name: main\n    image: ${image}\n    command: [/bin/sh, -c, "echo owned; sleep 1000"]\n`,
        policies: "",
        images: [{ ref: "busybox", digest: image.split("@")[1]! }],
        created: "2025-01-31T12:00:00Z",
      };
      const forged = bundleDigest(env);
      const sig = signBundle(env, rogue.privateKey, rogue.publicKey);
      await asCompromisedHub(async (d) => {
        const orig = await d.selectFrom("bundles").selectAll().where("digest", "=", digests.sleeper1!).executeTakeFirstOrThrow();
        await d
          .insertInto("bundles")
          .values({ ...orig, digest: forged, version: 50, key_id: sig.keyId, signature: sig.signature, bytes: canonicalBundleBytes(env).toString("utf8") })
          .execute();
      });
      await pointDeployment("sleeper", forged);

      for (const p of [a, b]) {
        const id = nodeIdOf(p);
        await waitFor("both refusals alerted", async () => {
          const results = (await alertsAtHub(id)).filter((x) => x.alert.Operation === "Bundle").map((x) => `${String(x.alert.Resource)}:${String(x.alert.Result)}`);
          return results.includes(`${tamper}:digest`) && results.includes(`${forged}:unpinned-key`);
        }, { context });
      }
      // Nothing forged runs; the verified sleeper keeps running untouched.
      for (const d of [dirA, dirB]) expect(workloadStates(d).map((s) => s.name).sort()).toEqual(["sleeper"]);
      expect([runningPid(dirA, "sleeper"), runningPid(dirB, "sleeper")]).toEqual(pidsBefore);
      const w = await nodeAtHub(nodeIdOf(a));
      expect(w.workloads.find((x) => x.deployment === "tamper")).toMatchObject({ state: "refused" });
      expect(w.workloads.find((x) => x.deployment === "sleeper")).toMatchObject({ state: "running", bundleDigest: digests.sleeper1 });

      // 3. Replay: v2 is published and runs; then the hub points the deployment back at v1.
      digests.sleeper2 = await signAndPush("sleeper", 51, "trap 'exit 0' TERM; while true; do sleep 2; done");
      await cliJson(["deploy", "sleeper", "--bundle", digests.sleeper2]);
      for (const d of [dirA, dirB]) {
        await waitFor(`sleeper v51 running in ${d}`, () => runningPid(d, "sleeper") !== undefined && workloadStates(d).find((s) => s.name === "sleeper")?.manifest === `bundle:${digests.sleeper2}`, { context });
      }
      const pidsV2 = [runningPid(dirA, "sleeper"), runningPid(dirB, "sleeper")];
      await pointDeployment("sleeper", digests.sleeper1!);
      for (const p of [a, b]) {
        await waitFor("rollback refused", async () => (await alertsAtHub(nodeIdOf(p))).some((x) => x.alert.Resource === digests.sleeper1 && x.alert.Result === "rollback"), { context });
      }
      expect([runningPid(dirA, "sleeper"), runningPid(dirB, "sleeper")]).toEqual(pidsV2);
      await cliJson(["deploy", "tamper", "--delete"]);
      await pointDeployment("sleeper", digests.sleeper2);
    },
    LONG,
  );

  kernelIt(
    "with the hub down workloads keep running and reports queue up; an agent killed -9 meanwhile resumes with its queue; nothing is lost or duplicated",
    CONTAINERS,
    async () => {
      // A workload that exits every few seconds produces alerts (and status changes) during the outage.
      digests.crasher = await signAndPush("crasher", 1, "sleep 2; exit 3");
      await cliJson(["deploy", "crasher", "--bundle", digests.crasher, "--selector", "fleet=e2e"]);
      for (const p of [a, b]) await waitFor("a crasher exit at the hub", async () => (await alertsAtHub(nodeIdOf(p))).some((x) => x.alert.Result === "exit 3"), { context });
      const sleepers = [runningPid(dirA, "sleeper"), runningPid(dirB, "sleeper")];
      const port = hub.port;
      await hub.stop();

      const queuedDuringOutage = (p: AgentProcess, before: number) => p.queued("alert").length - before;
      const alertsBeforeA = a.queued("alert").length;
      await waitFor("alerts queued while the hub is down", () => queuedDuringOutage(a, alertsBeforeA) >= 2, { context });
      a.child.kill("SIGKILL");
      await a.exited();
      retiredA.push(a);
      expect(runningPid(dirA, "sleeper")).toBe(sleepers[0]);
      const pending = await cliJson<{ queue: { status: number; alert: number } }>(["agent", "status", "--data-dir", dirA]);
      expect(pending.queue.alert).toBeGreaterThan(0);

      a = new AgentProcess(dirA, agentArgs(["--on-revoked-key", "stop"]), join(work, "agent-a.log"));
      await waitFor("agent A back", () => a.events().find((e) => e.msg === "agent ready"), { context });
      expect(Number(a.events().find((e) => e.msg === "agent ready")!.queued)).toBeGreaterThanOrEqual(pending.queue.alert + pending.queue.status);
      await waitFor("more alerts queued by the restarted agent", () => a.queued("alert").length >= 1, { context });
      expect([runningPid(dirA, "sleeper"), runningPid(dirB, "sleeper")]).toEqual(sleepers);

      hub = await HubProcess.start(db.url, join(work, "hub.log"), port);
      await cliJson(["deploy", "crasher", "--delete"]);
      for (const d of [dirA, dirB]) await waitFor(`crasher gone from ${d}`, () => !workloadStates(d).some((s) => s.name === "crasher"), { context });
      for (const dir of [dirA, dirB]) {
        await waitFor(`${dir} queue drained`, async () => {
          const q = (await cliJson<{ queue: { status: number; alert: number } }>(["agent", "status", "--data-dir", dir])).queue;
          return q.status + q.alert === 0;
        }, { context });
      }

      const statusAtHub = async (nodeId: string) => {
        const h = await openHubDb(db.url);
        try {
          return (await h.db.selectFrom("status_reports").select("item_id").where("node_id", "=", nodeId).execute()).map((r) => r.item_id);
        } finally {
          await h.close();
        }
      };
      for (const [procs, label] of [[[...retiredA, a], "A"], [[b], "B"]] as const) {
        const nodeId = nodeIdOf(procs[0]!);
        for (const kind of ["alert", "status"] as const) {
          const logged = new Set(procs.flatMap((p) => p.queued(kind)));
          const atHub = kind === "alert" ? (await alertsAtHub(nodeId)).map((x) => x.id) : await statusAtHub(nodeId);
          expect(new Set(atHub).size, `${label} ${kind}: duplicates at the hub`).toBe(atHub.length);
          const missing = [...logged].filter((id) => !atHub.includes(id));
          expect(missing, `${label} ${kind}: queued but never delivered`).toEqual([]);
          // An item committed in the instant before SIGKILL may not have been logged: at most one, on A only.
          const unlogged = atHub.filter((id) => !logged.has(id));
          expect(unlogged.length, `${label} ${kind}: delivered but never queued`).toBeLessThanOrEqual(label === "A" ? 1 : 0);
        }
      }
      const crashes = (await alertsAtHub(nodeIdOf(b))).filter((x) => x.alert.Result === "exit 3");
      expect(crashes.length).toBeGreaterThanOrEqual(3);
    },
    LONG,
  );

  kernelIt(
    "after a reboot with the hub unreachable, a device restarts its workloads from its verified cache",
    CONTAINERS,
    async () => {
      const port = hub.port;
      await hub.stop();
      b.child.kill("SIGKILL");
      await b.exited();
      const before = runningPid(dirB, "sleeper");
      expect(before).toBeDefined();
      simulateReboot(dirB);
      await waitFor("sleeper dead after the reboot", () => runningPid(dirB, "sleeper") === undefined);

      b = new AgentProcess(dirB, agentArgs(["--on-revoked-key", "keep"]), join(work, "agent-b2.log"));
      const after = await waitFor("sleeper restarted from the cache", () => runningPid(dirB, "sleeper"), { context });
      expect(after).not.toBe(before);
      expect(workloadStates(dirB).find((s) => s.name === "sleeper")?.manifest).toBe(`bundle:${digests.sleeper2}`);
      expect(b.events().some((e) => e.level === "warn" && /poll failed/.test(e.msg))).toBe(true);
      hub = await HubProcess.start(db.url, join(work, "hub.log"), port);
      await waitFor("B reachable again", () => b.events().some((e) => e.msg === "the hub is reachable again"), { context });
    },
    LONG,
  );

  kernelIt(
    "revoking the publisher key stops its workloads where the operator chose stop, and keeps them where keep",
    CONTAINERS,
    async () => {
      const keyId = (await cliJson<{ keyId: string }[]>(["publisher", "key", "ls", "acme"]))[0]!.keyId;
      const keptPid = runningPid(dirB, "sleeper");
      expect((await cli(["publisher", "key", "revoke", "acme", keyId, "--reason", "leaked"])).code).toBe(0);
      await waitFor("A stops sleeper", () => !workloadStates(dirA).some((s) => s.name === "sleeper"), { context });
      for (const p of [a, b]) await waitFor("revocation alert", async () => (await alertsAtHub(nodeIdOf(p))).some((x) => x.alert.Operation === "PublisherKey" && x.alert.Resource === keyId), { context });
      await sleep(3000);
      expect(runningPid(dirB, "sleeper")).toBe(keptPid);
      const status = await cliJson<{ deployments: { name: string; states: Record<string, number> }[] }>(["status"]);
      expect(status.deployments.find((d) => d.name === "sleeper")?.states).toMatchObject({ running: 1, refused: 1 });
    },
    LONG,
  );
});

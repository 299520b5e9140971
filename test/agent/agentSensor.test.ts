/**
 * Forwarding kernel alerts from events.db to the agent's outbox (the part of
 * agentSensor.ts that needs no kernel; the whole path runs in
 * test/e2e/mainJob.test.ts and test/e2e/agentAlerts.test.ts): only alerts,
 * only the agent's own instances, each once, with an id that is the same
 * when a crash makes the agent queue it again, in the hub's AlertItem shape.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { forwardAlerts, kernelAlertId } from "../../src/agent/agentSensor.js";
import { AgentStore } from "../../src/agent/agentStore.js";
import { Outbox } from "../../src/agent/outbox.js";
import { AlertItem } from "../../src/hub/apiSchemas.js";
import { EventStore } from "../../src/sensor/eventStore.js";

const blocked = (n: number) => ({
  Timestamp: 1767225600 + n,
  UpdatedTime: `2026-01-01T00:00:${String(n).padStart(2, "0")}.123456Z`,
  PodName: "gateway",
  Type: "MatchedPolicy",
  Operation: "File",
  Resource: "/etc/gateway/credentials",
  Result: "Permission denied",
  PolicyName: "gateway-protect-credentials",
  Action: "Block",
  Enforcer: "Landlock",
});

describe("forwarding kernel alerts to the outbox", () => {
  let dir: string;
  let events: EventStore;
  let store: AgentStore;
  let outbox: Outbox;
  const nodeId = "node_0123456789abcdef";
  const ours = new Set(["gateway"]);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "palisade-agentsensor-"));
    events = EventStore.open(join(dir, "events.db"));
    store = AgentStore.open(join(dir, "agent.db"));
    outbox = new Outbox(store.db);
  });
  afterEach(() => {
    events.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const queuedItems = () => outbox.peek("alert", 1000).map((i) => i.item as { id: string; time: string; alert: Record<string, unknown> });

  it("queues only alerts of its own instances, each once, as valid hub alert items", () => {
    events.append([
      { kind: "log", workload: "gateway", record: { ...blocked(1), Type: "ContainerLog" } },
      { kind: "alert", workload: "gateway", record: blocked(2) },
      { kind: "alert", workload: "someone-else", record: { ...blocked(3), PodName: "someone-else" } },
      { kind: "alert", workload: "gateway", record: blocked(4) },
    ]);
    expect(forwardAlerts({ events, store, outbox, nodeId, ours })).toBe(2);
    const items = queuedItems();
    expect(items.map((i) => i.alert.Timestamp)).toEqual([1767225602, 1767225604]);
    for (const i of items) {
      expect(AlertItem.safeParse(i).success, JSON.stringify(i)).toBe(true);
      expect(i.alert).toMatchObject({ NodeID: nodeId, PolicyName: "gateway-protect-credentials", Action: "Block" });
    }
    expect(items[0]!.time).toBe("2026-01-01T00:00:02.123Z");
    // Nothing new: nothing queued, even after the items were delivered.
    expect(forwardAlerts({ events, store, outbox, nodeId, ours })).toBe(0);
    outbox.ack(items.map((i) => i.id));
    expect(forwardAlerts({ events, store, outbox, nodeId, ours })).toBe(0);
    events.append([{ kind: "alert", workload: "gateway", record: blocked(5) }]);
    expect(forwardAlerts({ events, store, outbox, nodeId, ours })).toBe(1);
  });

  it("after a crash before the cursor moved, queues the same alerts under the same ids (the hub stores each once)", () => {
    events.append([1, 2, 3].map((n) => ({ kind: "alert" as const, workload: "gateway", record: blocked(n) })));
    forwardAlerts({ events, store, outbox, nodeId, ours });
    const first = queuedItems().map((i) => i.id);
    expect(first).toHaveLength(3);
    // Still queued: queuing again adds nothing.
    store.setMeta("sensor_forwarded_seq", "0");
    expect(forwardAlerts({ events, store, outbox, nodeId, ours })).toBe(0);
    // Delivered, then the cursor is lost: queued again, with the ids the hub already has.
    outbox.ack(first);
    store.setMeta("sensor_forwarded_seq", "0");
    expect(forwardAlerts({ events, store, outbox, nodeId, ours })).toBe(3);
    expect(queuedItems().map((i) => i.id)).toEqual(first);
    const stored = events.query({ kind: "alert" });
    expect(stored.map((r) => kernelAlertId(nodeId, r))).toEqual(first);
  });

  it("starts over when events.db was replaced (its seqs restart below the cursor), without reusing old ids", () => {
    events.append([1, 2, 3].map((n) => ({ kind: "alert" as const, workload: "gateway", record: blocked(n) })));
    forwardAlerts({ events, store, outbox, nodeId, ours });
    const before = new Set(queuedItems().map((i) => i.id));
    events.close();
    rmSync(join(dir, "events.db"), { force: true });
    events = EventStore.open(join(dir, "events.db"));
    events.append([{ kind: "alert", workload: "gateway", record: blocked(9) }]);
    expect(forwardAlerts({ events, store, outbox, nodeId, ours })).toBe(1);
    const after = queuedItems().map((i) => i.id);
    expect(after).toHaveLength(4);
    expect(before.has(after[3]!)).toBe(false);
  });

  it("pages through more alerts than one query returns", () => {
    events.append(Array.from({ length: 1203 }, (_, n) => ({ kind: "alert" as const, workload: "gateway", record: blocked(n % 60) })));
    expect(forwardAlerts({ events, store, outbox, nodeId, ours })).toBe(1203);
    expect(new Set(queuedItems().map((i) => i.id)).size).toBe(1000);
    expect(outbox.size("alert")).toBe(1203);
  });
});

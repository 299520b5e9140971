/**
 * The durable queue (src/agent/outbox.ts): order, stable ids, idempotent
 * enqueue, the bound, crash safety under SIGKILL, and at-least-once
 * delivery that the hub turns into exactly-once storage.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AgentLog } from "../../src/agent/agentLog.js";
import { openAgentDb } from "../../src/agent/agentStore.js";
import { newItemId, Outbox } from "../../src/agent/outbox.js";
import { OutboxSender } from "../../src/agent/outboxSender.js";
import { PalisadeError } from "../../src/core/errors.js";
import { TestHub } from "../hub/helpers.js";

const dir = mkdtempSync(join(tmpdir(), "palisade-outbox-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (opts: ConstructorParameters<typeof Outbox>[1] = {}) => {
  const path = join(dir, `q${++n}.db`);
  return { path, db: openAgentDb(path), outbox: new Outbox(openAgentDb(path), opts) };
};
const item = (extra: Record<string, unknown> = {}) => (id: string) => ({ id, time: "2025-01-01T00:00:00Z", ...extra });
const quiet = new AgentLog({ write: () => undefined });

describe("outbox", () => {
  it("keeps items in order with the id they were given, and the file is private", () => {
    const { outbox, path } = fresh();
    const ids = [0, 1, 2].map((i) => outbox.enqueue("alert", item({ i })).id);
    expect(ids.every((id) => /^a-[0-9a-z]+-[0-9a-f]{12}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(3);
    expect(outbox.peek("alert", 10).map((b) => [b.id, b.item.id, b.item.i])).toEqual(ids.map((id, i) => [id, id, i]));
    expect(outbox.peek("status", 10)).toEqual([]);
    expect(outbox.ack([ids[0]!, "a-unknown"])).toBe(1);
    expect(outbox.peek("alert", 10).map((b) => b.id)).toEqual(ids.slice(1));
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("enqueuing an id that is already queued changes nothing (deterministic event ids)", () => {
    const { outbox } = fresh();
    const seen: string[] = [];
    const o = new Outbox((outbox as unknown as { db: never }).db, { onEnqueue: (_k, id) => seen.push(id) });
    expect(o.enqueue("alert", item({ v: 1 }), "a-event-1")).toEqual({ id: "a-event-1", added: true, dropped: 0 });
    expect(o.enqueue("alert", item({ v: 2 }), "a-event-1")).toEqual({ id: "a-event-1", added: false, dropped: 0 });
    expect(o.peek("alert", 10).map((b) => b.item.v)).toEqual([1]);
    expect(seen).toEqual(["a-event-1"]);
    expect(() => o.enqueue("alert", (id) => ({ id: `${id}x` }))).toThrow(/must carry the id/);
  });

  it("queues a batch in one transaction: duplicates ignored, bound kept, nothing of a batch with a bad item", () => {
    const { outbox } = fresh({ maxItems: 4 });
    outbox.enqueue("alert", item({ i: 0 }), "a-0");
    const batch = [1, 2, 3, 4, 5].map((i) => ({ id: `a-${i}`, build: item({ i }) }));
    const results = outbox.enqueueMany("alert", [{ id: "a-0", build: item({ i: 99 }) }, ...batch]);
    expect(results.map((r) => r.added)).toEqual([false, true, true, true, true, true]);
    expect(outbox.peek("alert", 10).map((b) => b.item.i)).toEqual([2, 3, 4, 5]);
    expect(outbox.dropped("alert")).toBe(2);
    expect(() => outbox.enqueueMany("alert", [{ id: "a-6", build: item({ i: 6 }) }, { id: "a-7", build: (id) => ({ id: `${id}x` }) }])).toThrow(/must carry the id/);
    expect(outbox.peek("alert", 10).map((b) => b.item.i)).toEqual([2, 3, 4, 5]);
  });

  it("is bounded per kind: the oldest items go first and are counted", () => {
    const { outbox } = fresh({ maxItems: 5 });
    const ids = Array.from({ length: 8 }, (_, i) => outbox.enqueue("alert", item({ i })));
    expect(ids.slice(5).map((r) => r.dropped)).toEqual([1, 1, 1]);
    expect(outbox.size("alert")).toBe(5);
    expect(outbox.peek("alert", 10).map((b) => b.item.i)).toEqual([3, 4, 5, 6, 7]);
    expect(outbox.dropped("alert")).toBe(3);
    outbox.enqueue("status", item());
    expect(outbox.size("status")).toBe(1);
    expect(outbox.dropped("status")).toBe(0);
  });

  it("refuses an item larger than the limit instead of storing it", () => {
    const { outbox } = fresh({ maxItemBytes: 1000 });
    expect(() => outbox.enqueue("alert", item({ big: "x".repeat(2000) }))).toThrow(/exceeds the 1000-byte limit/);
    expect(outbox.size()).toBe(0);
  });

  it("peek stops at the byte budget but always returns at least one item", () => {
    const { outbox } = fresh();
    for (let i = 0; i < 5; i++) outbox.enqueue("alert", item({ pad: "y".repeat(500) }));
    expect(outbox.peek("alert", 100, 1200)).toHaveLength(2);
    expect(outbox.peek("alert", 100, 10)).toHaveLength(1);
  });

  it("survives SIGKILL at any moment: every committed item is there, nothing acked comes back, the database is intact", async () => {
    for (let round = 0; round < 4; round++) {
      const path = join(dir, `crash${round}.db`);
      const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "fixtures", "outboxWriter.ts"), path], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout.on("data", (b: Buffer) => (out += b.toString()));
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (out.split("\n").length > 150 + round * 120) {
            clearInterval(check);
            child.kill("SIGKILL");
            resolve();
          }
        }, 5);
      });
      await new Promise((r) => child.once("close", r));
      const lines = out.split("\n").filter((l) => /^[EAP] /.test(l));
      const enqueued = new Set(lines.filter((l) => l.startsWith("E ")).map((l) => l.slice(2)));
      const acked = new Set(lines.filter((l) => l.startsWith("A ")).map((l) => l.slice(2)));
      const acking = new Set(lines.filter((l) => l.startsWith("P ")).map((l) => l.slice(2)));
      const db = openAgentDb(path);
      expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
      const o = new Outbox(db);
      const present = new Set([...o.peek("alert", 100_000, Infinity), ...o.peek("status", 100_000, Infinity)].map((b) => b.id));
      for (const id of enqueued) if (!acking.has(id)) expect(present.has(id), `committed item ${id} lost`).toBe(true);
      for (const id of acked) expect(present.has(id), `acked item ${id} came back`).toBe(false);
      // The one item whose commit raced the kill may be there without its line: nothing else.
      expect([...present].filter((id) => !enqueued.has(id)).length).toBeLessThanOrEqual(1);
      db.close();
    }
  }, 60_000);

  it("delivers at least once and the hub stores each id once: a lost answer means a harmless redelivery", async () => {
    const hub = await new TestHub({ name: "sqlite" }).start();
    try {
      const node = await hub.newNode();
      const { outbox } = fresh();
      const ids = Array.from({ length: 7 }, () => outbox.enqueue("alert", (id) => ({ id, time: new Date().toISOString(), alert: { Operation: "File" } })).id);
      let calls = 0;
      const deliver = async (kind: "status" | "alert", items: readonly Record<string, unknown>[]) => {
        calls += 1;
        const r = await hub.nodeReq(node, "POST", kind === "alert" ? "/v1/node/alerts" : "/v1/node/status", { items });
        if (r.status !== 200) throw new PalisadeError("HUB_STORE", `status ${r.status}`, { details: { status: r.status } });
        // The first answer is "lost" after the hub stored the batch, like a crash before ack.
        if (calls === 1) throw new PalisadeError("HUB_UNREACHABLE", "connection reset");
        return r.json as { stored: number; duplicates: string[] };
      };
      const sender = new OutboxSender(outbox, deliver, quiet);
      await expect(sender.flush()).rejects.toMatchObject({ code: "HUB_UNREACHABLE" });
      expect(outbox.size()).toBe(7);
      const r = await sender.flush();
      expect(r).toMatchObject({ delivered: 7, duplicates: 7 });
      expect(outbox.size()).toBe(0);
      const stored = await hub.req("GET", `/v1/alerts?nodeId=${node.id}&limit=100`);
      expect(stored.json.items.map((i: { id: string }) => i.id).sort()).toEqual([...ids].sort());
    } finally {
      await hub.stop();
    }
  });

  it("drops a single item the hub can never accept, after splitting the batch, and keeps the rest", async () => {
    const { outbox } = fresh();
    outbox.enqueue("alert", item({ ok: 1 }));
    const bad = outbox.enqueue("alert", item({ bad: true })).id;
    outbox.enqueue("alert", item({ ok: 2 }));
    const got: string[] = [];
    const sender = new OutboxSender(
      outbox,
      async (_k, items) => {
        if (items.some((i) => i.bad)) throw new PalisadeError("HUB_BAD_REQUEST", "unknown field", { details: { status: 400 } });
        got.push(...items.map((i) => String(i.id)));
        return { stored: items.length, duplicates: [] };
      },
      quiet,
    );
    expect(await sender.flush()).toEqual({ delivered: 2, duplicates: 0, rejected: 1 });
    expect(got).not.toContain(bad);
    expect(outbox.size()).toBe(0);
  });

  it("item ids are unique across processes and restarts", () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newItemId("alert")));
    expect(ids.size).toBe(10_000);
  });
});

import { describe, expect, it } from "vitest";
import { DenialCorrelator, type Refusal } from "../../src/sensor/denialCorrelator.js";
import { decide } from "../../src/sensor/decide.js";
import type { DenialEvent, FileEvent } from "../../src/sensor/events.js";
import type { Verdict } from "../../src/policy/index.js";

const file = (o: Partial<FileEvent> = {}): FileEvent => ({
  type: "file", source: "bpf", time: "2026-01-01T00:00:00.000000001Z", pid: 10, count: 1, cgroupId: "7",
  syscall: "openat", nr: 257, path: "/etc/passwd", pathTruncated: false, dirfd: -100, flags: 0, flagNames: "O_RDONLY", mode: 0, result: -13, errno: "EACCES", denied: true, ...o,
});
const denial = (o: Partial<DenialEvent> = {}): DenialEvent => ({
  type: "denial", source: "audit", time: "2026-01-01T00:00:00.000Z", pid: 10, count: 1, enforcer: "Landlock", serial: 1, syscall: "openat", nr: 257, result: -13, errno: "EACCES", denied: true, blockers: ["fs.read_file"], path: "/etc/passwd", records: [], ...o,
});

function collect(): { out: Refusal[]; c: DenialCorrelator } {
  const out: Refusal[] = [];
  return { out, c: new DenialCorrelator((r) => out.push(r), 100, 10_000) };
}

describe("DenialCorrelator", () => {
  it("pairs a BPF refusal with its audit record whichever comes first", () => {
    for (const order of [0, 1]) {
      const { out, c } = collect();
      const evs = [file(), denial()];
      if (order) evs.reverse();
      for (const e of evs) c.offer(e, 0);
      c.tick(50);
      expect(out).toEqual([]);
      c.tick(100);
      expect(out).toHaveLength(1);
      expect(out[0]).toMatchObject({ event: { type: "file" }, audit: { enforcer: "Landlock" }, count: 1 });
    }
  });

  it("pairs a relative path with the path audit resolved, either order, and only that path", () => {
    for (const order of [0, 1]) {
      const { out, c } = collect();
      const evs: (FileEvent | DenialEvent)[] = [file({ path: "./secret.txt" }), denial({ path: "/data/secret.txt" })];
      if (order) evs.reverse();
      for (const e of evs) c.offer(e, 0);
      c.tick(100);
      expect(out).toHaveLength(1);
      expect(out[0]).toMatchObject({ event: { type: "file", path: "./secret.txt" }, audit: { path: "/data/secret.txt" }, count: 1 });
    }
    const { out, c } = collect();
    c.offer(file({ path: "secret.txt" }), 0);
    c.offer(denial({ path: "/data/notsecret.txt" }), 0); // a suffix of the name, not of the path
    c.offer(file({ path: "../etc/passwd", pid: 12 }), 0);
    c.offer(denial({ path: "/etc/passwd", pid: 12 }), 0); // ".." is never guessed at
    c.offer(file({ path: "b", pid: 13 }), 0);
    c.offer(denial({ path: "/a/b", pid: 14 }), 0); // another process
    c.flushAll();
    expect(out).toHaveLength(6);
    expect(out.every((r) => r.event.type !== "file" || r.audit === undefined)).toBe(true);
  });

  it("counts repeats of a relative-path refusal once, like absolute ones", () => {
    const { out, c } = collect();
    c.offer(file({ path: "s" }), 0);
    for (let i = 0; i < 3; i++) c.offer(denial({ path: "/w/s", serial: i }), 0);
    c.tick(100);
    c.offer(file({ path: "s", count: 2, repeat: true }), 200); // the two later occurrences, folded by BPF
    c.tick(400);
    expect(out.map((r) => [r.event.type, r.audit?.path, r.count])).toEqual([["file", "/w/s", 3]]);
    expect(out.reduce((n, r) => n + r.count, 0)).toBe(3);
  });

  it("does not pair different paths or processes", () => {
    const { out, c } = collect();
    c.offer(file(), 0);
    c.offer(denial({ path: "/etc/shadow" }), 0);
    c.offer(denial({ pid: 11 }), 0);
    c.flushAll();
    expect(out.map((r) => [r.event.type, r.audit?.path ?? null, r.event.pid])).toEqual([
      ["file", null, 10],
      ["denial", "/etc/shadow", 10],
      ["denial", "/etc/passwd", 11],
    ]);
  });

  it("counts every occurrence once: audit records already reported are deducted from the BPF repeat line", () => {
    const { out, c } = collect();
    c.offer(file(), 0);
    for (let i = 0; i < 5; i++) c.offer(denial(), 0); // 5 occurrences, BPF printed the first in full
    c.tick(100);
    for (let i = 0; i < 3; i++) c.offer(denial(), 200); // later occurrences, after the window
    c.tick(300);
    c.offer(file({ repeat: true, count: 7 }), 400); // BPF's repeat line for occurrences 2..8
    c.flushAll();
    // 8 occurrences in all, whatever the grouping.
    expect(out.reduce((n, r) => n + r.count, 0)).toBe(8);
    expect(out.every((r) => r.audit?.enforcer === "Landlock")).toBe(true);
  });
});

describe("decide (log or alert)", () => {
  const v = (action: Verdict["action"], reason: Verdict["reason"] = "rule"): Verdict => ({ action, reason, policyName: reason === "posture" ? "DefaultPosture" : reason === "rule" ? "p" : "", severity: 3, tags: ["t"], message: "m" });
  it("maps verdicts and refusals to KubeArmor actions", () => {
    expect(decide(v("Allow"), false, false)).toBeUndefined();
    expect(decide(v("Allow", "none"), false, false)).toBeUndefined();
    expect(decide(undefined, false, false)).toBeUndefined();
    expect(decide(v("Audit"), false, false)).toMatchObject({ action: "Audit", policyName: "p", severity: 3, tags: ["t"], message: "m" });
    expect(decide(v("Block"), false, false)).toMatchObject({ action: "Block", policyName: "p" });
    expect(decide(v("Block"), false, true)).toMatchObject({ action: "Audit", policyName: "p" });
    expect(decide(v("Block", "posture"), false, true)).toMatchObject({ action: "Audit", policyName: "DefaultPosture" });
    expect(decide(v("Block"), true, false)).toMatchObject({ action: "Block", policyName: "p" });
    // Refused without a Block verdict: toKubeArmor's DefaultPosture/Block applies.
    expect(decide(v("Allow"), true, false)).toBeUndefined();
    expect(decide(v("Audit"), true, true)).toBeUndefined();
  });
});

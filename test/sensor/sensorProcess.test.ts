/**
 * SensorProcess against fake binaries (shell scripts speaking the same JSON
 * lines): bad lines are counted and never crash it, commands are acked in
 * order, drops are surfaced, BPF falls back to audit-only, and a dead child
 * rejects what was pending. No kernel needed.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { SensorEvent } from "../../src/sensor/events.js";
import { SensorProcess } from "../../src/sensor/sensorProcess.js";
import * as L from "./fixtures/lines.js";

const dirs: string[] = [];
const sensors: SensorProcess[] = [];
afterEach(async () => {
  await Promise.all(sensors.splice(0).map((s) => s.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** A bin dir with fake palisade-sensor / palisade-auditd scripts. */
function fakeBin(scripts: { sensor?: string; auditd?: string }): string {
  const d = mkdtempSync(join(tmpdir(), "palisade-fake-sensor-"));
  dirs.push(d);
  for (const [name, body] of [["palisade-sensor", scripts.sensor], ["palisade-auditd", scripts.auditd]] as const) {
    if (body === undefined) continue;
    writeFileSync(join(d, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(d, name), 0o755);
  }
  return d;
}

/** A fake sensor: prints `lines`, then answers commands like the real one. */
const talkingSensor = (lines: string[], source = "bpf") => `
echo ${q(L.READY.replace('"source":"bpf"', `"source":"${source}"`))}
${lines.map((l) => `echo ${q(l)}`).join("\n")}
while read cmd arg; do
  case "$cmd" in
    watch|unwatch) case "$arg" in
        *[!0-9]*) echo '{"type":"ack","source":"${source}","cmd":"'$cmd'","arg":"'$arg'","ok":false,"error":"no such cgroup"}' ;;
        *) echo '{"type":"ack","source":"${source}","cmd":"'$cmd'","arg":"'$arg'","ok":true,"cgroupId":"'$arg'"}' ;;
      esac ;;
    flush) echo ${q(L.STATS.replace('"dropped":0', '"dropped":7'))}; echo '{"type":"ack","source":"${source}","cmd":"flush","arg":"","ok":true}' ;;
    stats) echo ${q(L.STATS)}; echo '{"type":"ack","source":"${source}","cmd":"stats","arg":"","ok":true}' ;;
    crash) exit 9 ;;
    quit) exit 0 ;;
  esac
done`;

async function start(binDir: string, opts: Parameters<typeof SensorProcess.start>[0] = {}): Promise<SensorProcess> {
  const s = await SensorProcess.start({ binDir, audit: false, ...opts });
  sensors.push(s);
  return s;
}

describe("SensorProcess", () => {
  it("counts bad lines, never crashes, and delivers good events to listeners and iterators", async () => {
    const bin = fakeBin({ sensor: talkingSensor(["garbage {", L.FILE, '{"type":"file","source":"bpf"}', "[]", L.CONNECT, "\u0000\u00ff"]) });
    const s = await start(bin, { bpf: "required" });
    const seen: SensorEvent[] = [];
    s.on("event", (e: SensorEvent) => seen.push(e));
    const it1 = s.events();
    await s.flush(); // lines before the ack have all been handled
    expect(seen.map((e) => e.type)).toEqual(["file", "net"]);
    expect(s.counters).toMatchObject({ events: 2, occurrences: 2, invalidLines: 4 });
    expect(s.counters.lastInvalid).toMatch(/^bpf: not JSON/);
    expect(s.status()).toMatchObject({ mode: "bpf", bpf: { running: true, stats: { dropped: 7 } } });
    await s.stop();
    // Events that arrived while start() ran reach listeners and iterators attached right after it.
    expect((await it1.next()).value).toMatchObject({ type: "file" });
    expect((await it1.next()).value).toMatchObject({ type: "net" });
    expect(await it1.next()).toEqual({ value: undefined, done: true });
  });

  it("acks commands in order and surfaces growing drop counters", async () => {
    const s = await start(fakeBin({ sensor: talkingSensor([]) }), { bpf: "required" });
    const drops: number[] = [];
    s.on("dropped", (d: { delta: number }) => drops.push(d.delta));
    const [a, b] = await Promise.all([s.watch("42"), s.watch(43n)]);
    expect([a, b]).toEqual(["42", "43"]);
    await expect(s.watch("/no/such")).rejects.toThrow(/no such cgroup/);
    await expect(s.watch("42; rm -rf /")).rejects.toThrow(/not a cgroup id or absolute path/);
    expect(await s.flush()).toMatchObject({ dropped: 7 });
    expect(drops).toEqual([7]);
  });

  it("streams through the async iterator", async () => {
    // The events are printed after a command, so the iterator exists first.
    const sensor = talkingSensor([]).replace("stats) echo", `stats) echo ${q(L.EXEC)}; echo ${q(L.EXIT)}; echo`);
    const s = await start(fakeBin({ sensor }), { bpf: "required" });
    const iter = s.events();
    await s.refreshStats();
    const got: string[] = [];
    for await (const e of iter) {
      got.push(e.type);
      if (got.length === 2) break;
    }
    expect(got).toEqual(["exec", "exit"]);
  });

  it("falls back to audit only when BPF cannot load, and says why", async () => {
    const bin = fakeBin({
      sensor: `echo '{"type":"error","source":"bpf","message":"cannot load/attach the BPF programs","fatal":true}'\necho 'libbpf: prog on_exec: permission denied' >&2\nexit 2`,
      auditd: talkingSensor([L.DENIAL], "audit"),
    });
    const s = await start(bin, { audit: "optional" });
    const st = s.status();
    expect(st.mode).toBe("audit");
    expect(st.bpf.reason).toMatch(/exited with 2: libbpf: prog on_exec: permission denied/);
    await expect(s.watch("1")).rejects.toThrow(/BPF sensor is not running/);
    expect(await s.flush()).toBeUndefined();
  });

  it("fails to start when a required source cannot run, leaving nothing behind", async () => {
    const bin = fakeBin({ sensor: "exit 2" });
    await expect(SensorProcess.start({ binDir: bin, bpf: "required", audit: false })).rejects.toThrow(/bpf sensor could not start/);
    await expect(SensorProcess.start({ binDir: join(bin, "nowhere"), bpf: "required", audit: false })).rejects.toThrow(/ENOENT/);
  });

  it("rejects pending commands when the child dies, and reports the exit", async () => {
    const s = await start(fakeBin({ sensor: talkingSensor([]) }), { bpf: "required" });
    const exits: unknown[] = [];
    s.on("exit", (x: unknown) => exits.push(x));
    const crash = s.watch("1").then(() => (s as unknown as { children: { bpf: { send(c: string): Promise<unknown> } } }).children.bpf.send("crash"));
    await expect(crash).rejects.toThrow(/exited/);
    expect(exits).toEqual([{ source: "bpf", code: 9, signal: null }]);
    expect(s.status().bpf).toMatchObject({ running: false, reason: "exited with 9" });
  });

  it("kills a child that ignores quit", async () => {
    const s = await start(fakeBin({ sensor: `echo ${q(L.READY)}\ntrap '' TERM\nwhile :; do sleep 0.05; done` }), { bpf: "required" });
    const t0 = Date.now();
    await s.stop(200);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(s.status().bpf.running).toBe(false);
  });
});

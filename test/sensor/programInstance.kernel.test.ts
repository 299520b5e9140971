/**
 * Program instances and lazily reported forks (INSTANCE_NOTE and
 * LAZY_FORK_NOTE in src/native/sensor/process.bpf.h), against the kernel: a
 * process forks children that do not exec, as a server forking per
 * connection does. The same operation by all of them is one record (the
 * first child's) plus repeats that say how many came from the others; a
 * child with nothing of its own to report is not reported at all — but a
 * refused child always is, with its own pid, after its fork; a parent is
 * reported before its child; a child killed by a signal is reported. Counts
 * stay exact throughout.
 */
import { connect } from "node:net";
import { describe, expect } from "vitest";
import type { ExitEvent, FileEvent, ForkEvent, NetEvent, SensorEvent } from "../../src/sensor/events.js";
import { SensorProcess } from "../../src/sensor/sensorProcess.js";
import { kernelIt, LINUX, ROOT } from "../kernelTest.js";
import { BIN, BPF, CGROUP2, cleanupAfterEach, collect, makeCgroup, runHelper, secretFile, SENSOR_BUILT, tempDir } from "./helpers.js";

const REQS = [LINUX, ROOT, SENSOR_BUILT, BPF, CGROUP2];
const defer = cleanupAfterEach();

async function startSensor(cgroupId: string): Promise<SensorProcess> {
  // One flush interval for the whole test: every repeat comes out at the final flush.
  const s = await SensorProcess.start({ binDir: BIN, bpf: "required", audit: false, cgroupIds: [cgroupId], flushMs: 60_000 });
  defer(() => s.stop());
  return s;
}

const isFile = (e: SensorEvent): e is FileEvent => e.type === "file";
const isFork = (e: SensorEvent): e is ForkEvent => e.type === "fork";
const isExit = (e: SensorEvent): e is ExitEvent => e.type === "exit";
const childPids = (steps: readonly { step: string; arg?: string }[]) => steps.filter((s) => s.step === "child").map((s) => Number(s.arg));
const total = (lines: readonly SensorEvent[]) => lines.reduce((n, e) => n + e.count, 0);

describe("program instances (forked children that do not exec)", () => {
  kernelIt("folds the children's same operation into one record with a count, and leaves quiet children out", REQS, async () => {
    const cg = makeCgroup("inst", defer);
    const sensor = await startSensor(cg.id);
    const events = collect(sensor);
    const run = await runHelper([`cgroup=${cg.path}`, "forkeach=20", "open=/etc/hostname"]);
    expect(run.code).toBe(0);
    const kids = childPids(run.steps);
    expect(kids).toHaveLength(20);
    const stats = await sensor.flush();
    expect(stats).toMatchObject({ dropped: 0 });

    const lines = events.filter((e) => isFile(e) && e.path === "/etc/hostname");
    expect(total(lines)).toBe(20); // every open counted
    const first = lines.filter((e) => !e.repeat);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ pid: kids[0], ppid: run.pid });
    // The repeats name the first child and say that all 19 were other processes' opens.
    const repeats = lines.filter((e) => e.repeat);
    expect(repeats.every((e) => e.pid === kids[0])).toBe(true);
    expect(total(repeats)).toBe(19);
    expect(repeats.reduce((n, e) => n + (e.otherPids ?? 0), 0)).toBe(19);

    // Only the first child had a record of its own: its fork (before its open) and exit are reported.
    const forks = events.filter((e) => isFork(e) && e.ppid === run.pid);
    expect(forks.map((e) => e.pid)).toEqual([kids[0]]);
    expect(events.indexOf(forks[0]!)).toBeLessThan(events.indexOf(first[0]!));
    expect(events.filter((e) => isExit(e) && kids.includes(e.pid)).map((e) => e.pid)).toEqual([kids[0]]);
    expect(stats?.quietProcesses).toBe(19);
  });

  kernelIt("names every refused child with its own pid, after its fork", REQS, async () => {
    const cg = makeCgroup("instdeny", defer);
    const secret = secretFile(tempDir("inst"));
    const sensor = await startSensor(cg.id);
    const events = collect(sensor);
    const run = await runHelper([`cgroup=${cg.path}`, "forkeach=5", "uid=65534", "open=/etc/hostname", `open=${secret}`]);
    expect(run.code).toBe(0);
    const kids = childPids(run.steps);
    await sensor.flush();

    const refused = events.filter((e): e is FileEvent => isFile(e) && e.path === secret);
    expect(refused.map((e) => [e.pid, e.count, e.denied, e.errno])).toEqual(kids.map((k) => [k, 1, true, "EACCES"]));
    for (const r of refused) {
      const fork = events.find((e) => isFork(e) && e.pid === r.pid);
      expect(fork, `fork of ${r.pid}`).toMatchObject({ ppid: run.pid });
      expect(events.indexOf(fork!)).toBeLessThan(events.indexOf(r));
      expect(events.find((e) => isExit(e) && e.pid === r.pid)).toMatchObject({ exitCode: 0 });
    }
    // The allowed open still folds into the first child's record.
    const opens = events.filter((e) => isFile(e) && e.path === "/etc/hostname");
    expect(total(opens)).toBe(5);
    expect(opens.filter((e) => !e.repeat).map((e) => e.pid)).toEqual([kids[0]]);
  });

  kernelIt("reports a parent before its child, and a child killed by a signal", REQS, async () => {
    const cg = makeCgroup("instchain", defer);
    const sensor = await startSensor(cg.id);
    const events = collect(sensor);
    // P forks C, C forks G, G opens: C did nothing of its own but must be known before G.
    const chain = await runHelper([`cgroup=${cg.path}`, "forkeach=1", "forkeach=1", "open=/nonexistent/chain"]);
    expect(chain.code).toBe(0);
    const [c] = childPids(chain.steps).slice(-1);
    const killed = await runHelper([`cgroup=${cg.path}`, "forkeach=1", "raise=9"]);
    const [k] = childPids(killed.steps);
    await sensor.flush();

    const forkC = events.find((e) => isFork(e) && e.pid === c);
    expect(forkC).toMatchObject({ ppid: chain.pid });
    const open = events.find((e) => isFile(e) && e.path === "/nonexistent/chain")!;
    const forkG = events.find((e) => isFork(e) && e.pid === open.pid);
    expect(forkG).toMatchObject({ ppid: c });
    expect(events.indexOf(forkC!)).toBeLessThan(events.indexOf(forkG!));
    expect(events.indexOf(forkG!)).toBeLessThan(events.indexOf(open));

    // Killed before it had any record of its own: still reported, fork and exit.
    expect(events.find((e) => isFork(e) && e.pid === k)).toMatchObject({ ppid: killed.pid });
    expect(events.find((e) => isExit(e) && e.pid === k)).toMatchObject({ signal: 9 });
  });

  kernelIt("folds a server's accepts from one address, the first with its peer's port", REQS, async () => {
    const cg = makeCgroup("instaccept", defer);
    const sensor = await startSensor(cg.id);
    const events = collect(sensor);
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const server = runHelper([`cgroup=${cg.path}`, `accept=${port},5`]);
    const clientPorts: number[] = [];
    for (let i = 0; i < 5; i++) {
      // Retried until the helper listens.
      for (;;) {
        const p = await new Promise<number | undefined>((resolve) => {
          const s = connect(port, "127.0.0.1");
          s.on("connect", () => (resolve(s.localPort), s.end()));
          s.on("error", () => resolve(undefined));
        });
        if (p !== undefined) {
          clientPorts.push(p);
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const run = await server;
    expect(run.code).toBe(0);
    await sensor.flush();
    const accepts = events.filter((e): e is NetEvent => e.type === "net" && e.pid === run.pid && e.syscall.startsWith("accept"));
    expect(total(accepts)).toBe(5);
    const first = accepts.filter((e) => !e.repeat);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ addr: "127.0.0.1", port: clientPorts[0] });
    expect(accepts.filter((e) => e.repeat).every((e) => e.port === undefined && e.addr === "127.0.0.1")).toBe(true);
  });
});

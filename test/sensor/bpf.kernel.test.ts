/**
 * The BPF sensor against the real kernel: a workload in a throwaway cgroup
 * does scripted things (exec, opens, a TCP connect, a refused open) and the
 * events must arrive with the right fields — and nothing from outside the
 * cgroup. Then aggregation, then a flood where received + dropped must equal
 * exactly what was sent.
 */
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:net";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect } from "vitest";
import type { ExecEvent, ExitEvent, FileEvent, ForkEvent, NetEvent, SensorEvent } from "../../src/sensor/events.js";
import { SensorProcess } from "../../src/sensor/sensorProcess.js";
import { kernelIt, LINUX, ROOT } from "../kernelTest.js";
import { BIN, BPF, CGROUP2, cleanupAfterEach, collect, isAlive, loadedProgIds, makeCgroup, OUR_PROGS, progIdsOfPid, runHelper, secretFile, SENSOR_BUILT, tempDir } from "./helpers.js";

const REQS = [LINUX, ROOT, SENSOR_BUILT, BPF, CGROUP2];
const defer = cleanupAfterEach();
const sensorPids: number[] = [];
/** Ids of the BPF programs our sensors loaded: other processes on the host (the agent tests) may run sensors of their own. */
const ourProgIds = new Set<number>();

async function startSensor(opts: Parameters<typeof SensorProcess.start>[0] = {}): Promise<SensorProcess> {
  const s = await SensorProcess.start({ binDir: BIN, bpf: "required", audit: false, ...opts });
  const ready = s.status().bpf.ready as { pid?: number } | undefined;
  if (ready?.pid) {
    sensorPids.push(ready.pid);
    const ids = progIdsOfPid(ready.pid);
    // Loaded and attached before "ready": a sensor that holds none of our programs is itself a failure.
    expect(ids.length, `sensor pid ${ready.pid} holds no BPF program`).toBeGreaterThanOrEqual(OUR_PROGS.length);
    for (const id of ids) ourProgIds.add(id);
  }
  defer(() => s.stop());
  return s;
}


function listen(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer((sock) => sock.end());
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === "object" && addr ? addr.port : 0 });
    });
    defer(() => new Promise<void>((r) => server.close(() => r())));
  });
}

const ofPid = (events: readonly SensorEvent[], pid: number) => events.filter((e) => e.pid === pid);
const isFile = (e: SensorEvent): e is FileEvent => e.type === "file";
const isNet = (e: SensorEvent): e is NetEvent => e.type === "net";


afterAll(async () => {
  // Nothing may outlive the tests: no sensor process, no BPF program of ours
  // (the kernel frees programs shortly after their last fd closes: poll a little).
  for (const pid of sensorPids) expect(isAlive(pid), `sensor pid ${pid} still running`).toBe(false);
  if (process.getuid?.() !== 0) return;
  const ours = () => loadedProgIds().filter((id) => ourProgIds.has(id));
  let left = ours();
  for (let i = 0; i < 50 && left.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = ours();
  }
  expect(left, "BPF programs our sensors loaded are still loaded").toEqual([]);
});

describe("palisade-sensor (BPF tracepoints)", () => {
  kernelIt("reports exec, file, network and denied events of the watched cgroup only, with correct fields", REQS, async () => {
    const cg = makeCgroup("fields", defer);
    const dir = tempDir("sensor");
    defer(() => rmSync(dir, { recursive: true, force: true }));
    const secret = secretFile(dir);
    const marker = join(dir, "outsider-marker");
    const { port } = await listen();
    const sensor = await startSensor({ cgroupIds: [cg.id] });
    const events = collect(sensor);

    const [inside, outside] = await Promise.all([
      runHelper([`cgroup=${cg.path}`, "open=/etc/hostname", `open=${dir}/missing`, `connect=127.0.0.1,${port}`, "uid=65534", `open=${secret}`, "--", "/bin/busybox", "cat", "/etc/hostname"]),
      runHelper([`open=${marker}`, "open=/etc/hostname"]),
    ]);
    expect(inside.code).toBe(0);
    expect(inside.steps.find((s) => s.step === "open" && s.arg === secret)?.result).toBe(-13);
    const stats = await sensor.flush(); // every event produced so far has been emitted now
    const mine = ofPid(events, inside.pid);

    // Outside the cgroup: nothing, not even the same file.
    expect(ofPid(events, outside.pid)).toEqual([]);
    expect(events.filter((e) => isFile(e) && e.path === marker)).toEqual([]);
    expect(events.every((e) => e.cgroupId === cg.id)).toBe(true);

    const opens = mine.filter(isFile);
    const hostname = opens.find((e) => e.path === "/etc/hostname" && e.uid === 0);
    expect(hostname).toMatchObject({ syscall: "openat", dirfd: -100, flags: 0, flagNames: "O_RDONLY", denied: false, ppid: process.pid, comm: "palisade-sensor" });
    expect(hostname!.result).toBeGreaterThanOrEqual(0);
    expect(opens.find((e) => e.path === `${dir}/missing`)).toMatchObject({ result: -2, errno: "ENOENT", denied: false });
    expect(opens.find((e) => e.path === secret)).toMatchObject({ result: -13, errno: "EACCES", denied: true, uid: 65534 });

    const net = mine.filter(isNet);
    expect(net.find((e) => e.syscall === "socket")).toMatchObject({ family: "AF_INET", sockType: "SOCK_STREAM", protocolName: "TCP" });
    expect(net.find((e) => e.syscall === "connect")).toMatchObject({ family: "AF_INET", addr: "127.0.0.1", port, result: 0, protocol: 6, denied: false });

    const exec = mine.find((e): e is ExecEvent => e.type === "exec");
    expect(exec).toMatchObject({ filename: "/bin/busybox", argv: ["/bin/busybox", "cat", "/etc/hostname"], result: 0, uid: 65534, ppid: process.pid, exe: "/bin/busybox" });
    // After exec, the same pid opens the file as busybox's cat; the table names the process.
    const catOpen = opens.find((e) => e.path === "/etc/hostname" && e.uid === 65534);
    expect(catOpen).toMatchObject({ comm: "busybox", exe: "/bin/busybox", cmdline: "/bin/busybox cat /etc/hostname" });
    expect(catOpen!.result).toBeGreaterThanOrEqual(0);
    expect(mine.find((e): e is ExitEvent => e.type === "exit")).toMatchObject({ exitCode: 0, signal: 0 });

    // Small run: nothing dropped, and the counters add up.
    expect(stats).toMatchObject({ dropped: 0 });
    expect(stats!.received).toBeGreaterThanOrEqual(events.length - (stats!.repeats ?? 0) > 0 ? 1 : 0);
    expect(sensor.counters.invalidLines).toBe(0);
  });

  kernelIt("watches and unwatches cgroups through stdin commands, and reports forks", REQS, async () => {
    const cg = makeCgroup("watch", defer);
    const sensor = await startSensor();
    const events = collect(sensor);
    expect(await sensor.watch(cg.path)).toBe(cg.id);

    const sh = spawn("/bin/sh", ["-c", `echo $$ > ${cg.path}/cgroup.procs; exec /bin/busybox sh -c '/bin/busybox true; /bin/busybox true; echo'`], { stdio: "ignore" });
    await new Promise((r) => sh.on("close", r));
    await sensor.flush();
    const forks = events.filter((e): e is ForkEvent => e.type === "fork" && e.ppid === sh.pid);
    expect(forks).toHaveLength(2);
    for (const f of forks) {
      expect(f.cgroupId).toBe(cg.id);
      expect(events.find((e) => e.type === "exec" && e.pid === f.pid)).toMatchObject({ argv: ["/bin/busybox", "true"] });
      expect(events.find((e) => e.type === "exit" && e.pid === f.pid)).toMatchObject({ exitCode: 0 });
    }

    expect(await sensor.unwatch(cg.id)).toBe(cg.id);
    const before = events.length;
    const again = await runHelper([`cgroup=${cg.path}`, "open=/etc/hostname"]);
    await sensor.flush();
    expect(ofPid(events, again.pid)).toEqual([]);
    expect(events.length).toBe(before);
    await expect(sensor.watch("not-a-cgroup")).rejects.toThrow(/not a cgroup/);
    await expect(sensor.watch("/tmp")).rejects.toThrow(/not a cgroup v2 directory/);
  });

  kernelIt("aggregates repeated events in the kernel: 5000 opens arrive as a few lines whose counts sum to 5000", REQS, async () => {
    const cg = makeCgroup("agg", defer);
    const sensor = await startSensor({ cgroupIds: [cg.id], flushMs: 100 });
    const events = collect(sensor);
    const run = await runHelper([`cgroup=${cg.path}`, "repeat=/etc/hostname,5000"]);
    const stats = await sensor.flush();
    const lines = events.filter((e): e is FileEvent => isFile(e) && e.pid === run.pid && e.path === "/etc/hostname");
    expect(lines.reduce((n, e) => n + e.count, 0)).toBe(5000);
    expect(lines.length).toBeLessThan(100);
    expect(lines.some((e) => e.repeat === true && e.count > 1)).toBe(true);
    expect(stats).toMatchObject({ dropped: 0 });
    expect(stats!.repeats).toBeGreaterThan(0);
  });

  kernelIt(
    "never loses events silently: under a flood, received + dropped equals what was sent",
    REQS,
    async () => {
      const cg = makeCgroup("flood", defer);
      const dir = tempDir("flood");
      defer(() => rmSync(dir, { recursive: true, force: true }));
      const sent = 200_000;
      // A 16 KiB ring holds ~40 records: a flood of distinct (unaggregatable) opens must overflow it.
      const sensor = await startSensor({ cgroupIds: [cg.id], ringbufKb: 16 });
      let received = 0;
      sensor.on("event", (e: SensorEvent) => {
        if (isFile(e) && e.path.startsWith(`${dir}/f`)) received += e.count;
      });
      const t0 = process.hrtime.bigint();
      await runHelper([`cgroup=${cg.path}`, `flood=${dir}/f,${sent}`]);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const stats = await sensor.flush();
      const dropped = stats!.droppedByKind!.file!;
      console.log(`flood, 16 KiB ring: sent ${sent} in ${ms.toFixed(0)} ms, received ${received}, dropped ${dropped}`);
      expect(received + dropped).toBe(sent);
      expect(dropped).toBeGreaterThan(0);
      expect(stats!.dropped).toBe(dropped); // only file events were lost
    },
    120_000,
  );

  kernelIt(
    "keeps up with a flood given a large ring buffer (measures events/s)",
    REQS,
    async () => {
      const cg = makeCgroup("rate", defer);
      const dir = tempDir("rate");
      defer(() => rmSync(dir, { recursive: true, force: true }));
      const sent = 100_000;
      const sensor = await startSensor({ cgroupIds: [cg.id], ringbufKb: 65536 });
      let received = 0;
      sensor.on("event", (e: SensorEvent) => {
        if (isFile(e) && e.path.startsWith(`${dir}/f`)) received += e.count;
      });
      const t0 = process.hrtime.bigint();
      await runHelper([`cgroup=${cg.path}`, `flood=${dir}/f,${sent}`]);
      const stats = await sensor.flush();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const dropped = stats!.droppedByKind!.file!;
      console.log(`flood, 64 MiB ring: ${sent} distinct opens → ${received} events in ${ms.toFixed(0)} ms (${Math.round((received / ms) * 1000)} events/s end to end, JSON parsed in Node), dropped ${dropped}`);
      expect(received + dropped).toBe(sent);
      expect(dropped).toBe(0);
    },
    120_000,
  );
});

/**
 * palisade-auditd against the real kernel: a process restricted by Landlock
 * is refused a file read (same exec and after exec) and a TCP connect; the
 * denials must arrive from audit netlink with the right path, port and pid,
 * be attributed to the workload's cgroup, map to a KubeArmor alert — and the
 * kernel's audit setting must be as we found it afterwards.
 */
import { createServer, type Server } from "node:net";
import { describe, expect } from "vitest";
import type { DenialEvent, FileEvent, SensorEvent } from "../../src/sensor/events.js";
import { toKubeArmor, type KubeArmorAlert } from "../../src/sensor/kubearmor.js";
import { SensorProcess } from "../../src/sensor/sensorProcess.js";
import { kernelIt, LINUX, ROOT } from "../kernelTest.js";
import { AUDIT, auditEnabled, BIN, BPF, CGROUP2, cleanupAfterEach, collect, isAlive, LANDLOCK_AUDIT, makeCgroup, runHelper, SENSOR_BUILT, waitFor } from "./helpers.js";

const defer = cleanupAfterEach();

const isDenial = (e: SensorEvent): e is DenialEvent => e.type === "denial";

function listen(): Promise<number> {
  return new Promise((resolve) => {
    const server: Server = createServer((s) => s.end());
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      resolve(typeof a === "object" && a ? a.port : 0);
    });
    defer(() => new Promise<void>((r) => server.close(() => r())));
  });
}

describe("palisade-auditd (Landlock denials from audit netlink)", () => {
  kernelIt(
    "reports Landlock denials with path, port, pid and cgroup, and restores the audit setting",
    [LINUX, ROOT, SENSOR_BUILT, BPF, CGROUP2, AUDIT, LANDLOCK_AUDIT],
    async () => {
      const auditBefore = auditEnabled();
      const cg = makeCgroup("audit", defer);
      const port = await listen();
      const sensor = await SensorProcess.start({ binDir: BIN, bpf: "required", audit: "required", cgroupIds: [cg.id] });
      defer(() => sensor.stop());
      expect(sensor.status().mode).toBe("bpf+audit");
      expect(auditEnabled()).toBeGreaterThanOrEqual(1);
      const events = collect(sensor);

      // 1. Denied in the process that restricted itself (logged by default).
      const same = await runHelper([`cgroup=${cg.path}`, "landlock-fs=/usr/bin/busybox", "open=/etc/hostname", "sleep=300"]);
      expect(same.steps.find((s) => s.step === "open")?.result).toBe(-13);
      const d1 = await waitFor(events, (e): e is DenialEvent => isDenial(e) && e.pid === same.pid);
      expect(d1).toMatchObject({
        source: "audit",
        enforcer: "Landlock",
        path: "/etc/hostname",
        blockers: ["fs.read_file"],
        syscall: "openat",
        result: -13,
        errno: "EACCES",
        denied: true,
        cgroupId: cg.id,
        ppid: process.pid,
      });
      expect(d1.domainInfo).toMatchObject({ pid: same.pid });
      // The BPF side saw the same refusal, as a file event.
      await sensor.flush();
      expect(events.find((e): e is FileEvent => e.type === "file" && e.pid === same.pid && e.path === "/etc/hostname")).toMatchObject({ denied: true, result: -13 });

      // 2. Denied after exec: logged only thanks to LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON; same pid, new exe.
      const exec = await runHelper([`cgroup=${cg.path}`, "landlock-log-exec", "landlock-fs=/usr/bin/busybox", "--", "/bin/busybox", "cat", "/etc/hostname"]);
      expect(exec.code).not.toBe(0);
      const d2 = await waitFor(events, (e): e is DenialEvent => isDenial(e) && e.pid === exec.pid);
      expect(d2).toMatchObject({ path: "/etc/hostname", exe: "/usr/bin/busybox", blockers: ["fs.read_file"], cgroupId: cg.id });

      // 3. A refused TCP connect names the address and port.
      const net = await runHelper([`cgroup=${cg.path}`, "landlock-net", `connect=127.0.0.1,${port}`, "sleep=300"]);
      expect(net.steps.find((s) => s.step === "connect")?.result).toBe(-13);
      const d3 = await waitFor(events, (e): e is DenialEvent => isDenial(e) && e.pid === net.pid);
      expect(d3).toMatchObject({ blockers: ["net.connect_tcp"], addr: "127.0.0.1", port, syscall: "connect", result: -13 });

      // The denial as KubeArmor would report it, attributed through the runtime's lookup.
      const alert = toKubeArmor(d1, {
        clusterName: "edge",
        hostName: "gw-1",
        lookup: (id) => (id === cg.id ? { containerId: "c0ffee", containerName: "app", namespace: "default", labels: { app: "demo" }, image: "demo:1" } : undefined),
      }) as KubeArmorAlert;
      expect(alert).toMatchObject({
        Type: "MatchedPolicy",
        PolicyName: "DefaultPosture",
        ContainerID: "c0ffee",
        Operation: "File",
        Resource: "/etc/hostname",
        Enforcer: "Landlock",
        Action: "Block",
        Result: "Permission denied",
        HostPID: same.pid,
        Labels: "app=demo",
      });

      const auditPid = (sensor.status().audit.ready as { pid?: number }).pid!;
      await sensor.stop();
      expect(isAlive(auditPid)).toBe(false);
      expect(auditEnabled()).toBe(auditBefore);
    },
    60_000,
  );

  kernelIt(
    "two sensors share the audit switch: the first to exit leaves audit on for the other",
    [LINUX, ROOT, SENSOR_BUILT, AUDIT],
    async () => {
      const auditBefore = auditEnabled();
      // With audit off before, the old code had the first sensor (which turned it on) turn it off under the second.
      const first = await SensorProcess.start({ binDir: BIN, bpf: false, audit: "required" });
      defer(() => first.stop());
      const second = await SensorProcess.start({ binDir: BIN, bpf: false, audit: "required" });
      defer(() => second.stop());
      expect(auditEnabled()).toBeGreaterThanOrEqual(1);
      await first.stop();
      expect(auditEnabled()).toBeGreaterThanOrEqual(1);
      // The other sensor still hears denials (its stats command still answers with audit on).
      expect(second.status().audit.running).toBe(true);
      await second.stop();
      // The last one restores what the first one found (unless another Palisade sensor on the host still runs).
      expect(auditEnabled()).toBe(auditBefore);
    },
    30_000,
  );
});

import { describe, expect, it } from "vitest";
import { parseSensorLine, type SensorEvent } from "../../src/sensor/events.js";
import { resultText, toKubeArmor, type KubeArmorMapOptions } from "../../src/sensor/kubearmor.js";
import { ProcessTable } from "../../src/sensor/processTable.js";
import * as L from "./fixtures/lines.js";

function ev(line: string): SensorEvent {
  const p = parseSensorLine(line);
  if (p.kind !== "event") throw new Error(`not an event: ${line}`);
  return p.event;
}

const opts: KubeArmorMapOptions = {
  clusterName: "edge",
  hostName: "gw-1",
  lookup: (id) =>
    id === "82" ? { containerId: "abc123", containerName: "web", namespace: "shop", podName: "web-0", labels: { tier: "front", app: "web" }, image: "registry.local/web:1@sha256:00" } : undefined,
};

/** Events as SensorProcess delivers them: enriched from the process table. */
function enriched(lines: string[]): SensorEvent[] {
  const t = new ProcessTable({ procFallback: false });
  return lines.map((l) => {
    const e = ev(l);
    t.observe(e);
    return t.enrich(e);
  });
}

describe("toKubeArmor", () => {
  it("maps a file open to a KubeArmor ContainerLog with the documented fields", () => {
    const [, , , file] = enriched([L.EXEC, L.FORK, L.EXEC_SELF, L.FILE]);
    expect(toKubeArmor(file!, opts)).toEqual({
      Timestamp: 1795428890,
      UpdatedTime: "2026-11-23T10:14:50.351376Z",
      ClusterName: "edge",
      HostName: "gw-1",
      NamespaceName: "shop",
      PodName: "web-0",
      Labels: "app=web,tier=front",
      ContainerID: "abc123",
      ContainerName: "web",
      ContainerImage: "registry.local/web:1@sha256:00",
      HostPPID: 21524,
      HostPID: 21525,
      PPID: 1,
      PID: 7,
      UID: 0,
      ParentProcessName: "/bin/busybox",
      ProcessName: "/bin/busybox",
      Type: "ContainerLog",
      Source: "/bin/busybox /etc/hostname /nonexist",
      Operation: "File",
      Resource: "/etc/hostname",
      Data: "syscall=SYS_OPENAT fd=-100 flags=O_RDONLY|O_CLOEXEC",
      Result: "Passed",
    });
  });

  it("maps exec to a Process log whose Source is the parent and Resource the command", () => {
    const [exec] = enriched([L.EXEC]);
    expect(toKubeArmor(exec!, opts)).toMatchObject({ Operation: "Process", ProcessName: "/bin/busybox", Resource: "/bin/busybox sh -c cat /etc/hostname", Data: "syscall=SYS_EXECVE", Result: "Passed" });
  });

  it("maps network events with KubeArmor's Resource forms", () => {
    expect(toKubeArmor(ev(L.SOCKET), opts)).toMatchObject({ Operation: "Network", Resource: "domain=AF_INET type=SOCK_STREAM protocol=0", Data: "syscall=SYS_SOCKET fd=3" });
    expect(toKubeArmor(ev(L.CONNECT), opts)).toMatchObject({ Operation: "Network", Resource: "sa_family=AF_INET sin_port=9 sin_addr=127.0.0.1", Data: "syscall=SYS_CONNECT fd=3", Result: "Connection refused" });
  });

  it("turns a kernel refusal into a DefaultPosture alert with Action Block", () => {
    const a = toKubeArmor(ev(L.FILE_DENIED), opts);
    expect(a).toMatchObject({ Type: "MatchedPolicy", PolicyName: "DefaultPosture", Action: "Block", Enforcer: "eBPF Monitor", Result: "Permission denied", Resource: "/etc/shadow", UID: 65534 });
    expect(toKubeArmor(ev(L.SYSCALL), opts)).toMatchObject({ Operation: "Syscall", Data: "syscall=SYS_SETUID", Result: "Operation not permitted", Action: "Block" });
  });

  it("maps Landlock denials by what was blocked, with the enforcer named", () => {
    const d = { ...ev(L.DENIAL), cgroupId: "82" } as SensorEvent;
    expect(toKubeArmor(d, opts)).toMatchObject({ Operation: "File", Resource: "/etc/hostname", Enforcer: "Landlock", Data: "syscall=SYS_OPENAT blockers=fs.read_file", ContainerID: "abc123", ProcessName: "/tmp/sb/palisade-sensor-testhelper" });
    expect(toKubeArmor(ev(L.DENIAL_NET), opts)).toMatchObject({ Operation: "Network", Resource: "remoteip=127.0.0.1 port=9", Type: "MatchedHostPolicy" });
  });

  it("uses the matched policy's fields when given, host events become Host types", () => {
    const m = { policyName: "ksp-web-audit-files", severity: 5, tags: ["NIST", "FIM"], message: "read of hostname", action: "Audit" as const };
    expect(toKubeArmor(ev(L.FILE), opts, m)).toMatchObject({ Type: "MatchedPolicy", PolicyName: "ksp-web-audit-files", Severity: "5", Tags: "NIST,FIM", ATags: ["NIST", "FIM"], Message: "read of hostname", Action: "Audit", Result: "Passed" });
    const host = toKubeArmor(ev(L.FILE.replace('"cgroupId":"82"', '"cgroupId":"1"')), opts);
    expect(host).toMatchObject({ Type: "HostLog" });
    expect(host).not.toHaveProperty("ContainerID");
  });

  it("reports aggregated occurrences as Count, and has no record for fork/exit", () => {
    expect(toKubeArmor(ev(L.FILE_REPEAT), opts)).toMatchObject({ Count: 4999 });
    expect(toKubeArmor(ev(L.FILE), opts)).not.toHaveProperty("Count");
    expect(toKubeArmor(ev(L.FORK), opts)).toBeNull();
    expect(toKubeArmor(ev(L.EXIT), opts)).toBeNull();
  });

  it("says how many of a program instance's occurrences were other processes', and drops the port a folded accept has not", () => {
    const repeat = JSON.parse(L.FILE_REPEAT) as Record<string, unknown>;
    expect(toKubeArmor(ev(JSON.stringify({ ...repeat, otherPids: 4998 })), opts)).toMatchObject({ Count: 4999, OtherPIDs: 4998, HostPID: 21525 });
    expect(toKubeArmor(ev(L.FILE_REPEAT), opts)).not.toHaveProperty("OtherPIDs");
    const accept = { ...(JSON.parse(L.CONNECT) as Record<string, unknown>), syscall: "accept", nr: 43, result: 4, errno: undefined, count: 9, repeat: true, otherPids: 0 };
    expect(toKubeArmor(ev(JSON.stringify({ ...accept, port: undefined })), opts)).toMatchObject({ Resource: "sa_family=AF_INET sin_addr=127.0.0.1", Count: 9 });
    expect(toKubeArmor(ev(JSON.stringify({ ...accept, family: "AF_INET6", addr: "::1", port: undefined })), opts)).toMatchObject({ Resource: "sa_family=AF_INET6 sin6_addr=::1" });
    expect(toKubeArmor(ev(JSON.stringify(accept)), opts)).toMatchObject({ Resource: "sa_family=AF_INET sin_port=9 sin_addr=127.0.0.1" });
  });

  it("words results like strerror", () => {
    expect(resultText(0, undefined)).toBe("Passed");
    expect(resultText(-2, "ENOENT")).toBe("No such file or directory");
    expect(resultText(-1, "EPERM")).toBe("Operation not permitted");
    expect(resultText(-9999, undefined)).toBe("Error 9999");
  });
});

describe("ProcessTable", () => {
  it("resolves /proc/self/exe re-execs to the binary, inherits across fork, and attributes audit events", () => {
    const t = new ProcessTable({ procFallback: false });
    for (const l of [L.EXEC, L.FORK, L.EXEC_SELF]) t.observe(ev(l));
    expect(t.get(21525)).toMatchObject({ exe: "/bin/busybox", cmdline: "/bin/busybox /etc/hostname /nonexist", ppid: 21524, cgroupId: "82" });
    const denial = t.enrich(ev(L.DENIAL.replace(/"pid":23191,"ppid":23172/, '"pid":21525,"ppid":21524')));
    expect(denial).toMatchObject({ cgroupId: "82", parentExe: "/bin/busybox" });
    t.observe(ev(L.EXIT));
    expect(t.get(21524)?.exited).toBe(true);
  });

  it("stays bounded, forgetting exited processes first", () => {
    const t = new ProcessTable({ maxEntries: 3, procFallback: false });
    const exec = (pid: number) => ev(L.EXEC.replace(/"pid":21524,"tid":21524/, `"pid":${pid},"tid":${pid}`));
    t.observe(exec(1));
    t.observe(exec(2));
    t.observe(ev(L.EXIT.replace(/"pid":21524,"tid":21524/, '"pid":1,"tid":1')));
    t.observe(exec(3));
    t.observe(exec(4));
    expect(t.size).toBe(3);
    expect(t.get(1)).toBeUndefined();
    expect(t.get(2)).toBeDefined();
  });
});

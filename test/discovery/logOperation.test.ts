/**
 * operationOf(): KubeArmor records → policy operations. Records come from the
 * real mapper (toKubeArmor) over real captured sensor lines where the sensor
 * produces them, and are written by hand in KubeArmor's form otherwise.
 */
import { describe, expect, it } from "vitest";
import { parseSensorLine, type SensorEvent } from "../../src/sensor/events.js";
import { toKubeArmor, type KubeArmorLog } from "../../src/sensor/kubearmor.js";
import { operationOf } from "../../src/sensor/logOperation.js";
import { ProcessTable } from "../../src/sensor/processTable.js";
import * as L from "../sensor/fixtures/lines.js";

const opts = { clusterName: "edge", hostName: "gw-1", lookup: () => ({ containerId: "c", containerName: "web", namespace: "default", labels: { app: "web" }, image: "web:1" }) };

function records(lines: string[]): KubeArmorLog[] {
  const t = new ProcessTable({ procFallback: false });
  return lines.flatMap((l) => {
    const p = parseSensorLine(l);
    if (p.kind !== "event") throw new Error(`not an event: ${l}`);
    t.observe(p.event);
    const r = toKubeArmor(t.enrich(p.event) as SensorEvent, opts);
    return r ? [r] : [];
  });
}

const base = { Source: "", ProcessName: "", ParentProcessName: "", Result: "Passed", Data: "", Resource: "" };

describe("operationOf on the real mapper's records", () => {
  const [exec, execSelf, file, fileDenied, socket, connect, sys] = records([L.EXEC, L.FORK, L.EXEC_SELF, L.FILE, L.FILE_DENIED, L.SOCKET, L.CONNECT, L.SYSCALL]);

  it("exec: the program run, by its parent's binary", () => {
    expect(exec!.Operation).toBe("Process");
    expect(operationOf(exec!)).toEqual({ kind: "process", path: "/bin/busybox" });
    expect(operationOf(execSelf!)).toEqual({ kind: "process", path: "/bin/busybox", source: "/bin/busybox" });
  });

  it("file opens: read or write from the flags, by the acting binary", () => {
    expect(operationOf(file!)).toEqual({ kind: "file", path: "/etc/hostname", write: false, source: "/bin/busybox" });
    expect(operationOf(fileDenied!)).toMatchObject({ kind: "file", path: "/etc/shadow", write: false });
  });

  it("socket(): protocol from domain/type/protocol; connect without a socket type has none", () => {
    expect(operationOf(socket!)).toMatchObject({ kind: "network", protocol: "tcp" });
    expect(connect!.Resource).toMatch(/^sa_family=AF_INET /);
    expect(operationOf(connect!)).toBeUndefined();
  });

  it("other refused syscalls", () => {
    expect(operationOf(sys!)).toMatchObject({ kind: "syscall", syscall: "setuid" });
  });

  it("Landlock denials: by blocker", () => {
    const [d, dn] = records([L.DENIAL, L.DENIAL_NET]);
    expect(operationOf(d!)).toEqual({ kind: "file", path: "/etc/hostname", write: false, source: "/tmp/sb/palisade-sensor-testhelper" });
    expect(operationOf(dn!)).toEqual({ kind: "network", protocol: "tcp", source: "/tmp/sb/palisade-sensor-testhelper" });
  });
});

describe("operationOf on hand-written KubeArmor records", () => {
  const file = (flags: string) => operationOf({ ...base, Operation: "File", Resource: "/data/x", Data: `syscall=SYS_OPENAT fd=-100 flags=${flags}`, ProcessName: "/app/bin/w" });
  it.each([
    ["O_RDONLY", false],
    ["O_RDONLY|O_CLOEXEC", false],
    ["O_RDONLY|O_DIRECTORY", false],
    ["O_WRONLY", true],
    ["O_RDWR|O_CLOEXEC", true],
    ["O_RDONLY|O_CREAT", true],
    ["O_WRONLY|O_CREAT|O_TRUNC", true],
    ["O_RDONLY|O_TRUNC", true],
  ])("flags=%s → write %s", (flags, write) => expect(file(flags)).toEqual({ kind: "file", path: "/data/x", write, source: "/app/bin/w" }));

  it("Landlock file denials: write when a missing right is not a read", () => {
    const d = (blockers: string) => operationOf({ ...base, Operation: "File", Resource: "/data/x", Data: `syscall=SYS_OPENAT blockers=${blockers}`, Result: "Permission denied" });
    expect(d("fs.read_file")).toMatchObject({ write: false });
    expect(d("fs.read_dir")).toMatchObject({ write: false });
    expect(d("fs.write_file")).toMatchObject({ write: true });
    expect(d("fs.make_reg,fs.read_file")).toMatchObject({ write: true });
  });

  it("the actor falls back to the first word of Source (KubeArmor's command line)", () => {
    expect(operationOf({ ...base, Operation: "File", Resource: "/etc/passwd", Data: "flags=O_RDONLY", Source: "/bin/cat /etc/passwd" })).toEqual({ kind: "file", path: "/etc/passwd", write: false, source: "/bin/cat" });
    expect(operationOf({ ...base, Operation: "File", Resource: "/etc/passwd", Data: "flags=O_RDONLY", Source: "cat /etc/passwd" })).toEqual({ kind: "file", path: "/etc/passwd", write: false });
  });

  it("failed and denied execs: the caller is the source", () => {
    expect(operationOf({ ...base, Operation: "Process", Resource: "/bin/sh -c id", ProcessName: "/usr/bin/app", ParentProcessName: "/sbin/init", Result: "Permission denied", Data: "syscall=SYS_EXECVE" })).toEqual({ kind: "process", path: "/bin/sh", source: "/usr/bin/app" });
    expect(operationOf({ ...base, Operation: "Process", Resource: "/opt/my tool", ProcessName: "/usr/bin/app", Result: "Permission denied", Data: "syscall=SYS_EXECVE blockers=fs.execute" })).toEqual({ kind: "process", path: "/opt/my tool", source: "/usr/bin/app" });
  });

  it.each([
    ["domain=AF_INET type=SOCK_DGRAM protocol=0", "udp"],
    ["domain=AF_INET6 type=SOCK_STREAM protocol=6", "tcp"],
    ["domain=AF_INET type=SOCK_DGRAM protocol=1", "icmp"],
    ["domain=AF_INET6 type=SOCK_RAW protocol=58", "icmpv6"],
    ["domain=AF_INET type=SOCK_RAW protocol=255", "raw"],
    ["domain=AF_INET type=SOCK_RAW protocol=0", "raw"],
    ["domain=AF_INET type=SOCK_STREAM protocol=132", "sctp"],
    ["domain=AF_PACKET type=SOCK_RAW protocol=768", "raw"],
    ["sa_family=AF_INET sin_port=53 sin_addr=10.0.0.1 type=SOCK_DGRAM", "udp"],
    ["domain=AF_UNIX type=SOCK_STREAM protocol=0", undefined],
    ["domain=AF_NETLINK type=SOCK_RAW protocol=0", undefined],
    ["sa_family=AF_UNIX sun_path=/run/x.sock", undefined],
  ])("network %s → %s", (resource, protocol) => {
    const op = operationOf({ ...base, Operation: "Network", Resource: resource, Data: "syscall=SYS_SOCKET fd=3", ProcessName: "/bin/nc" });
    expect(op).toEqual(protocol ? { kind: "network", protocol, source: "/bin/nc" } : undefined);
  });

  it("capabilities in either spelling; unknown ones are no operation", () => {
    expect(operationOf({ ...base, Operation: "Capabilities", Resource: "CAP_NET_RAW", ProcessName: "/bin/ping" })).toEqual({ kind: "capability", capability: "net_raw", source: "/bin/ping" });
    expect(operationOf({ ...base, Operation: "Capabilities", Resource: "sys_admin" })).toEqual({ kind: "capability", capability: "sys_admin" });
    expect(operationOf({ ...base, Operation: "Capabilities", Resource: "CAP_FLY" })).toBeUndefined();
  });

  it("syscalls keep an absolute Resource as their path, except seccomp denials", () => {
    expect(operationOf({ ...base, Operation: "Syscall", Resource: "/data/a", Data: "syscall=SYS_UNLINK" })).toEqual({ kind: "syscall", syscall: "unlink", path: "/data/a" });
    expect(operationOf({ ...base, Operation: "Syscall", Resource: "/usr/bin/app", Data: "syscall=SYS_MOUNT action=KILL_PROCESS" })).toEqual({ kind: "syscall", syscall: "mount" });
    expect(operationOf({ ...base, Operation: "Syscall", Data: "syscall=SYS_UNKNOWN" })).toBeUndefined();
  });

  it("records with nothing to match are no operation", () => {
    expect(operationOf({ ...base, Operation: "File" })).toBeUndefined();
    expect(operationOf({ ...base })).toBeUndefined();
    expect(operationOf({ Operation: "Bogus" })).toBeUndefined();
  });
});

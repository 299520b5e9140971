/**
 * summarizeProfile's peers of a server: accepted connections are counted by
 * the address they came from, not by the client's ephemeral port (which the
 * sensor keeps only on the first record of a run of accepts: ACCEPT_NOTE in
 * src/native/sensor/syscalls.bpf.h).
 */
import { describe, expect, it } from "vitest";
import { summarizeProfile } from "../../src/discovery/index.js";
import type { NetEvent } from "../../src/sensor/events.js";
import { toKubeArmor, type KubeArmorLog } from "../../src/sensor/kubearmor.js";

const lookup = () => ({ containerId: "c1", containerName: "web", namespace: "default", labels: { app: "web" }, image: "web:1" });

function net(o: Partial<NetEvent>): KubeArmorLog {
  const ev: NetEvent = { type: "net", source: "bpf", time: "2026-12-07T06:00:00.000000001Z", pid: 7, ppid: 1, cgroupId: "9", count: 1, syscall: "accept4", nr: 288, fd: 3, family: "AF_INET", protocol: 6, protocolName: "TCP", sockType: "SOCK_STREAM", result: 4, denied: false, exe: "/bin/httpd", ...o };
  return toKubeArmor(ev, { lookup, hostName: "h" })!;
}

describe("summarizeProfile peers", () => {
  it("counts a server's accepts by the client's address, with or without the client's port", () => {
    const records = [
      net({ addr: "10.0.0.9", port: 51234 }), // the first accept from 10.0.0.9
      net({ addr: "10.0.0.9", count: 411, repeat: true, otherPids: 0 }), // its repeats: no port
      net({ addr: "10.0.0.10", port: 40001 }),
      net({ syscall: "connect", nr: 42, addr: "10.0.0.7", port: 80, result: 0 }),
    ];
    expect(records[1]!.Resource).toBe("sa_family=AF_INET sin_addr=10.0.0.9");
    const p = summarizeProfile(records, ["web"]);
    const httpd = p.binaries.find((b) => b.binary === "/bin/httpd");
    expect(httpd?.peers).toEqual([
      { name: "from 10.0.0.9", count: 412 },
      { name: "10.0.0.7:80", count: 1 },
      { name: "from 10.0.0.10", count: 1 },
    ]);
  });
});

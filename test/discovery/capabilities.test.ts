/**
 * Discovery from capability records (the sensor's capability events through
 * toKubeArmor): `recommend` allows the capabilities the workload used, scoped
 * to the binary that used them, and not those it lacked (the kernel refused
 * them and the workload lived without); `profile` lists both, the lacked ones
 * as refusals. The recommended policy, evaluated, allows every capability the
 * workload used and blocks the one it was refused.
 */
import { describe, expect, it } from "vitest";
import { recommendPolicyData, renderProfile, summarizeProfile } from "../../src/discovery/index.js";
import { combinePolicies, evaluate, parseDocuments } from "../../src/policy/index.js";
import type { CapabilityEvent } from "../../src/sensor/events.js";
import { toKubeArmor, type KubeArmorLog } from "../../src/sensor/kubearmor.js";
import { operationOf } from "../../src/sensor/logOperation.js";

const labels = { app: "camera" };
const lookup = () => ({ containerId: "c1", containerName: "camera", namespace: "default", labels, image: "camera:1" });

function cap(exe: string, capName: string, granted: boolean, count = 1): KubeArmorLog {
  const ev: CapabilityEvent = {
    type: "capability",
    source: "bpf",
    time: "2026-11-23T14:40:02.261223101Z",
    pid: 100,
    uid: 0,
    cgroupId: "1",
    count,
    cap: 0,
    capName,
    granted,
    result: granted ? 0 : -1,
    ...(granted ? {} : { errno: "EPERM" }),
    ownUserNs: true,
    syscall: "socket",
    exe,
  };
  const r = toKubeArmor(ev, { lookup, hostName: "edge1" });
  if (!r) throw new Error("no record");
  return r;
}

const RECORDS = [
  cap("/usr/bin/camera", "CAP_CHOWN", true, 3),
  cap("/usr/bin/camera", "CAP_NET_BIND_SERVICE", true),
  cap("/usr/sbin/ntpd", "CAP_SYS_TIME", true),
  cap("/usr/bin/camera", "CAP_NET_RAW", false, 5),
];

describe("recommend and profile from capability records", () => {
  it("recommend allows what was used, scoped to its binary, and skips what was refused", () => {
    const rec = recommendPolicyData(RECORDS, { name: "camera", labels });
    expect(rec.counts.capabilities).toBe(3);
    expect(rec.skipped.refused).toBe(1);
    const parsed = parseDocuments(rec.yaml, "rec.yaml");
    expect(parsed.errors).toEqual([]);
    const caps = parsed.policies[0]!.rules.filter((r) => r.kind === "capability");
    expect(caps.map((r) => (r.kind === "capability" ? `${r.capability} ${r.action} ${r.fromSource.map((s) => (s.kind === "path" ? s.path : s.dir)).join(",")}` : ""))).toEqual([
      "chown Allow /usr/bin/camera",
      "net_bind_service Allow /usr/bin/camera",
      "sys_time Allow /usr/sbin/ntpd",
    ]);
    // Evaluated: every used capability is allowed, the refused one is not on the allow-list.
    const eff = combinePolicies(parsed.policies, labels, { defaultPosture: "block" });
    for (const r of RECORDS.slice(0, 3)) expect(evaluate(eff, operationOf(r)!).action, r.Resource).toBe("Allow");
    expect(evaluate(eff, { kind: "capability", capability: "net_raw", source: "/usr/bin/camera" })).toMatchObject({ action: "Block", reason: "posture" });
    expect(evaluate(eff, { kind: "capability", capability: "sys_time", source: "/usr/bin/camera" })).toMatchObject({ action: "Block" });
  });

  it("profile lists the capabilities each binary used, and the refused check as a refusal", () => {
    const p = summarizeProfile(RECORDS, ["camera"]);
    const camera = p.binaries.find((b) => b.binary === "/usr/bin/camera");
    expect(camera?.capabilities).toEqual([
      { name: "chown", count: 3 },
      { name: "net_bind_service", count: 1 },
    ]);
    expect(camera?.denials).toEqual([expect.objectContaining({ operation: "Capabilities", resource: "CAP_NET_RAW", refused: true, count: 5 })]);
    const text = renderProfile(p);
    expect(text).toContain("cap      chown ×3");
    expect(text).toContain("cap      sys_time ×1");
  });
});

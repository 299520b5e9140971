/**
 * Capability events without the kernel: the sensor's JSON lines (as
 * palisade-sensor prints them, see emit.c) → typed events → KubeArmor
 * records (Operation "Capabilities") → policy verdicts → log or alert, the
 * same chain the live pipeline runs (parseSensorLine, toKubeArmor,
 * operationOf, evaluate, decide).
 */
import { describe, expect, it } from "vitest";
import { combinePolicies, evaluate, parseDocuments, type EffectivePolicy } from "../../src/policy/index.js";
import { decide } from "../../src/sensor/decide.js";
import { parseSensorLine, type CapabilityEvent } from "../../src/sensor/events.js";
import { toKubeArmor, type KubeArmorLog, type WorkloadInfo } from "../../src/sensor/kubearmor.js";
import { operationOf } from "../../src/sensor/logOperation.js";

const HEAD = '"source":"bpf","time":"2026-11-23T14:40:02.261223101Z","pid":19157,"tid":19157,"ppid":19153,"nsPid":7,"nsPpid":1,"uid":0,"gid":0,"cgroupId":"94512","comm":"app"';
const line = (body: string, count = 1) => `{"type":"capability",${HEAD},"count":${count},${body}}`;
const USED_RAW = line('"cap":13,"capName":"CAP_NET_RAW","granted":true,"result":0,"ownUserNs":true,"syscall":"socket","nr":41');
const LACKED_RAW = line('"cap":13,"capName":"CAP_NET_RAW","granted":false,"result":-1,"errno":"EPERM","ownUserNs":true,"syscall":"socket","nr":41');
const LACKED_DAC = line('"cap":2,"capName":"CAP_DAC_READ_SEARCH","granted":false,"result":-1,"errno":"EPERM","ownUserNs":false', 40);

const WORKLOAD: WorkloadInfo = { containerId: "c1", containerName: "app", namespace: "default", labels: { app: "camera" }, image: "app:1" };
const lookup = (id: string) => (id === "94512" ? WORKLOAD : undefined);

function event(l: string): CapabilityEvent {
  const p = parseSensorLine(l);
  if (p.kind !== "event" || p.event.type !== "capability") throw new Error(`not a capability event: ${JSON.stringify(p)}`);
  return { ...p.event, exe: "/usr/bin/app", cmdline: "/usr/bin/app --serve" };
}

function record(l: string): KubeArmorLog {
  const r = toKubeArmor(event(l), { lookup, hostName: "edge1" });
  if (!r) throw new Error("no record");
  return r;
}

function effective(body: string, posture: "block" | "audit" = "block"): EffectivePolicy {
  const yaml = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: p, namespace: default}
spec:
  selector: {matchLabels: {app: camera}}
${body}`;
  const r = parseDocuments(yaml, "cap.yaml");
  expect(r.errors.map((e) => e.message)).toEqual([]);
  return combinePolicies(r.policies, { app: "camera" }, { defaultPosture: posture });
}

/** What the pipeline stores for a record: "log", or "alert Action PolicyName". */
function outcome(eff: EffectivePolicy, l: string, auditOnly = false): string {
  const r = record(l);
  const op = operationOf(r);
  const m = decide(op ? evaluate(eff, op) : undefined, false, auditOnly);
  return m ? `alert ${m.action} ${m.policyName}` : "log";
}

describe("capability lines", () => {
  it("parse with their fields; a line missing one is invalid, not an exception", () => {
    expect(event(LACKED_RAW)).toMatchObject({ type: "capability", cap: 13, capName: "CAP_NET_RAW", granted: false, result: -1, errno: "EPERM", ownUserNs: true, syscall: "socket", count: 1 });
    expect(event(LACKED_DAC)).toMatchObject({ count: 40, ownUserNs: false });
    expect(event(LACKED_DAC).syscall).toBeUndefined();
    for (const field of ["cap", "capName", "granted", "result", "ownUserNs"]) {
      const broken = JSON.parse(USED_RAW) as Record<string, unknown>;
      delete broken[field];
      expect(parseSensorLine(JSON.stringify(broken)), field).toMatchObject({ kind: "invalid" });
    }
    // No `denied`: a failed check is not a refused syscall, so it never goes the refusal way.
    expect("denied" in event(LACKED_RAW)).toBe(false);
  });
});

describe("capability events → KubeArmor records", () => {
  it("use KubeArmor's Capabilities operation, the capability name as Resource and the syscall in Data", () => {
    expect(record(USED_RAW)).toMatchObject({
      Type: "ContainerLog",
      Operation: "Capabilities",
      Resource: "CAP_NET_RAW",
      Data: "lsm=SECURITY_CAPABLE syscall=SYS_SOCKET userns=own",
      Result: "Passed",
      ProcessName: "/usr/bin/app",
      Source: "/usr/bin/app --serve",
      HostPID: 19157,
      PID: 7,
      ContainerName: "app",
    });
    expect(record(LACKED_RAW)).toMatchObject({ Result: "Operation not permitted" });
    expect(record(LACKED_DAC)).toMatchObject({ Data: "lsm=SECURITY_CAPABLE userns=ancestor", Count: 40 });
    // By itself (no policy match) a failed check is a log, not a DefaultPosture alert.
    expect("Action" in record(LACKED_RAW)).toBe(false);
  });

  it("operationOf reads the capability and whether the task lacked it", () => {
    expect(operationOf(record(USED_RAW))).toEqual({ kind: "capability", capability: "net_raw", source: "/usr/bin/app" });
    expect(operationOf(record(LACKED_RAW))).toEqual({ kind: "capability", capability: "net_raw", source: "/usr/bin/app", granted: false });
  });
});

describe("capability rules decide log or alert", () => {
  const block = effective("  capabilities:\n    matchCapabilities:\n    - capability: net_raw\n  action: Block\n");
  const audit = effective("  capabilities:\n    matchCapabilities:\n    - capability: net_raw\n      fromSource:\n      - path: /usr/bin/app\n  action: Audit\n");
  const auditOther = effective("  capabilities:\n    matchCapabilities:\n    - capability: net_raw\n      fromSource:\n      - path: /bin/other\n  action: Audit\n");
  const allowList = effective("  capabilities:\n    matchCapabilities:\n    - capability: chown\n  action: Allow\n");
  const none = effective("  file:\n    matchPaths:\n    - path: /etc/shadow\n  action: Block\n");

  it.each([
    ["Block rule, the check failed (the rule enforced by absence)", block, LACKED_RAW, false, "alert Block p"],
    ["Block rule, the capability was used (an enforcement gap)", block, USED_RAW, false, "alert Block p"],
    ["Block rule in audit mode", block, USED_RAW, true, "alert Audit p"],
    ["Audit rule scoped to the acting binary", audit, USED_RAW, false, "alert Audit p"],
    ["Audit rule scoped to another binary", auditOther, USED_RAW, false, "log"],
    ["allow-list without it, used: the posture", allowList, USED_RAW, false, "alert Block DefaultPosture"],
    ["allow-list without it, lacked: nothing was used, a log", allowList, LACKED_RAW, false, "log"],
    ["no capability rule", none, USED_RAW, false, "log"],
    ["no capability rule, lacked", none, LACKED_DAC, false, "log"],
  ])("%s", (_name, eff, l, auditOnly, want) => {
    expect(outcome(eff, l, auditOnly)).toBe(want);
  });

  it("an Audit rule still reports a lacked capability on an allow-list", () => {
    const eff = effective(
      "  capabilities:\n    matchCapabilities:\n    - capability: chown\n  action: Allow\n---\napiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: q, namespace: default}\nspec:\n  selector: {matchLabels: {app: camera}}\n  capabilities:\n    matchCapabilities:\n    - capability: net_raw\n  action: Audit\n",
    );
    expect(evaluate(eff, { kind: "capability", capability: "net_raw", granted: false })).toMatchObject({ action: "Audit", reason: "rule", policyName: "q" });
    expect(evaluate(eff, { kind: "capability", capability: "sys_admin", granted: false })).toMatchObject({ action: "Allow", reason: "none" });
    expect(evaluate(eff, { kind: "capability", capability: "sys_admin" })).toMatchObject({ action: "Block", reason: "posture" });
  });
});

/**
 * Capability events (tp_btf/cap_capable) against the real kernel: the static
 * test helper, in a watched cgroup, uses capabilities it holds (chown to
 * another uid needs CAP_CHOWN, a raw socket CAP_NET_RAW) and, after dropping
 * them, tries again and is refused. The events must say which capability,
 * whether the task held it, and whose it was (pid, uid, cgroup, syscall);
 * the kernel's own CAP_SYS_ADMIN probe on every mmap must not drown them.
 * Then the live pipeline: a policy that blocks net_raw turns the refused
 * check into an alert with Operation "Capabilities".
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { combinePolicies, parseDocuments } from "../../src/policy/index.js";
import type { CapabilityEvent, NetEvent, SensorEvent } from "../../src/sensor/events.js";
import type { KubeArmorAlert } from "../../src/sensor/kubearmor.js";
import { SensorProcess } from "../../src/sensor/sensorProcess.js";
import { kernelIt, LINUX, ROOT, type Requirement } from "../kernelTest.js";
import { BIN, BPF, CGROUP2, cleanupAfterEach, collect, HELPER, makeCgroup, pipelineFixture, runHelper, SENSOR_BUILT, tempDir } from "./helpers.js";

/** The tracepoint is new in Linux 6.14: its typedef name is in the kernel's BTF strings. */
const CAP_TRACEPOINT: Requirement = {
  feature: "cap_capable tracepoint (Linux >= 6.14)",
  check: () => {
    try {
      return readFileSync("/sys/kernel/btf/vmlinux").includes("btf_trace_cap_capable") ? null : "kernel BTF has no btf_trace_cap_capable";
    } catch {
      return "no /sys/kernel/btf/vmlinux";
    }
  },
};

const REQS = [LINUX, ROOT, SENSOR_BUILT, BPF, CGROUP2, CAP_TRACEPOINT];
const CAP_CHOWN = 0;
const CAP_NET_RAW = 13;
const NOBODY = 65534;
const defer = cleanupAfterEach();


const isCap = (e: SensorEvent): e is CapabilityEvent => e.type === "capability";
/** Occurrences (counts of first and repeat lines) of matching capability events. */
const occurrences = (events: readonly CapabilityEvent[], pred: (e: CapabilityEvent) => boolean) => events.filter(pred).reduce((n, e) => n + e.count, 0);

function ownedFile(): string {
  const dir = tempDir("capsensor");
  defer(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, "owned");
  writeFileSync(f, "x\n");
  return f;
}

describe("palisade-sensor: capability checks", () => {
  kernelIt("reports capabilities used and refused with cap, result, uid, syscall and cgroup; leaves out the mmap probe", REQS, async () => {
    const cg = makeCgroup("cap", defer);
    const sensor = await SensorProcess.start({ binDir: BIN, bpf: "required", audit: false, cgroupIds: [cg.path] });
    defer(() => sensor.stop());
    const ready = sensor.status().bpf.ready as { capabilities?: boolean; capProbeFilter?: boolean };
    expect(ready.capabilities).toBe(true);
    expect(ready.capProbeFilter).toBe(true);
    const events = collect(sensor);
    const f = ownedFile();

    // Outside the cgroup: the same chown is nobody's business.
    const outside = await runHelper([`chown=${f},4242`]);
    expect(outside.steps.find((s) => s.step === "chown")?.result).toBe(0);

    // Inside: use CAP_CHOWN and CAP_NET_RAW, drop both, try again (refused), then as
    // nobody a raw socket (refused) and a dynamic /bin/true (mmap, brk: the kernel's
    // CAP_SYS_ADMIN overcommit probe, which must be counted, not reported).
    const run = await runHelper([
      `cgroup=${cg.path}`,
      `chown=${f},12345`,
      "rawsock",
      `capdrop=${CAP_NET_RAW}`,
      `capdrop=${CAP_CHOWN}`,
      "rawsock",
      `chown=${f},0`,
      `uid=${NOBODY}`,
      "rawsock",
      "--",
      "/bin/true",
    ]);
    expect(run.code, run.stderr).toBe(0);
    const results = run.steps.filter((s) => s.step === "chown" || s.step === "rawsock").map((s) => `${s.step}:${s.result}`);
    expect(results).toEqual(["chown:0", "rawsock:0", "rawsock:-1", "chown:-1", "rawsock:-1"]);
    const stats = await sensor.flush();

    const caps = events.filter(isCap);
    expect(caps.filter((e) => e.pid === outside.pid)).toEqual([]);
    const mine = caps.filter((e) => e.pid === run.pid);
    for (const e of mine) {
      expect(e.cgroupId).toBe(cg.id);
      expect(e.source).toBe("bpf");
      expect(e.result === 0 ? e.errno : e.errno, JSON.stringify(e)).toBe(e.result === 0 ? undefined : "EPERM");
      expect(e.granted).toBe(e.result === 0);
      expect(e.capName).toMatch(/^CAP_[A-Z_]+$/);
    }

    const chownUsed = mine.find((e) => e.cap === CAP_CHOWN && e.granted);
    expect(chownUsed).toMatchObject({ capName: "CAP_CHOWN", result: 0, uid: 0, ownUserNs: true });
    expect(chownUsed?.syscall).toMatch(/chown/);
    const rawUsed = mine.find((e) => e.cap === CAP_NET_RAW && e.granted);
    expect(rawUsed).toMatchObject({ capName: "CAP_NET_RAW", result: 0, uid: 0, syscall: "socket", ownUserNs: true });
    // Exactly one check per attempt: the counts are the attempts.
    expect(occurrences(mine, (e) => e.cap === CAP_NET_RAW && e.granted)).toBe(1);
    expect(occurrences(mine, (e) => e.cap === CAP_NET_RAW && !e.granted && e.uid === 0)).toBe(1);
    expect(occurrences(mine, (e) => e.cap === CAP_NET_RAW && !e.granted && e.uid === NOBODY)).toBe(1);
    expect(mine.find((e) => e.cap === CAP_CHOWN && !e.granted)).toMatchObject({ capName: "CAP_CHOWN", result: -1, errno: "EPERM", uid: 0 });
    // The refused raw socket is also a refused syscall (its own event), the capability check says why.
    const refusedSock = events.find((e): e is NetEvent => e.type === "net" && e.pid === run.pid && e.sockType === "SOCK_RAW" && e.result < 0);
    expect(refusedSock).toMatchObject({ denied: true, errno: "EPERM" });
    // Dropping to nobody used CAP_SETGID and CAP_SETUID.
    expect(mine.some((e) => e.capName === "CAP_SETUID" && e.granted && e.syscall === "setuid")).toBe(true);
    expect(mine.some((e) => e.capName === "CAP_SETGID" && e.granted)).toBe(true);
    // The overcommit probe ran (the exec of /bin/true maps memory) and was left out.
    expect(mine.filter((e) => e.capName === "CAP_SYS_ADMIN")).toEqual([]);
    expect((stats as { capProbes?: number } | undefined)?.capProbes ?? 0).toBeGreaterThan(0);
  });

  kernelIt("loads without the capability hook when told to (as on kernels before 6.14) and says so", [LINUX, ROOT, SENSOR_BUILT, BPF], () => {
    const off = spawnSync(join(BIN, "palisade-sensor"), ["--no-capabilities"], { input: "quit\n", encoding: "utf8" });
    expect(off.status, off.stderr).toBe(0);
    const ready = JSON.parse(off.stdout.split("\n")[0]!) as Record<string, unknown>;
    expect(ready).toMatchObject({ type: "ready", capabilities: false, capabilitiesOff: "--no-capabilities" });
    const stats = off.stdout.split("\n").filter((l) => l.includes('"type":"stats"'));
    expect(stats.length).toBeGreaterThan(0);
    expect(JSON.parse(stats.at(-1)!)).toMatchObject({ droppedByKind: { capability: 0 }, capProbes: 0 });
  });
});

const POLICY = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: no-raw-sockets, namespace: default}
spec:
  selector: {matchLabels: {app: capdemo}}
  severity: 6
  message: raw sockets are not for this workload
  capabilities:
    matchCapabilities:
    - capability: net_raw
  action: Block
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: watch-chown, namespace: default}
spec:
  selector: {matchLabels: {app: capdemo}}
  capabilities:
    matchCapabilities:
    - capability: chown
      fromSource:
      - path: ${HELPER}
  action: Audit
`;

describe("capability events in the live pipeline", () => {
  kernelIt("a matchCapabilities Block rule turns a refused CAP_NET_RAW into an alert; an Audit rule a used CAP_CHOWN; the rest are logs", REQS, async () => {
    const { cg, store, pipeline } = await pipelineFixture("cappipe", defer);
    const parsed = parseDocuments(POLICY, "cap.yaml");
    expect(parsed.errors).toEqual([]);
    const labels = { app: "capdemo" };
    const effective = combinePolicies(parsed.policies, labels, { namespace: "default" });
    await pipeline.watch({
      name: "capdemo",
      cgroupPath: cg.path,
      effective,
      auditOnly: false,
      containerId: "capdemo-1",
      containerName: "capdemo",
      namespace: "default",
      labels,
      image: "local/capdemo:test",
    });
    const f = ownedFile();
    // The helper joins the cgroup and execs itself: the workload starts at that exec.
    const child = spawn(HELPER, [`cgroup=${cg.path}`, "--", HELPER, `chown=${f},12345`, `capdrop=${CAP_NET_RAW}`, "rawsock"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.on("close", r));
    expect(code, out).toBe(0);
    expect(out).toContain('"step":"rawsock","arg":"","result":-1');
    await pipeline.unwatch("capdemo");

    const records = store.query({ workload: "capdemo" });
    const capRecords = records.filter((r) => r.record.Operation === "Capabilities");
    const raw = capRecords.find((r) => r.record.Resource === "CAP_NET_RAW");
    expect(raw?.kind).toBe("alert");
    const alert = raw!.record as KubeArmorAlert;
    expect(alert).toMatchObject({
      Type: "MatchedPolicy",
      Operation: "Capabilities",
      Resource: "CAP_NET_RAW",
      Result: "Operation not permitted",
      Action: "Block",
      PolicyName: "no-raw-sockets",
      Severity: "6",
      Message: "raw sockets are not for this workload",
      Enforcer: "eBPF Monitor",
      ProcessName: HELPER,
      ContainerName: "capdemo",
    });
    expect(alert.Data).toMatch(/^lsm=SECURITY_CAPABLE syscall=SYS_SOCKET userns=own$/);

    const chown = capRecords.find((r) => r.record.Resource === "CAP_CHOWN");
    expect(chown?.kind).toBe("alert");
    expect(chown!.record).toMatchObject({ Action: "Audit", Result: "Passed", PolicyName: "watch-chown", ProcessName: HELPER });

    // Dropping CAP_NET_RAW used CAP_SETPCAP: no rule names it, so it is a log.
    const setpcap = capRecords.find((r) => r.record.Resource === "CAP_SETPCAP");
    expect(setpcap?.kind).toBe("log");
    expect(setpcap!.record).toMatchObject({ Type: "ContainerLog", Result: "Passed", Operation: "Capabilities" });
    expect(capRecords.filter((r) => r.record.Resource === "CAP_SYS_ADMIN")).toEqual([]);
  });
});

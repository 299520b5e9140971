/**
 * The live pipeline on real workloads: busybox containers run by runc under
 * a policy while one EventPipeline (BPF sensor + palisade-auditd) watches
 * their cgroup from before the entrypoint runs. The workload's actions are
 * real attacks and real allowed actions; the assertions are on the records
 * stored in events.db.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { runWorkload, type CreatedWorkload, type RunResult } from "../../src/runtime/workloads.js";
import type { KubeArmorAlert } from "../../src/sensor/kubearmor.js";
import { EventPipeline } from "../../src/sensor/eventPipeline.js";
import { EventStore, type StoredRecord } from "../../src/sensor/eventStore.js";
import { kernelIt, unmet } from "../kernelTest.js";
import { busyboxWorkload, CONTAINERS, setupRuntime, teardownRuntime, type RuntimeFixture } from "../runtime/runtimeFixture.js";
import { AUDIT, BPF, CGROUP2, LANDLOCK_AUDIT, SENSOR_BUILT } from "./helpers.js";
import { watchedWorkloadOf } from "../../src/sensor/runSensor.js";

const NEEDS = [...CONTAINERS, SENSOR_BUILT, BPF, CGROUP2, AUDIT, LANDLOCK_AUDIT];
const previous = process.env.PALISADE_DATA_DIR;
let f: RuntimeFixture | undefined;
let store: EventStore | undefined;
let pipeline: EventPipeline | undefined;
const messages: string[] = [];

beforeAll(async () => {
  if (unmet(NEEDS) !== null) return;
  f = await setupRuntime();
  store = EventStore.open(join(f.dataDir, "events.db"));
  pipeline = await EventPipeline.start({ store, log: (m) => messages.push(m) });
}, 120_000);
afterAll(async () => {
  await pipeline?.close();
  store?.close();
  teardownRuntime(f, previous);
});

// Reads an allowed file, reads a blocked one, execs allowed binaries and one outside the
// process allow-list (a copy of busybox in a volume), opens a TCP socket and connects.
const SCRIPT =
  "/bin/cat /etc/hostname >/dev/null; /bin/cat /etc/passwd; /bin/ls / >/dev/null; cp /bin/busybox /data/true; /data/true; echo victim=$?; nc 127.0.0.1 1 </dev/null; echo done";
const POLICIES = [
  "  severity: 7\n  tags: [secrets, pci]\n  message: no passwd\n  file:\n    matchPaths:\n    - path: /etc/passwd\n  action: Block\n",
  "  process:\n    matchDirectories:\n    - dir: /bin/\n      recursive: true\n  action: Allow\n",
];

async function runWatched(name: string, script: string, policies: string[], auditOnly = false): Promise<{ run: RunResult; records: StoredRecord[] }> {
  const { workload, policies: parsed } = busyboxWorkload(f!.image, script, {
    name,
    containerYaml: "    volumeMounts:\n    - {name: data, mountPath: /data}\n",
    spec: "  volumes:\n  - name: data\n    emptyDir: {}\n",
    policies,
  });
  const onCreated = async (c: CreatedWorkload) => {
    await pipeline!.watch(watchedWorkloadOf(c, c.cgroupPath!));
  };
  const run = await runWorkload({ workload, policies: parsed, features: f!.features, store: f!.store, stdio: "pipe", timeoutMs: 30_000, auditOnly, onCreated });
  await pipeline!.unwatch(name);
  return { run, records: store!.query({ workload: name }) };
}

const alerts = (rs: StoredRecord[]) => rs.filter((r) => r.kind === "alert").map((r) => r.record as KubeArmorAlert);
const logs = (rs: StoredRecord[]) => rs.filter((r) => r.kind === "log").map((r) => r.record);

describe("EventPipeline on real workloads", () => {
  kernelIt(
    "refusals become alerts naming policy, enforcer and process; allowed actions become logs",
    NEEDS,
    async () => {
      const { run, records } = await runWatched("blocked", SCRIPT, POLICIES);
      expect(run.stderr).toContain("can't open '/etc/passwd': Permission denied");
      expect(run.stdout).toContain("victim=126");
      const common = { ContainerName: "blocked", PodName: "blocked", NamespaceName: "default", Labels: "app=blocked", ContainerID: "default.blocked", Type: "MatchedPolicy" };
      const a = alerts(records);
      // Exactly the three refusals: runc init and the launcher (setup) leave no alerts.
      expect(a.map((x) => `${x.Operation} ${x.Resource}`).sort()).toEqual(["File /etc/passwd", "Network sa_family=AF_INET sin_port=1 sin_addr=127.0.0.1", "Process /data/true"]);
      expect(a.find((x) => x.Operation === "File")).toMatchObject({
        ...common,
        ProcessName: "/bin/cat",
        ParentProcessName: "/bin/sh",
        Resource: "/etc/passwd",
        Action: "Block",
        Result: "Permission denied",
        PolicyName: "blocked-p0",
        Severity: "7",
        Tags: "secrets,pci",
        ATags: ["secrets", "pci"],
        Message: "no passwd",
        Enforcer: "Landlock",
      });
      expect(a.find((x) => x.Operation === "Process")).toMatchObject({
        ...common,
        ProcessName: "/bin/sh",
        ParentProcessName: "/bin/sh",
        Action: "Block",
        Result: "Permission denied",
        PolicyName: "DefaultPosture",
        Enforcer: "Landlock",
      });
      expect(a.find((x) => x.Operation === "Network")).toMatchObject({ ...common, Action: "Block", Result: "Permission denied", PolicyName: "DefaultPosture", Enforcer: "Landlock", Data: expect.stringContaining("blockers=net.connect_tcp") });
      const l = logs(records);
      expect(l).toContainEqual(expect.objectContaining({ Type: "ContainerLog", Operation: "File", ProcessName: "/bin/cat", ParentProcessName: "/bin/sh", Resource: "/etc/hostname", Result: "Passed", ContainerName: "blocked" }));
      expect(l).toContainEqual(expect.objectContaining({ Operation: "Process", ProcessName: "/bin/ls", ParentProcessName: "/bin/sh", Resource: "/bin/ls /", Result: "Passed" }));
      expect(l).toContainEqual(expect.objectContaining({ Operation: "Process", ProcessName: "/bin/cat", Resource: "/bin/cat /etc/passwd", Result: "Passed" }));
      expect(l).toContainEqual(expect.objectContaining({ Operation: "Network", Resource: "domain=AF_INET type=SOCK_STREAM protocol=0", Result: "Passed" }));
      // Nothing of runc init's or the launcher's setup is recorded.
      expect(records.some((r) => r.record.Resource.includes("palisade-rt") || r.record.ProcessName.startsWith("runc") || r.record.ProcessName === "/.palisade/launch")).toBe(false);
      const s = pipeline!.stats();
      expect(s.dropped).toBe(0);
      expect(s.parseErrors).toBe(0);
      expect(s.setup).toBeGreaterThan(0);
    },
    120_000,
  );

  kernelIt(
    "in audit mode nothing is blocked and Block verdicts become Audit alerts",
    NEEDS,
    async () => {
      const { run, records } = await runWatched("audited", "/bin/cat /etc/passwd >/dev/null; echo passwd=$?; cp /bin/busybox /data/true; /data/true; echo victim=$?", POLICIES, true);
      expect(run.stdout).toContain("passwd=0");
      expect(run.stdout).toContain("victim=0");
      const a = alerts(records);
      expect(a.find((x) => x.Operation === "File" && x.Resource === "/etc/passwd")).toMatchObject({ Action: "Audit", Result: "Passed", PolicyName: "audited-p0", Severity: "7", ProcessName: "/bin/cat" });
      expect(a.find((x) => x.Operation === "Process" && x.Resource.startsWith("/data/true"))).toMatchObject({ Action: "Audit", Result: "Passed", PolicyName: "DefaultPosture", ProcessName: "/data/true" });
      expect(a.filter((x) => x.Action === "Block")).toEqual([]);
    },
    120_000,
  );

  kernelIt(
    "an Audit rule makes an alert of an allowed action; repeats keep their count",
    NEEDS,
    async () => {
      const { records } = await runWatched("counted", "i=0; while [ $i -lt 50 ]; do read x </etc/hostname; i=$((i+1)); done", ["  file:\n    matchPaths:\n    - path: /etc/hostname\n  action: Audit\n"]);
      const hits = alerts(records).filter((x) => x.Resource === "/etc/hostname");
      expect(hits.length).toBeGreaterThan(0);
      for (const h of hits) expect(h).toMatchObject({ Action: "Audit", PolicyName: "counted-p0", Result: "Passed", ProcessName: "/bin/sh" });
      expect(hits.reduce((n, h) => n + (h.Count ?? 1), 0)).toBe(50);
    },
    120_000,
  );

  kernelIt(
    "a program's forked children fold into its records (Count, OtherPIDs); exited processes are forgotten",
    NEEDS,
    async () => {
      // Eight subshells (forks without exec) read the same file: one record for the first, a repeat
      // naming it for the seven others. Then 20 short execs, and a wait long enough for the pipeline
      // to forget the exited ones while the workload still runs.
      const script = "for i in 1 2 3 4 5 6 7 8; do ( read x </etc/hostname ); done; i=0; while [ $i -lt 20 ]; do /bin/true; i=$((i+1)); done; sleep 12; echo done";
      let tracked: number | undefined;
      const probe = setTimeout(() => (tracked = pipeline!.trackedProcesses()), 11_000);
      const { run, records } = await runWatched("forked", script, []);
      clearTimeout(probe);
      expect(run.stdout).toContain("done");
      const reads = logs(records).filter((r) => r.Operation === "File" && r.Resource === "/etc/hostname");
      expect(reads.reduce((n, r) => n + (r.Count ?? 1), 0)).toBe(8);
      expect(reads.reduce((n, r) => n + (r.OtherPIDs ?? 0), 0)).toBe(7);
      expect(new Set(reads.map((r) => r.HostPID)).size).toBe(1);
      expect(reads.every((r) => r.ProcessName === "/bin/sh")).toBe(true);
      // During the sleep: the shell and sleep, not the 20 exited /bin/true (nor the subshell).
      expect(tracked).toBeDefined();
      expect(tracked!).toBeLessThanOrEqual(3);
    },
    120_000,
  );

  kernelIt(
    "paths the runtime grants anyway (/dev/null, /tmp, /proc, volumes) are logs, not DefaultPosture alerts",
    NEEDS,
    async () => {
      // A file allow-list naming only /etc/hostname: the posture blocks everything else, but the
      // compiler's baseline grants /dev/null, /tmp, /proc and the volume whatever the policy says.
      const script = "read x </etc/hostname; echo hi >/dev/null; echo t >/tmp/t; read y </tmp/t; read z </proc/self/stat; echo v >/data/v; read w </dev/urandom; read p </etc/passwd; echo p=$?";
      const { run, records } = await runWatched("implicit", script, ["  file:\n    matchPaths:\n    - path: /etc/hostname\n  action: Allow\n"]);
      expect(run.stdout).toContain("p=1");
      const a = alerts(records);
      const granted = (r: string) => r === "/dev/null" || r === "/dev/urandom" || r.startsWith("/tmp/") || r.startsWith("/proc/") || r.startsWith("/data/");
      expect(a.filter((x) => granted(x.Resource)).map((x) => `${x.Resource} ${x.Action} ${x.Result}`)).toEqual([]);
      // Still recorded, as logs; and what the posture really refuses is still an alert.
      const l = logs(records);
      for (const path of ["/dev/null", "/tmp/t", "/data/v", "/dev/urandom"]) expect(l).toContainEqual(expect.objectContaining({ Operation: "File", Resource: path, Result: "Passed" }));
      expect(a.find((x) => x.Resource === "/etc/passwd")).toMatchObject({ Action: "Block", Result: "Permission denied", PolicyName: "DefaultPosture", Enforcer: "Landlock" });
    },
    120_000,
  );
});

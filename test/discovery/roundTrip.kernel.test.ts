/**
 * The discovery round trip on a real kernel: a busybox workload runs in
 * audit mode with the live pipeline recording what it does; recommend()
 * turns the stored records into a policy; the same workload then runs with
 * that policy enforced (posture Block) and succeeds unmodified, while one
 * new action (reading a file it never read) is refused by the kernel and
 * stored as a DefaultPosture Block alert.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { recommendPolicyData } from "../../src/discovery/index.js";
import { parseDocuments } from "../../src/policy/index.js";
import { runWorkload, type CreatedWorkload, type RunResult } from "../../src/runtime/workloads.js";
import { EventPipeline } from "../../src/sensor/eventPipeline.js";
import { EventStore, type StoredRecord } from "../../src/sensor/eventStore.js";
import type { KubeArmorAlert } from "../../src/sensor/kubearmor.js";
import { kernelIt, unmet } from "../kernelTest.js";
import { busyboxWorkload, CONTAINERS, setupRuntime, teardownRuntime, type RuntimeFixture } from "../runtime/runtimeFixture.js";
import { AUDIT, BPF, CGROUP2, LANDLOCK_AUDIT, SENSOR_BUILT } from "../sensor/helpers.js";
import { watchedWorkloadOf } from "../../src/sensor/runSensor.js";

const NEEDS = [...CONTAINERS, SENSOR_BUILT, BPF, CGROUP2, AUDIT, LANDLOCK_AUDIT];
const previous = process.env.PALISADE_DATA_DIR;
let f: RuntimeFixture | undefined;
let store: EventStore | undefined;
let pipeline: EventPipeline | undefined;

beforeAll(async () => {
  if (unmet(NEEDS) !== null) return;
  f = await setupRuntime();
  store = EventStore.open(join(f.dataDir, "events.db"));
  pipeline = await EventPipeline.start({ store });
}, 120_000);
afterAll(async () => {
  await pipeline?.close();
  store?.close();
  teardownRuntime(f, previous);
});

const NAME = "shop";
// Reads a file, writes and reads back a scratch file, runs a second program.
const SCRIPT = "cat /etc/passwd >/dev/null; echo order-1 >/tmp/orders; cat /tmp/orders; echo ok";

/** Runs the workload watched by the pipeline; returns the run and the records it added. */
async function runWatched(script: string, opts: { auditOnly: boolean; policyYaml?: string }): Promise<{ run: RunResult; records: StoredRecord[] }> {
  const { workload } = busyboxWorkload(f!.image, script, { name: NAME });
  const policies = opts.policyYaml === undefined ? [] : parseDocuments(opts.policyYaml, "recommended.yaml").policies;
  const before = store!.stats().newestSeq ?? 0;
  const onCreated = async (c: CreatedWorkload) => {
    await pipeline!.watch(watchedWorkloadOf(c, c.cgroupPath!));
  };
  const run = await runWorkload({ workload, policies, features: f!.features, store: f!.store, stdio: "pipe", timeoutMs: 30_000, auditOnly: opts.auditOnly, onCreated });
  await pipeline!.unwatch(NAME);
  return { run, records: store!.query({ workload: NAME, afterSeq: before }) };
}

const alerts = (rs: StoredRecord[]) => rs.filter((r) => r.kind === "alert").map((r) => r.record as KubeArmorAlert);

describe("recommend round trip", () => {
  kernelIt(
    "audit run → recommended policy → the same run passes enforced; a new file read is refused and alerted",
    NEEDS,
    async () => {
      const learn = await runWatched(SCRIPT, { auditOnly: true });
      expect(learn.run.exitCode).toBe(0);
      expect(learn.records.length).toBeGreaterThan(3);

      // Landlock cannot scope by source on this kernel (no BPF-LSM): a workload-wide policy.
      const rec = recommendPolicyData(learn.records.map((r) => r.record), { name: "shop-recommended", labels: { app: NAME }, fromSource: false });
      const parsed = parseDocuments(rec.yaml, "recommended.yaml");
      expect(parsed.errors).toEqual([]);
      expect(rec.yaml).toContain("path: /etc/passwd\n      readOnly: true");
      expect(rec.yaml).toContain("path: /tmp/orders\n");

      const same = await runWatched(SCRIPT, { auditOnly: false, policyYaml: rec.yaml }).catch((e: unknown) => {
        throw new Error(`enforcing the recommended policy failed: ${String(e)}\n${rec.yaml}\nrecords:\n${learn.records.map((r) => JSON.stringify(r.record)).join("\n")}`);
      });
      // The only stderr: the launcher noting that /tmp/orders does not exist yet (Landlock grants
      // existing inodes; the file is created in /tmp, which the runtime grants to every workload).
      expect(same.run.stderr.split("\n").filter((l) => l !== "" && !/^palisade-launch: warning: .*skipping \/tmp\/orders: No such file or directory/.test(l))).toEqual([]);
      expect(same.run.stdout).toBe("order-1\nok\n");
      expect(same.run.exitCode).toBe(0);
      expect(alerts(same.records).filter((a) => a.Action === "Block")).toEqual([]);

      const more = await runWatched(`${SCRIPT}; cat /etc/group; echo group=$?`, { auditOnly: false, policyYaml: rec.yaml });
      expect(more.run.stdout).toContain("group=1");
      expect(more.run.stderr).toContain("can't open '/etc/group': Permission denied");
      expect(alerts(more.records).filter((a) => a.Operation === "File" && a.Resource === "/etc/group")).toContainEqual(
        expect.objectContaining({ PolicyName: "DefaultPosture", Action: "Block", Result: "Permission denied" }),
      );
    },
    180_000,
  );
});

/**
 * EventPipeline.watch / unwatch in quick succession (what the sensor
 * benchmark does every 300 ms): a cgroup stays attributable for RETIRE_MS
 * (5 s) after an unwatch, for the records that trail it — and an older
 * unwatch's timer must not take away the entry of a later watch. Before the
 * fix it did, and the later watch's trailing records were counted
 * "unattributed" instead of stored.
 */
import { spawn } from "node:child_process";
import { describe, expect } from "vitest";
import { combinePolicies } from "../../src/policy/index.js";
import type { WatchedWorkload } from "../../src/sensor/eventPipeline.js";
import { kernelIt, LINUX, ROOT } from "../kernelTest.js";
import { BPF, CGROUP2, cleanupAfterEach, HELPER, pipelineFixture, SENSOR_BUILT } from "./helpers.js";

const REQS = [LINUX, ROOT, SENSOR_BUILT, BPF, CGROUP2];
const defer = cleanupAfterEach();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("EventPipeline watch/unwatch", () => {
  kernelIt(
    "an unwatch's retire timer leaves a later watch's entry alone",
    REQS,
    async () => {
      const { cg, pipeline } = await pipelineFixture("rewatch", defer);
      const labels = { app: "rewatch" };
      const w: WatchedWorkload = { name: "rewatch", cgroupPath: cg.path, effective: combinePolicies([], labels, { namespace: "default" }), auditOnly: false, containerId: "rewatch-1", containerName: "rewatch", namespace: "default", labels, image: "local/rewatch:test" };

      await pipeline.watch(w);
      await pipeline.unwatch("rewatch"); // its timer fires at ≈ +5 s
      await pipeline.watch(w);
      // A process of the second watch: it joins the cgroup and execs (the workload starts there), then stays.
      const child = spawn(HELPER, [`cgroup=${cg.path}`, "--", HELPER, "sleep=9000"], { stdio: "ignore" });
      defer(() => child.kill("SIGKILL"));
      await sleep(1_000);
      await pipeline.unwatch("rewatch"); // the second watch's records may trail until ≈ +6 s
      expect(pipeline.trackedProcesses()).toBe(1);
      await sleep(4_800); // past the first unwatch's time, within the second's
      expect(pipeline.trackedProcesses()).toBe(1);
    },
    30_000,
  );
});

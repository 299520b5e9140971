/** An in-memory InstanceRuntime for agent-loop tests that need no root, runc or images. */
import type { InstanceRecord } from "../../src/agent/agentStore.js";
import type { InstanceRuntime, InstanceSpec, Observation } from "../../src/agent/instanceRuntime.js";

interface FakeInstance {
  spec: InstanceSpec;
  supervisorPid: number;
  obs: Observation;
}

export class FakeRuntime implements InstanceRuntime {
  readonly instances = new Map<string, FakeInstance>();
  readonly started: string[] = [];
  readonly stopped: string[] = [];
  #pid = 1000;

  constructor(private readonly putInstance: (r: InstanceRecord) => void) {}

  async start(spec: InstanceSpec): Promise<void> {
    const pid = ++this.#pid;
    this.instances.set(spec.instance, { spec, supervisorPid: pid, obs: { phase: "running", pid: pid + 10_000 } });
    this.started.push(`${spec.instance}@${spec.digest.slice(7, 15)}`);
    this.putInstance({ ...spec, supervisorPid: pid, spawnedAt: new Date().toISOString(), reportedExit: null });
  }

  observe(rec: InstanceRecord): Observation {
    const i = this.instances.get(rec.instance);
    if (!i || i.supervisorPid !== rec.supervisorPid) return { phase: "lost", endedAt: rec.spawnedAt ?? "?" };
    return i.obs;
  }

  async stop(rec: InstanceRecord): Promise<void> {
    this.instances.delete(rec.instance);
    this.stopped.push(rec.instance);
  }

  /** The workload exits on its own. */
  exit(instance: string, exitCode: number): void {
    const i = this.instances.get(instance);
    if (!i) throw new Error(`no instance ${instance}`);
    i.obs = { phase: "exited", exitCode, endedAt: new Date().toISOString() };
  }

  running(): string[] {
    return [...this.instances.entries()].filter(([, i]) => i.obs.phase === "running").map(([n, i]) => `${n}@${i.spec.digest.slice(7, 15)}`);
  }
}

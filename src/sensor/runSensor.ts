/**
 * The sensor for one foreground `palisade run`: opens <dataDir>/events.db,
 * starts an EventPipeline and watches the workload's cgroup before its
 * entrypoint runs (RunOptions.onCreated). Never throws: a sensor that cannot
 * start is a note on stderr, not a failed workload — the policy is enforced
 * by the kernel either way; the sensor only reports.
 */
import { PalisadeError } from "../core/errors.js";
import type { CreatedWorkload } from "../runtime/workloads.js";
import { EventPipeline, type WatchedWorkload } from "./eventPipeline.js";
import { EventStore, eventStorePath } from "./eventStore.js";

export interface RunSensor {
  /** For the summary line: where events go, or why there are none. */
  readonly note: string;
  readonly pipeline?: EventPipeline;
  /** Stores what is left, records the final counters, stops the sensor. Never throws. */
  close(): Promise<void>;
}

function why(e: unknown): string {
  return e instanceof PalisadeError ? `${e.message}${e.hint ? ` (${e.hint})` : ""}` : e instanceof Error ? e.message : String(e);
}

/** What the pipeline watches for a workload the runtime just created (RunOptions.onCreated). */
export function watchedWorkloadOf(w: CreatedWorkload, cgroupPath: string): WatchedWorkload {
  return {
    name: w.name,
    cgroupPath,
    containerId: w.id,
    containerName: w.name,
    podName: w.name,
    namespace: w.namespace,
    labels: w.labels,
    image: w.image,
    effective: w.effective,
    auditOnly: w.auditOnly,
    ...(w.launcher ? { setupExecs: [w.launcher] } : {}),
    ...(w.implicitGrants ? { implicitGrants: w.implicitGrants } : {}),
  };
}

export async function startRunSensor(w: CreatedWorkload, opts: { storePath?: string; log: (msg: string) => void; maxRecords?: number }): Promise<RunSensor> {
  const off = (reason: string): RunSensor => ({ note: `sensor off: ${reason}`, close: async () => undefined });
  if (!w.cgroupPath) return off("no cgroup v2 hierarchy to watch");
  const path = opts.storePath ?? eventStorePath();
  let store: EventStore;
  try {
    store = EventStore.open(path, opts.maxRecords !== undefined ? { maxRecords: opts.maxRecords } : {});
  } catch (e) {
    return off(why(e));
  }
  let pipeline: EventPipeline | undefined;
  try {
    pipeline = await EventPipeline.start({ store, log: opts.log });
    await pipeline.watch(watchedWorkloadOf(w, w.cgroupPath));
  } catch (e) {
    await pipeline?.close().catch(() => undefined);
    store.close();
    return off(why(e));
  }
  const p = pipeline;
  const mode = p.status().mode;
  return {
    note: `events → ${path}${mode === "bpf+audit" ? "" : ` (${mode} only)`}`,
    pipeline: p,
    async close() {
      try {
        await p.unwatch(w.name);
        await p.close();
        const s = p.stats();
        if (s.dropped > 0 || s.storeErrors > 0) opts.log(`sensor: ${s.dropped} events lost in the kernel/queues, ${s.storeErrors} not stored (palisade logs shows the rest)`);
      } catch (e) {
        opts.log(`sensor: ${why(e)}`);
      } finally {
        store.close();
      }
    },
  };
}

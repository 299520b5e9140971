/**
 * The stored JSON of a KubeArmor log, written straight from the sensor event:
 * `logJson(ev, opts)` === `JSON.stringify(toKubeArmor(ev, opts))` whenever
 * toKubeArmor returns a log (not an alert) — same fields, same order, same
 * text (test/sensor/logJson.test.ts checks this on random events).
 *
 * Why it exists: most records are logs nobody's policy says anything about,
 * and building the KubeArmor object only to serialise it cost the pipeline
 * thread more than a third of its time per event (docs/benchmarks.md,
 * "Sensor"). Here the workload's fields (namespace … image, ~250 bytes with
 * an image digest) are serialised once per workload, and the timestamp
 * parsing is cached per second.
 */
import { hostname } from "node:os";
import { withFragment } from "./eventChunks.js";
import type { SensorEvent } from "./events.js";
import { timeMs, updatedTime } from "./eventTime.js";
import { operation, processNames, resourceAndData, resultText, workloadFields, type KubeArmorMapOptions, type WorkloadInfo } from "./kubearmor.js";

/** `"NamespaceName":…,"ContainerImage":…,` of a workload, per (cluster, host) it is reported under. */
interface Fragment {
  readonly head: string;
  readonly workload: string;
  /** head + workload: what the store keeps once per chunk (eventChunks.ts). */
  readonly text: string;
}

const FRAGMENTS = new WeakMap<WorkloadInfo, Fragment>();
let hostHead: Fragment | undefined;

let lastHead = { cluster: "", host: "", text: "" };

function headOf(cluster: string, host: string): string {
  if (lastHead.cluster !== cluster || lastHead.host !== host || lastHead.text === "") {
    lastHead = { cluster, host, text: `"ClusterName":${JSON.stringify(cluster)},"HostName":${JSON.stringify(host)},` };
  }
  return lastHead.text;
}

function fragment(w: WorkloadInfo | undefined, cluster: string, host: string): Fragment {
  const head = headOf(cluster, host);
  if (w === undefined) {
    if (hostHead?.head !== head) hostHead = { head, workload: "", text: head };
    return hostHead;
  }
  let f = FRAGMENTS.get(w);
  if (f?.head !== head) {
    // JSON.stringify of the object part drops undefined fields exactly as it would inside the whole record.
    const body = JSON.stringify(workloadFields(w)).slice(1, -1);
    f = { head, workload: body ? `${body},` : "", text: `${head}${body ? `${body},` : ""}` };
    FRAGMENTS.set(w, f);
  }
  return f;
}

/** A log's JSON without the workload's fields, where they go, and their text (eventChunks.ts). */
export interface LogParts {
  readonly json: string;
  readonly at: number;
  readonly fragment: string;
}

/**
 * The record's JSON, or null when toKubeArmor would not return a log for
 * this event (fork/exit: no record; a kernel refusal: always an alert).
 */
export function logJson(ev: SensorEvent, opts: KubeArmorMapOptions): string | null {
  const p = logParts(ev, opts);
  return p && withFragment(p.json, p.at, p.fragment);
}

/** logJson() in parts: the pipeline stores them so, the workload's fields once per chunk. */
export function logParts(ev: SensorEvent, opts: KubeArmorMapOptions): LogParts | null {
  const op = operation(ev);
  // Denial records always become alerts (and their Result defaults differ): the object path maps them.
  if (op === null || ev.type === "denial" || ("denied" in ev && ev.denied === true)) return null;
  const w = ev.cgroupId === undefined ? undefined : opts.lookup(ev.cgroupId);
  const f = fragment(w, opts.clusterName ?? "default", opts.hostName ?? hostname());
  const ms = timeMs(ev.time);
  const [resource, data] = resourceAndData(ev);
  const { processName, parentName } = processNames(ev);
  const result = "result" in ev ? ev.result : undefined;
  const errno = "errno" in ev ? ev.errno : undefined;
  const source = op === "Process" ? parentName : ev.cmdline ?? processName;
  const head = `{"Timestamp":${Number.isNaN(ms) ? 0 : Math.floor(ms / 1000)},"UpdatedTime":${JSON.stringify(updatedTime(ev.time))},`;
  return {
    json:
      head +
      `"HostPPID":${ev.ppid ?? 0},"HostPID":${ev.pid},"PPID":${ev.nsPpid ?? ev.ppid ?? 0},"PID":${ev.nsPid ?? ev.pid},"UID":${ev.uid ?? 0},` +
      `"ParentProcessName":${JSON.stringify(parentName)},"ProcessName":${JSON.stringify(processName)},"Type":"${w === undefined ? "HostLog" : "ContainerLog"}",` +
      `"Source":${JSON.stringify(source)},"Operation":"${op}","Resource":${JSON.stringify(resource)},"Data":${JSON.stringify(data)},` +
      `"Result":${JSON.stringify(resultText(result, errno))}${ev.count > 1 ? `,"Count":${ev.count}` : ""}${ev.otherPids ? `,"OtherPIDs":${ev.otherPids}` : ""}}`,
    at: head.length,
    fragment: f.text,
  };
}

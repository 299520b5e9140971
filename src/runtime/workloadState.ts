/**
 * One small JSON state file per workload instance
 * (`<dataDir>/workloads/<id>/state.json`), written atomically (temp file,
 * fsync, rename, fsync of the directory), so `ps` and `inspect` never read a
 * half-written file even if the machine loses power mid-write.
 */
import { readFileSync, readdirSync } from "node:fs";
import { writeFileAtomic } from "../core/atomicFile.js";
import { join } from "node:path";
import type { ConfinementReport } from "../compiler/confinementReport.js";
import type { IdMap } from "../compiler/index.js";
import { PalisadeError } from "../core/errors.js";

export type WorkloadStatus = "created" | "running" | "exited" | "failed";

export interface WorkloadState {
  readonly version: 1;
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly container: string;
  readonly image: string;
  readonly manifest?: string;
  readonly status: WorkloadStatus;
  readonly createdAt: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  /** The workload's first process on the host, while running. */
  readonly pid?: number;
  /** The `palisade run` process supervising it (it cleans up when the workload exits). */
  readonly supervisorPid?: number;
  readonly exitCode?: number;
  /** Why it failed to start (status "failed"). */
  readonly error?: string;
  readonly bundle: string;
  readonly idMapSlot?: number;
  readonly idMap?: IdMap;
  readonly network?: { readonly slot: number; readonly address: string; readonly netns: string };
  readonly confinement: ConfinementReport;
}

export function writeState(path: string, state: WorkloadState): void {
  writeFileAtomic(path, JSON.stringify(state, null, 2) + "\n", { mode: 0o600 });
}

export function readState(path: string): WorkloadState | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  try {
    const s = JSON.parse(text) as WorkloadState;
    if (s.version !== 1) throw new Error(`unknown state version ${String(s.version)}`);
    return s;
  } catch (cause) {
    throw new PalisadeError("RUNTIME", `state file ${path} is unreadable: ${(cause as Error).message}`, { hint: "remove the workload's directory if it is stale", cause });
  }
}

export function updateState(path: string, change: Partial<WorkloadState>): WorkloadState {
  const cur = readState(path);
  if (!cur) throw new PalisadeError("RUNTIME_NOT_FOUND", `no state file at ${path}`);
  const next = { ...cur, ...change } as WorkloadState;
  writeState(path, next);
  return next;
}

/** Every state file under `root` (one directory per workload id). */
export function listStates(root: string): WorkloadState[] {
  let ids: string[] = [];
  try {
    ids = readdirSync(root);
  } catch {
    return [];
  }
  const out: WorkloadState[] = [];
  for (const id of ids.sort()) {
    try {
      const s = readState(join(root, id, "state.json"));
      if (s) out.push(s);
    } catch {
      // A corrupt state file is reported by inspect; ps lists the rest.
    }
  }
  return out;
}

export function processAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

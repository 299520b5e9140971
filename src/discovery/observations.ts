/**
 * Which recorded operations count as what a workload "did", shared by
 * `recommend` and `profile` so both read records the same way.
 *
 * A record counts when operationOf() gives it an operation and it was not
 * refused with a permission error (Result "Permission denied" /
 * "Operation not permitted", or an alert whose Action is Block). Refusals
 * are left out of recommendations on purpose: under Audit (how discovery
 * runs) policy refuses nothing, so a refusal came from confinement that is
 * not the policy (read-only root, dropped capabilities, seccomp, the
 * workload's interface grants) or from plain file permissions, and the
 * workload evidently lived without the operation. Widening the policy to
 * it would allow what never worked. `includeDenied` overrides this. Other
 * failures (ENOENT, ECONNREFUSED) are still attempts the program makes
 * every run, so they count.
 */
import { posix } from "node:path";
import type { Operation } from "../policy/index.js";
import { operationOf, type LogFields } from "../sensor/logOperation.js";

export const PERMISSION_ERRORS: readonly string[] = ["Permission denied", "Operation not permitted"];

/** Was the operation refused (by the kernel or by a Block verdict)? */
export function wasRefused(r: LogFields & { readonly Action?: unknown }): boolean {
  if (r.Result !== undefined && PERMISSION_ERRORS.includes(r.Result)) return true;
  return r.Action === "Block" && r.Result !== undefined && r.Result !== "Passed";
}

/** Lexically canonical absolute path (no "//", ".", ".." or trailing "/"), or undefined when relative. */
export function canonicalPath(path: string): string | undefined {
  if (!path.startsWith("/")) return undefined;
  const n = posix.normalize(path);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

export type SkipReason = "refused" | "relative-path" | "no-operation" | "syscall";

export interface Observation {
  readonly op: Operation;
  readonly count: number;
}

/**
 * The operation a record contributes to a recommendation, with its paths made
 * canonical, or why it contributes none.
 */
export function observe(r: LogFields & { readonly Count?: unknown; readonly Action?: unknown }, includeDenied = false): Observation | SkipReason {
  const op = operationOf(r);
  if (!op) return "no-operation";
  if (!includeDenied && wasRefused(r)) return "refused";
  if (op.kind === "syscall") return "syscall";
  const count = typeof r.Count === "number" && r.Count > 0 ? r.Count : 1;
  if (op.kind === "file" || op.kind === "process") {
    const path = canonicalPath(op.path);
    if (path === undefined) return "relative-path";
    const source = op.source === undefined ? undefined : canonicalPath(op.source);
    return { op: { ...op, path, ...(source ? { source } : {}) } as Operation, count };
  }
  return { op, count };
}

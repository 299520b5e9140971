/** `palisade ps [--json]`: the workloads this device knows, running and exited. */
import type { Command } from "commander";
import { listWorkloads, type WorkloadView } from "../runtime/workloads.js";
import { formatTable, printJson } from "./output.js";

export function psRow(v: WorkloadView): Record<string, unknown> {
  const s = v.state;
  return {
    id: s.id,
    name: s.name,
    namespace: s.namespace,
    status: v.status,
    pid: v.runc?.pid || s.pid || null,
    image: s.image,
    createdAt: s.createdAt,
    ...(s.startedAt ? { startedAt: s.startedAt } : {}),
    ...(s.finishedAt ? { finishedAt: s.finishedAt } : {}),
    ...(s.exitCode !== undefined ? { exitCode: s.exitCode } : {}),
    ...(s.error ? { error: s.error } : {}),
  };
}

function shortImage(image: string): string {
  const at = image.indexOf("@sha256:");
  return at < 0 ? image : `${image.slice(0, at)}@${image.slice(at + 8, at + 20)}`;
}

export function registerPsCommand(program: Command): void {
  program
    .command("ps")
    .description("list workloads (running and exited)")
    .option("--json", "machine-readable output")
    .action(async (opts: { json?: boolean }) => {
      const views = await listWorkloads();
      if (opts.json) {
        printJson(views.map(psRow));
        return;
      }
      const rows = views.map((v) => [
        v.state.name,
        v.state.namespace,
        v.status + (v.state.exitCode !== undefined && !v.status.startsWith("running") ? ` (${v.state.exitCode})` : ""),
        String(v.runc?.pid || v.state.pid || "-"),
        shortImage(v.state.image),
        v.state.createdAt.replace(/\.\d+Z$/, "Z"),
      ]);
      process.stdout.write(formatTable(["NAME", "NAMESPACE", "STATUS", "PID", "IMAGE", "CREATED"], rows));
    });
}

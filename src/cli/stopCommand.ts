/** `palisade stop NAME [--time SECONDS]`: SIGTERM, then SIGKILL after the grace period. */
import type { Command } from "commander";
import { PalisadeError } from "../core/errors.js";
import { STOP_GRACE_MS, stopWorkload } from "../runtime/workloads.js";

export function registerStopCommand(program: Command): void {
  program
    .command("stop")
    .description("stop a running workload (SIGTERM, then SIGKILL after --time seconds)")
    .argument("<name>", "workload name, NAMESPACE/NAME, or id")
    .option("-t, --time <seconds>", "grace period before SIGKILL", String(STOP_GRACE_MS / 1000))
    .action(async (name: string, opts: { time: string }) => {
      const seconds = Number(opts.time);
      if (!Number.isFinite(seconds) || seconds < 0) throw new PalisadeError("USAGE", `--time must be a number of seconds, not ${JSON.stringify(opts.time)}`);
      const v = await stopWorkload(name, { graceMs: seconds * 1000 });
      process.stdout.write(`${v.state.name}: ${v.status}${v.state.exitCode !== undefined ? ` (exit ${v.state.exitCode})` : ""}\n`);
    });
}

/**
 * `palisade run MANIFEST [--policy FILE]... [--audit] [--name NAME]`: runs
 * a workload in the foreground under full confinement. The workload's
 * stdout/stderr are its own (streamed through); Palisade's one summary line
 * goes to stderr before the workload starts. SIGINT/SIGTERM are forwarded;
 * `palisade run` exits with the workload's status (docs/cli.md).
 */
import type { Command } from "commander";
import { PalisadeError } from "../core/errors.js";
import { probeHost } from "../native/probe.js";
import { invalidFileError, parsePolicyFile, type Policy, type Workload } from "../policy/index.js";
import { runWorkload } from "../runtime/workloads.js";
import { startRunSensor, type RunSensor } from "../sensor/runSensor.js";

interface RunFlags {
  readonly policy?: string[];
  readonly audit?: boolean;
  readonly name?: string;
  readonly container?: string;
  readonly workload?: string;
  /** commander's negation of --no-sensor: false when given. */
  readonly sensor?: boolean;
}

/** The manifest's workload (one, or the one named) and every policy of the manifest and the --policy files. */
export async function loadRunInputs(manifest: string, policyFiles: readonly string[], pick?: string): Promise<{ workload: Workload; policies: Policy[] }> {
  const main = await parsePolicyFile(manifest);
  if (main.errors.length > 0) throw invalidFileError(manifest, main.errors);
  const policies = [...main.policies];
  for (const f of policyFiles) {
    const p = await parsePolicyFile(f);
    if (p.errors.length > 0) throw invalidFileError(f, p.errors);
    if (p.workloads.length > 0) throw new PalisadeError("USAGE", `${f} holds a Workload; --policy files hold policies only`, { hint: "pass the manifest as the first argument" });
    policies.push(...p.policies);
  }
  const candidates = pick === undefined ? main.workloads : main.workloads.filter((w) => w.name === pick);
  if (candidates.length !== 1) {
    throw new PalisadeError("USAGE", candidates.length === 0 ? `${manifest} has no Workload${pick ? ` named ${pick}` : ""}` : `${manifest} has ${candidates.length} Workloads`, {
      hint: candidates.length > 1 ? `choose one with --workload (${candidates.map((w) => w.name).join(", ")})` : "a manifest needs a document of kind Workload (docs/workload.md)",
    });
  }
  return { workload: candidates[0]!, policies };
}

export function registerRunCommand(program: Command): void {
  program
    .command("run")
    .description("run a workload in the foreground under full confinement; exits with its status")
    .argument("<manifest>", "Workload manifest (may also hold KubeArmorPolicy documents)")
    .option("--policy <file...>", "more policy files (KubeArmorPolicy documents)")
    .option("--audit", "audit mode: policy rules and postures only log, nothing in policy blocks (namespaces, capabilities and seccomp still apply)")
    .option("--name <name>", "instance name (default: the workload's metadata.name)")
    .option("--container <name>", "which container of the workload (default: the first)")
    .option("--workload <name>", "which Workload of the manifest, when it holds several")
    .option("--no-sensor", "do not record what the workload does (events and alerts for palisade logs)")
    .action(async (manifest: string, flags: RunFlags) => {
      const { workload, policies } = await loadRunInputs(manifest, flags.policy ?? [], flags.workload);
      const features = await probeHost();
      const warn = (msg: string) => process.stderr.write(`palisade: ${msg}\n`);
      let sensor: RunSensor | undefined;
      try {
        const result = await runWorkload({
          workload,
          policies,
          features,
          stdio: "inherit",
          forwardSignals: true,
          manifest,
          ...(flags.name ? { name: flags.name } : {}),
          ...(flags.container ? { container: flags.container } : {}),
          ...(flags.audit ? { auditOnly: true } : {}),
          ...(flags.sensor !== false ? { onCreated: async (created) => void (sensor = await startRunSensor(created, { log: warn })) } : {}),
          onConfined: (_report, line) => process.stderr.write(`${line}${sensor ? ` · ${sensor.note}` : flags.sensor === false ? " · sensor off (--no-sensor)" : ""}\n`),
        });
        process.exitCode = result.exitCode;
      } finally {
        await sensor?.close();
      }
    });
}

/**
 * `palisade deploy NAME --bundle DIGEST --selector k=v`: creates the
 * deployment NAME, or points an existing one at a new bundle and/or selector
 * (a new revision). Matching devices pick it up at their next poll.
 */
import type { Command } from "commander";
import { PalisadeError } from "../core/errors.js";
import { DIGEST_RE } from "../core/signing/bundleFormat.js";
import type { TargetFlags } from "./contexts.js";
import { HubApiClient, seg, withTarget } from "./hubApiClient.js";
import { parseSelector } from "./labelArgs.js";
import { formatTable, printJson } from "./output.js";

interface Deployment {
  id: string;
  name: string;
  bundleDigest: string;
  bundleName: string;
  bundleVersion: number;
  selector: Record<string, unknown>;
  revision: number;
}

export function registerDeployCommand(program: Command): void {
  withTarget(
    program
      .command("deploy")
      .description("deploy a bundle to the nodes a label selector picks (creates or updates the deployment NAME)")
      .argument("<name>", "deployment name (a DNS label)")
      .option("--bundle <digest>", "sha256:… of an uploaded bundle (palisade workload push prints it)")
      .option("--selector <sel>", "which nodes: k=v,k!=v,k,!k (required for a new deployment)")
      .option("--all-nodes", "select every node of the org (instead of --selector)")
      .option("--delete", "delete the deployment instead: devices stop its workload")
      .option("--json", "machine-readable output"),
  ).action(async (name: string, flags: TargetFlags & { bundle?: string; selector?: string; allNodes?: boolean; delete?: boolean; json?: boolean }) => {
    const client = HubApiClient.from(flags);
    if (flags.delete) {
      const d = await client.call<Deployment>("DELETE", `/v1/deployments/${seg(name)}`);
      return flags.json ? printJson(d) : void process.stdout.write(`deleted deployment ${d.name}\n`);
    }
    if (flags.bundle !== undefined && !DIGEST_RE.test(flags.bundle)) throw new PalisadeError("USAGE", `--bundle must be sha256:<64 hex>, not ${JSON.stringify(flags.bundle)}`);
    if (flags.selector !== undefined && flags.allNodes) throw new PalisadeError("USAGE", "--selector and --all-nodes exclude each other");
    const selector = flags.allNodes ? {} : flags.selector !== undefined ? parseSelector(flags.selector) : undefined;
    const existing = (await client.get<Deployment[]>("/v1/deployments")).find((d) => d.name === name);
    let d: Deployment;
    if (existing) {
      if (!flags.bundle && !selector) throw new PalisadeError("USAGE", `deployment ${name} exists; say what changes`, { hint: "pass --bundle and/or --selector" });
      d = await client.call<Deployment>("PATCH", `/v1/deployments/${seg(existing.id)}`, { ...(flags.bundle ? { bundleDigest: flags.bundle } : {}), ...(selector ? { selector } : {}) });
    } else {
      if (!flags.bundle) throw new PalisadeError("USAGE", "a new deployment needs --bundle DIGEST");
      if (!selector) throw new PalisadeError("USAGE", "a new deployment needs --selector (or --all-nodes to select every node)");
      d = await client.post<Deployment>("/v1/deployments", { name, bundleDigest: flags.bundle, selector });
    }
    if (flags.json) return printJson(d);
    process.stdout.write(`${existing ? "updated" : "created"} deployment ${d.name} (revision ${d.revision}): ${d.bundleName} v${d.bundleVersion} ${d.bundleDigest}\n`);
  });
}

export function deploymentRows(list: readonly Deployment[]): string {
  return formatTable(["NAME", "BUNDLE", "VERSION", "REVISION", "SELECTOR"], list.map((d) => [d.name, d.bundleName, String(d.bundleVersion), String(d.revision), JSON.stringify(d.selector)]));
}

export type { Deployment };

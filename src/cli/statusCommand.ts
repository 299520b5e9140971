/**
 * `palisade status [--json]`: the fleet at a glance — which org, how many
 * nodes are online/offline/revoked, and per deployment how many nodes report
 * its workload in each state (from the nodes' latest status reports).
 */
import type { Command } from "commander";
import type { TargetFlags } from "./contexts.js";
import type { Deployment } from "./deployCommand.js";
import { HubApiClient, withTarget } from "./hubApiClient.js";
import type { NodeView } from "./nodeCommand.js";
import { formatTable, printJson } from "./output.js";

export function registerStatusCommand(program: Command): void {
  withTarget(program.command("status").description("the fleet at a glance: nodes by status, deployments by workload state").option("--json", "machine-readable output")).action(
    async (flags: TargetFlags & { json?: boolean }) => {
      const client = HubApiClient.from(flags);
      const [who, nodes, deployments] = await Promise.all([
        client.get<{ orgName: string; role: string }>("/v1/whoami"),
        client.get<NodeView[]>("/v1/nodes"),
        client.get<Deployment[]>("/v1/deployments"),
      ]);
      const byStatus: Record<string, number> = {};
      for (const n of nodes) byStatus[n.status] = (byStatus[n.status] ?? 0) + 1;
      const perDeployment = deployments.map((d) => {
        const states: Record<string, number> = {};
        for (const n of nodes) for (const w of n.workloads) if (w.deployment === d.name) states[w.state] = (states[w.state] ?? 0) + 1;
        return { name: d.name, bundle: `${d.bundleName} v${d.bundleVersion}`, digest: d.bundleDigest, revision: d.revision, states };
      });
      const view = { hub: client.target.hub, org: who.orgName, role: who.role, nodes: { total: nodes.length, ...byStatus }, deployments: perDeployment };
      if (flags.json) return printJson(view);
      process.stdout.write(`hub ${view.hub}, org ${who.orgName} (${who.role})\n`);
      process.stdout.write(`nodes: ${nodes.length} (${Object.entries(byStatus).map(([k, v]) => `${v} ${k}`).join(", ") || "none enrolled"})\n\n`);
      process.stdout.write(
        formatTable(
          ["DEPLOYMENT", "BUNDLE", "REVISION", "NODES REPORTING"],
          perDeployment.map((d) => [d.name, d.bundle, String(d.revision), Object.entries(d.states).map(([k, v]) => `${v} ${k}`).join(", ") || "-"]),
        ),
      );
    },
  );
}

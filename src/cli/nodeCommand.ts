/** `palisade node ls [--selector] | describe ID | label ID k=v… k- | revoke ID`: enrolled devices. */
import type { Command } from "commander";
import { PalisadeError } from "../core/errors.js";
import type { TargetFlags } from "./contexts.js";
import { HubApiClient, seg, withTarget } from "./hubApiClient.js";
import { formatTable, printJson } from "./output.js";

export interface NodeView {
  id: string;
  publicKey: string;
  labels: Record<string, string>;
  agentVersion: string;
  hostname: string;
  enrolledAt: string;
  lastSeenAt: string | null;
  status: string;
  revokedAt: string | null;
  revokeReason: string | null;
  workloads: { deployment?: string; name: string; bundleDigest?: string; state: string; message?: string }[];
  statusAt: string | null;
}

const labelText = (l: Record<string, string>) => Object.entries(l).map(([k, v]) => `${k}=${v}`).join(",");

export function registerNodeCommand(program: Command): void {
  const node = program.command("node").description("enrolled devices");
  withTarget(node.command("ls").description("list nodes").option("--selector <sel>", "k=v,k!=v,k,!k").option("--json", "machine-readable output")).action(
    async (flags: TargetFlags & { selector?: string; json?: boolean }) => {
      const q = flags.selector ? `?selector=${encodeURIComponent(flags.selector)}` : "";
      const nodes = await HubApiClient.from(flags).get<NodeView[]>(`/v1/nodes${q}`);
      if (flags.json) return printJson(nodes);
      process.stdout.write(
        formatTable(
          ["ID", "HOSTNAME", "STATUS", "LAST SEEN", "WORKLOADS", "LABELS"],
          nodes.map((n) => [n.id, n.hostname, n.status, n.lastSeenAt ?? "never", n.workloads.map((w) => `${w.name}:${w.state}`).join(",") || "-", labelText(n.labels)]),
        ),
      );
    },
  );
  withTarget(node.command("describe").description("one node in detail").argument("<id>").option("--json", "machine-readable output")).action(async (id: string, flags: TargetFlags & { json?: boolean }) => {
    const n = await HubApiClient.from(flags).get<NodeView>(`/v1/nodes/${seg(id)}`);
    if (flags.json) return printJson(n);
    const lines = [
      `node:        ${n.id}`,
      `hostname:    ${n.hostname}`,
      `status:      ${n.status}${n.revokedAt ? ` (revoked ${n.revokedAt}${n.revokeReason ? `: ${n.revokeReason}` : ""})` : ""}`,
      `last seen:   ${n.lastSeenAt ?? "never"}`,
      `enrolled:    ${n.enrolledAt}, agent ${n.agentVersion}`,
      `public key:  ${n.publicKey}`,
      `labels:      ${labelText(n.labels) || "-"}`,
      `status at:   ${n.statusAt ?? "no report yet"}`,
      "",
    ];
    process.stdout.write(lines.join("\n") + "\n");
    process.stdout.write(formatTable(["DEPLOYMENT", "INSTANCE", "STATE", "BUNDLE", "MESSAGE"], n.workloads.map((w) => [w.deployment ?? "", w.name, w.state, (w.bundleDigest ?? "").slice(0, 19), w.message ?? ""])));
  });
  withTarget(
    node
      .command("label")
      .description("set labels (k=v) or remove them (k-)")
      .argument("<id>")
      .argument("<changes...>", "k=v to set, k- to remove")
      .option("--json", "machine-readable output"),
  ).action(async (id: string, changes: string[], flags: TargetFlags & { json?: boolean }) => {
    const labels: Record<string, string | null> = {};
    for (const c of changes) {
      const m = /^([^=]+?)(?:=(.*)|(-))$/.exec(c);
      if (!m) throw new PalisadeError("USAGE", `cannot read label change ${JSON.stringify(c)}`, { hint: "use key=value to set and key- to remove" });
      labels[m[1]!] = m[3] ? null : (m[2] ?? "");
    }
    const n = await HubApiClient.from(flags).call<NodeView>("PATCH", `/v1/nodes/${seg(id)}/labels`, { labels });
    if (flags.json) return printJson(n);
    process.stdout.write(`${n.id}: ${labelText(n.labels) || "(no labels)"}\n`);
  });
  withTarget(node.command("revoke").description("revoke a node: its requests are refused from now on").argument("<id>").option("--reason <text>", "why (kept in the audit log)")).action(
    async (id: string, flags: TargetFlags & { reason?: string }) => {
      const n = await HubApiClient.from(flags).post<NodeView>(`/v1/nodes/${seg(id)}/revoke`, flags.reason ? { reason: flags.reason } : {});
      process.stdout.write(`revoked node ${n.id} at ${n.revokedAt ?? "now"}\n`);
    },
  );
}

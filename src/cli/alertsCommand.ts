/**
 * `palisade alerts [--node ID] [--kernel] [--last N] [--follow] [--json]`:
 * alerts the org's devices reported to the hub (`GET /v1/alerts`), oldest
 * first. Two kinds arrive, both in KubeArmor's field names: the kernel's
 * (a workload did something its policy blocks or audits; `Type` is
 * MatchedPolicy, MatchedNativePolicy, …) and the agent's own (`Type`
 * AgentEvent: a refused bundle, a revoked key, a workload that exited).
 *
 * --follow prints what is there, then polls and prints new alerts as they
 * arrive, until interrupted; with --json it prints one JSON object per line
 * (so a pipe can read them as they come), otherwise a JSON array.
 */
import type { Command } from "commander";
import { PalisadeError } from "../core/errors.js";
import { alertCursor } from "../hub/routes/nodeRoutes.js";
import type { TargetFlags } from "./contexts.js";
import { HubApiClient, withTarget } from "./hubApiClient.js";
import { formatTable, printJson } from "./output.js";

export interface AlertView {
  readonly nodeId: string;
  readonly id: string;
  readonly time: string;
  readonly receivedAt: string;
  readonly alert: Record<string, unknown>;
}

interface AlertPage {
  readonly items: AlertView[];
  readonly nextCursor: string | null;
}

interface AlertsFlags extends TargetFlags {
  node?: string;
  kernel?: boolean;
  last: string;
  follow?: boolean;
  interval: string;
  json?: boolean;
}

const PAGE = 1000;

/** Every alert after `cursor` (all pages); returns them and the cursor to resume after the last one. */
export async function fetchAlertsAfter(client: HubApiClient, nodeId: string | undefined, cursor: string | undefined): Promise<{ items: AlertView[]; cursor: string | undefined }> {
  const items: AlertView[] = [];
  let next = cursor;
  for (;;) {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (nodeId) q.set("nodeId", nodeId);
    if (next) q.set("cursor", next);
    const page = await client.get<AlertPage>(`/v1/alerts?${q.toString()}`);
    items.push(...page.items);
    const last = page.items[page.items.length - 1];
    if (last) next = alertCursor(last);
    if (page.nextCursor === null) return { items, cursor: next };
  }
}

/** True for alerts raised by the kernel (a policy match), false for the agent's own events. */
export function isKernelAlert(a: AlertView): boolean {
  return a.alert.Type !== "AgentEvent";
}

const str = (v: unknown) => (v === undefined || v === null ? "" : String(v));

function row(a: AlertView): string[] {
  const x = a.alert;
  const what = [str(x.Operation), str(x.Resource)].filter(Boolean).join(" ");
  return [
    a.time,
    a.nodeId,
    str(x.PodName) || "-",
    str(x.Action) || "-",
    str(x.Severity) || "-",
    str(x.PolicyName) || "-",
    `${what.length > 60 ? `${what.slice(0, 57)}...` : what}${x.Result ? ` (${str(x.Result)})` : ""}`,
  ];
}

const HEADER = ["TIME", "NODE", "WORKLOAD", "ACTION", "SEV", "POLICY", "WHAT (RESULT)"];


export function registerAlertsCommand(program: Command): void {
  withTarget(
    program
      .command("alerts")
      .description("alerts the devices reported to the hub: the kernel's (blocked or audited actions) and the agents' own")
      .option("--node <id>", "only this node's alerts")
      .option("--kernel", "only kernel alerts (policy matches), not the agents' own events")
      .option("--last <n>", "show only the newest N (0: all)", "50")
      .option("-f, --follow", "keep printing new alerts as they arrive (Ctrl-C ends)")
      .option("--interval <seconds>", "with --follow: how often to ask the hub", "2")
      .option("--json", "machine-readable output (with --follow: one JSON object per line)"),
  ).action(async (flags: AlertsFlags) => {
    const last = Number(flags.last);
    if (!Number.isInteger(last) || last < 0) throw new PalisadeError("USAGE", `--last must be a whole number, not ${JSON.stringify(flags.last)}`, { hint: "e.g. --last 20, or --last 0 for every alert" });
    const interval = Number(flags.interval);
    if (!Number.isFinite(interval) || interval <= 0) throw new PalisadeError("USAGE", `--interval must be a positive number of seconds, not ${JSON.stringify(flags.interval)}`);
    const client = HubApiClient.from(flags);
    const keep = (items: AlertView[]) => (flags.kernel ? items.filter(isKernelAlert) : items);

    let { items, cursor } = await fetchAlertsAfter(client, flags.node, undefined);
    let shown = keep(items);
    if (last > 0) shown = shown.slice(-last);
    if (!flags.follow) {
      if (flags.json) return printJson(shown);
      if (shown.length === 0) {
        process.stdout.write("no alerts yet\n");
        return;
      }
      process.stdout.write(formatTable(HEADER, shown.map(row)));
      return;
    }

    const print = (batch: AlertView[], header: boolean) => {
      if (flags.json) for (const a of batch) process.stdout.write(JSON.stringify(a) + "\n");
      else if (batch.length > 0) {
        // Rows of a followed table cannot be aligned with rows yet to come; a header once, tab-separated after it.
        if (header) process.stdout.write(HEADER.join("\t") + "\n");
        for (const a of batch) process.stdout.write(row(a).join("\t") + "\n");
      }
    };
    print(shown, true);
    let headerShown = shown.length > 0;
    // Ctrl-C ends the wait at once and the verb returns normally (exit 0).
    let stopped = false;
    let wake = () => {};
    const stop = () => {
      stopped = true;
      wake();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    try {
      while (!stopped) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, interval * 1000);
          wake = () => (clearTimeout(t), r());
        });
        if (stopped) break;
        ({ items, cursor } = await fetchAlertsAfter(client, flags.node, cursor));
        const fresh = keep(items);
        print(fresh, !headerShown);
        headerShown ||= fresh.length > 0;
      }
    } finally {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
    }
  });
}

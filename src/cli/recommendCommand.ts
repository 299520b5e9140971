/**
 * `palisade recommend W [--since T] [--out FILE] [--json]`: the least-
 * permissive KubeArmorPolicy that allows what workload W was seen doing
 * (src/discovery/recommendPolicy.ts; docs/discovery.md). Records come from
 * the local EventStore (`<dataDir>/events.db`, written by `palisade run`),
 * or from a `palisade logs --json` file with --events.
 *
 * The selector: --labels, else the Labels the records carry (the workload's
 * labels as the sensor saw them), else the labels of the manifest W was run
 * from. Also the helpers `profile` shares: reading records, --since.
 */
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { PalisadeError, asPalisadeError } from "../core/errors.js";
import { parseDuration } from "../agent/parseDuration.js";
import { badLinesError, describeSkipped, parseLabelList, parseRecordLines, recommendPolicyData, type RecordLike } from "../discovery/index.js";
import { parsePolicyFile } from "../policy/index.js";
import { EventStore, eventStorePath } from "../sensor/eventStore.js";
import { findWorkload } from "../runtime/workloads.js";
import { parseLabels } from "./labelArgs.js";
import { printJson } from "./output.js";

/** `--since`: an RFC 3339 time, or a duration back from now ("10m", "2h", "7d"). */
export function parseSince(text: string | undefined, now = Date.now()): Date | undefined {
  if (text === undefined) return undefined;
  if (/^\d{4}-\d\d-\d\d/.test(text)) {
    const t = Date.parse(text);
    if (Number.isNaN(t)) throw new PalisadeError("USAGE", `--since: ${JSON.stringify(text)} is not a valid time`, { hint: "e.g. 2026-11-23T10:00:00Z, or a duration such as 30m" });
    return new Date(t);
  }
  return new Date(now - parseDuration(text, "--since"));
}

export interface WorkloadRecords {
  readonly records: RecordLike[];
  /** Highest seq read (store only), for --follow. */
  readonly lastSeq: number;
  readonly origin: string;
}

/** Records of workload `w` from a JSON-lines file (all lines must parse) or the EventStore. */
export async function readWorkloadRecords(w: string, opts: { events?: string; since?: Date; afterSeq?: number }): Promise<WorkloadRecords> {
  if (opts.events !== undefined) {
    let text: string;
    try {
      text = await readFile(opts.events, "utf8");
    } catch (err) {
      throw asPalisadeError(err);
    }
    const parsed = parseRecordLines(text, opts.events);
    if (parsed.problems.length) {
      for (const p of parsed.problems) process.stderr.write(`${p.file}:${p.line}: ${p.message}\n`);
      throw badLinesError(parsed.problems);
    }
    const since = opts.since?.getTime();
    const records = parsed.records
      .filter((r) => {
        const owner = r.workload ?? r.record.ContainerName;
        return owner === undefined || owner === "" || owner === w;
      })
      .filter((r) => since === undefined || recordTime(r.record) >= since)
      .map((r) => r.record);
    return { records, lastSeq: 0, origin: opts.events };
  }
  const path = eventStorePath();
  if (!existsSync(path)) {
    throw new PalisadeError("IO", `no event store at ${path}`, { hint: "events are stored by `palisade run` (unless --no-sensor); set PALISADE_DATA_DIR if it uses another data directory, or pass --events FILE" });
  }
  const store = EventStore.open(path, { readonly: true });
  try {
    const rows = store.query({ workload: w, ...(opts.since ? { since: opts.since } : {}), ...(opts.afterSeq !== undefined ? { afterSeq: opts.afterSeq } : {}) });
    return { records: rows.map((r) => r.record as unknown as RecordLike), lastSeq: rows.at(-1)?.seq ?? opts.afterSeq ?? 0, origin: path };
  } finally {
    store.close();
  }
}

function recordTime(r: RecordLike): number {
  const t = typeof r.UpdatedTime === "string" ? Date.parse(r.UpdatedTime) : NaN;
  if (!Number.isNaN(t)) return t;
  return typeof r.Timestamp === "number" ? r.Timestamp * 1000 : 0;
}

/** The most frequent value of a record field (labels and namespace are per workload, so normally one). */
function commonest(records: readonly RecordLike[], field: string): string | undefined {
  const counts = new Map<string, number>();
  for (const r of records) {
    const v = r[field];
    if (typeof v === "string" && v !== "") counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
}

async function manifestIdentity(w: string): Promise<{ labels?: Record<string, string>; namespace?: string }> {
  let state;
  try {
    state = findWorkload(w);
  } catch {
    return {};
  }
  if (!state.manifest) return { namespace: state.namespace };
  try {
    const parsed = await parsePolicyFile(state.manifest);
    const wl = parsed.workloads.find((x) => x.name === state.name) ?? parsed.workloads[0];
    return { namespace: state.namespace, ...(wl ? { labels: { ...wl.labels } } : {}) };
  } catch {
    return { namespace: state.namespace };
  }
}

/** A DNS-label policy name from the workload name. */
export function defaultPolicyName(w: string): string {
  const base = w
    .slice(w.lastIndexOf("/") + 1)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return `${(base || "workload").slice(0, 50)}-recommended`;
}

interface RecommendFlags {
  since?: string;
  out?: string;
  json?: boolean;
  events?: string;
  name?: string;
  labels?: string;
  namespace?: string;
  fromSource: boolean;
  includeDenied?: boolean;
}

async function recommend(w: string, flags: RecommendFlags): Promise<void> {
  const since = parseSince(flags.since);
  const { records, origin } = await readWorkloadRecords(w, { ...(flags.events !== undefined ? { events: flags.events } : {}), ...(since ? { since } : {}) });
  if (records.length === 0) {
    throw new PalisadeError("USAGE", `no recorded events for workload ${w} in ${origin}${since ? ` since ${since.toISOString()}` : ""}`, {
      hint: "run it with the sensor watching (palisade run --audit …) and exercise it first; palisade ps lists workload names",
    });
  }
  const fromManifest = flags.labels === undefined || flags.namespace === undefined ? await manifestIdentity(w) : {};
  const labels = flags.labels !== undefined ? parseLabels(flags.labels) : (parseLabelList(commonest(records, "Labels")) ?? fromManifest.labels);
  if (labels === undefined || Object.keys(labels).length === 0) {
    throw new PalisadeError("USAGE", `the records of ${w} carry no labels, and no manifest names any`, {
      hint: "pass the workload's labels: palisade recommend W --labels app=NAME (a policy without a selector would apply to every workload)",
    });
  }
  const namespace = flags.namespace ?? commonest(records, "NamespaceName") ?? fromManifest.namespace ?? "default";
  const name = flags.name ?? defaultPolicyName(w);
  const rec = recommendPolicyData(records, { name, namespace, labels, fromSource: flags.fromSource, includeDenied: flags.includeDenied === true });
  if (flags.out !== undefined) await writeFile(flags.out, rec.yaml, "utf8").catch((err: unknown) => Promise.reject(asPalisadeError(err)));
  if (flags.json) {
    printJson({ workload: w, name, namespace, labels, records: records.length, used: rec.used, skipped: rec.skipped, counts: rec.counts, ...(flags.out !== undefined ? { out: flags.out } : {}), policy: rec.yaml });
    return;
  }
  const skipped = describeSkipped(rec.skipped);
  const summary = `${name}: ${rec.counts.processes} programs, ${rec.counts.fileEntries} file entries, ${rec.counts.protocols} protocols from ${rec.used} of ${records.length} records${skipped ? ` (skipped: ${skipped})` : ""}\n`;
  if (flags.out !== undefined) process.stdout.write(`wrote ${flags.out}: ${summary}`);
  else {
    process.stdout.write(rec.yaml);
    process.stderr.write(summary);
  }
}

export function registerRecommendCommand(program: Command): void {
  program
    .command("recommend")
    .description("write the least-permissive policy that allows what a workload was seen doing")
    .argument("<workload>", "workload name as palisade ps shows it")
    .option("--since <time>", "only records since this time (RFC 3339) or duration ago (30m, 2h, 7d)")
    .option("--out <file>", "write the policy to this file instead of standard output")
    .option("--events <file>", "read records from a `palisade logs --json` file instead of the event store")
    .option("--name <name>", "metadata.name of the policy (default: WORKLOAD-recommended)")
    .option("--labels <k=v,...>", "selector labels (default: the labels the records carry)")
    .option("--namespace <ns>", "metadata.namespace (default: the records' namespace)")
    .option("--no-from-source", "do not scope file, network and capability rules to the binaries seen (needed where Landlock, not BPF-LSM, enforces)")
    .option("--include-denied", "also allow operations that were refused when recorded")
    .option("--json", "machine-readable output (the policy text in .policy)")
    .addHelpText(
      "after",
      "\nRun the workload in audit mode first so it is not stopped by a policy while it is observed:\n  palisade run --audit … ; (exercise it) ; palisade recommend web --out web-policy.yaml\n  palisade policy validate web-policy.yaml\nRules: docs/discovery.md.\n",
    )
    .action((w: string, flags: RecommendFlags) => recommend(w, flags));
}

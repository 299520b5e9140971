/**
 * `palisade profile W [--since T] [--follow] [--json]`: what workload W did,
 * per binary — executions, files read and written, sockets and peers,
 * denials and alerts (src/discovery/summarizeProfile.ts). Reads the local
 * EventStore, or a `palisade logs --json` file with --events.
 *
 * --follow prints the profile, then polls the store and prints it again
 * whenever new records arrived, until interrupted (--json: one compact JSON
 * profile per line, so a pipe can read each update as it comes).
 */
import type { Command } from "commander";
import { PalisadeError } from "../core/errors.js";
import { parseDuration } from "../agent/parseDuration.js";
import { renderProfile, summarizeProfile, type RecordLike } from "../discovery/index.js";
import { parseSince, readWorkloadRecords } from "./recommendCommand.js";
import { printJson } from "./output.js";

interface ProfileFlags {
  since?: string;
  follow?: boolean;
  json?: boolean;
  events?: string;
  interval: string;
}

function print(w: string, records: readonly RecordLike[], json: boolean | undefined, follow: boolean): void {
  const p = summarizeProfile(records, [w]);
  if (json && follow) process.stdout.write(JSON.stringify(p) + "\n");
  else if (json) printJson(p);
  else process.stdout.write(renderProfile(p));
}

/** The --follow loop; returns when `signal` aborts. */
export async function followProfile(w: string, flags: ProfileFlags, signal: AbortSignal): Promise<void> {
  const since = parseSince(flags.since);
  const intervalMs = parseDuration(flags.interval, "--interval");
  const first = await readWorkloadRecords(w, since ? { since } : {});
  const records = [...first.records];
  let last = first.lastSeq;
  print(w, records, flags.json, true);
  while (!signal.aborted) {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, intervalMs);
      signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
    });
    if (signal.aborted) break;
    const more = await readWorkloadRecords(w, { afterSeq: last });
    if (more.records.length === 0) continue;
    records.push(...more.records);
    last = more.lastSeq;
    if (!flags.json) process.stdout.write(`\n--- ${new Date().toISOString()}: ${more.records.length} new record${more.records.length === 1 ? "" : "s"}\n`);
    print(w, records, flags.json, true);
  }
}

async function profile(w: string, flags: ProfileFlags): Promise<void> {
  if (flags.follow) {
    if (flags.events !== undefined) throw new PalisadeError("USAGE", "--follow reads the event store; it cannot follow an --events file", { hint: "drop --events, or drop --follow" });
    const ac = new AbortController();
    const stop = () => ac.abort();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    try {
      await followProfile(w, flags, ac.signal);
    } finally {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
    }
    return;
  }
  const since = parseSince(flags.since);
  const { records } = await readWorkloadRecords(w, { ...(flags.events !== undefined ? { events: flags.events } : {}), ...(since ? { since } : {}) });
  print(w, records, flags.json, false);
}

export function registerProfileCommand(program: Command): void {
  program
    .command("profile")
    .description("summarise what a workload did, per binary: execs, files, network, denials")
    .argument("<workload>", "workload name as palisade ps shows it")
    .option("--since <time>", "only records since this time (RFC 3339) or duration ago (30m, 2h, 7d)")
    .option("--follow", "keep watching the event store and print the profile again as records arrive")
    .option("--interval <duration>", "poll interval for --follow", "1s")
    .option("--events <file>", "read records from a `palisade logs --json` file instead of the event store")
    .option("--json", "machine-readable profile")
    .action((w: string, flags: ProfileFlags) => profile(w, flags));
}

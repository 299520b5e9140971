/**
 * `palisade logs [--json] [--follow] [--workload W] [--type alert|log] [--since T]`:
 * what confined workloads did, from this device's event store
 * (<dataDir>/events.db, written by `palisade run`'s sensor), oldest first.
 *
 * Human output, one line per record:
 *   TIME  WORKLOAD  ACTION/RESULT  OPERATION  RESOURCE  [POLICY]  [×COUNT]
 * where ACTION is the alert's Action (Block, Audit) or "Log". --json prints
 * each record as one JSON object per line, KubeArmor field names unchanged.
 * --follow keeps polling the store (every --interval ms; no busy loop) and
 * prints new records until SIGINT/SIGTERM, then exits 0.
 * Lost events are never silent: when the sensor reported drops, or the
 * store's bound discarded old records, a note goes to stderr.
 */
import type { Command } from "commander";
import { PalisadeError } from "../core/errors.js";
import { EventStore, eventStorePath, type EventQuery, type RecordKind, type StoredRecord } from "../sensor/eventStore.js";

interface LogsFlags {
  readonly json?: boolean;
  readonly follow?: boolean;
  readonly workload?: string;
  readonly type?: string;
  readonly since?: string;
  readonly interval: string;
}

const UNITS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "10m", "2h", "1d", "30s" (ago, from `now`) or an RFC 3339 time. */
export function parseSince(text: string, now = Date.now()): Date {
  const rel = /^(\d+)([smhd])$/.exec(text.trim());
  if (rel) return new Date(now - Number(rel[1]) * UNITS[rel[2]!]!);
  if (/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/i.test(text.trim())) {
    const t = Date.parse(text);
    if (!Number.isNaN(t)) return new Date(t);
  }
  throw new PalisadeError("USAGE", `--since ${JSON.stringify(text)} is neither a duration nor an RFC 3339 time`, { hint: "e.g. --since 10m, --since 2h, --since 1d, or --since 2026-01-31T12:00:00Z" });
}

function parseKind(text: string | undefined): RecordKind | undefined {
  if (text === undefined) return undefined;
  if (text === "alert" || text === "log") return text;
  throw new PalisadeError("USAGE", `--type must be alert or log, not ${JSON.stringify(text)}`);
}

/**
 * Control characters as \xNN: records hold what workloads chose (paths, argv), and a
 * newline must not forge a second record nor an escape sequence drive the terminal.
 */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** One human line for a stored record. */
export function formatRecord(r: StoredRecord): string {
  const k = r.record as unknown as Record<string, unknown>;
  const str = (f: string) => (typeof k[f] === "string" ? printable(k[f] as string) : "");
  const action = r.kind === "alert" ? str("Action") || "Alert" : "Log";
  const parts = [str("UpdatedTime"), printable(r.workload), `${action}/${str("Result")}`, str("Operation"), str("Resource") || "-"];
  if (r.kind === "alert") parts.push(str("PolicyName"));
  if (typeof k.Count === "number" && k.Count > 1) parts.push(`×${k.Count}${typeof k.OtherPIDs === "number" && k.OtherPIDs > 0 ? ` (${k.OtherPIDs} by other processes of the program)` : ""}`);
  return parts.join("  ");
}

function print(records: readonly StoredRecord[], json: boolean): void {
  if (records.length === 0) return;
  process.stdout.write(records.map((r) => (json ? JSON.stringify(r.record) : formatRecord(r))).join("\n") + "\n");
}

/** Notes on stderr about lost events: the sensor's drop counters and the store's bound. */
function lossNotes(store: EventStore, since: Date | undefined): string[] {
  const notes: string[] = [];
  const worst = store.sensorStats(since).reduce<{ dropped: number; time?: string }>((w, s) => (s.dropped > w.dropped ? { dropped: s.dropped, time: s.time } : w), { dropped: 0 });
  if (worst.dropped > 0) notes.push(`the sensor lost events before they could be recorded (${worst.dropped} in one run, reported ${worst.time}); these logs are incomplete`);
  const st = store.stats();
  if (st.droppedOldest > 0) notes.push(`${st.droppedOldest} older records were discarded to keep the store within its bound (oldest kept: seq ${st.oldestSeq ?? "-"})`);
  return notes;
}

export function registerLogsCommand(program: Command): void {
  program
    .command("logs")
    .description("what workloads on this device did: logs and alerts recorded by the sensor (KubeArmor fields)")
    .option("--json", "one JSON record per line (KubeArmor field names)")
    .option("--follow", "keep printing new records until interrupted")
    .option("--workload <name>", "only this workload instance (as palisade ps names it)")
    .option("--type <kind>", "alert or log")
    .option("--since <time>", "only records since a time: 10m, 2h, 1d, or RFC 3339")
    .option("--interval <ms>", "how often --follow polls the store", "1000")
    .action(async (flags: LogsFlags) => {
      const kind = parseKind(flags.type);
      const since = flags.since !== undefined ? parseSince(flags.since) : undefined;
      const interval = Number(flags.interval);
      if (!Number.isFinite(interval) || interval < 50) throw new PalisadeError("USAGE", `--interval must be a number of milliseconds ≥ 50, not ${flags.interval}`);
      const store = EventStore.open(eventStorePath(), { readonly: true });
      try {
        const q: EventQuery = { ...(flags.workload ? { workload: flags.workload } : {}), ...(kind ? { kind } : {}), ...(since ? { since } : {}) };
        let last = 0;
        const drain = () => {
          for (;;) {
            const page = store.query({ ...q, afterSeq: last, limit: 5000 });
            print(page, flags.json === true);
            if (page.length > 0) last = page.at(-1)!.seq;
            if (page.length < 5000) return;
          }
        };
        drain();
        for (const n of lossNotes(store, since)) process.stderr.write(`palisade: note: ${n}\n`);
        if (!flags.follow) return;
        await new Promise<void>((resolve) => {
          let timer: NodeJS.Timeout | undefined;
          const stop = () => {
            if (timer) clearTimeout(timer);
            process.off("SIGINT", stop);
            process.off("SIGTERM", stop);
            resolve();
          };
          process.on("SIGINT", stop);
          process.on("SIGTERM", stop);
          const tick = () => {
            drain();
            timer = setTimeout(tick, interval);
          };
          timer = setTimeout(tick, interval);
        });
      } finally {
        store.close();
      }
    });
}

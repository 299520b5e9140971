/**
 * Durations on the command line: `30s`, `5m`, `24h`, `7d`, `500ms`, or a
 * bare number of seconds. One parser for the agent (--poll) and the fleet
 * verbs (--expires), so `24h` means the same thing everywhere.
 */
import { PalisadeError } from "../core/errors.js";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds for `text`; throws USAGE naming the option for anything else. */
export function parseDuration(text: string, option = "duration"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2] ?? "s"]! : NaN;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new PalisadeError("USAGE", `${option} must be a positive duration such as 500ms, 30s, 5m, 24h or 7d, not ${JSON.stringify(text)}`);
  }
  return Math.round(ms);
}

/** `90000` → "1m30s": for log lines. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  if (s > 0 || parts.length === 0) parts.push(`${s}s`);
  return parts.join("");
}

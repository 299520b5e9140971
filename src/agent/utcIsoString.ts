/**
 * `Date.prototype.toISOString` for the agent process, computed from the
 * getUTC* fields. V8's own (and toJSON, which calls it) touches ICU data in
 * the node binary on first use — its date cache sets up the time zone —
 * and those pages stay resident for the life of the process: measured on
 * the running agent with /proc/PID/pagemap over the binary's `icudt*_dat`,
 * 0.45 → 1.07 MiB after one call, and nothing else the idle agent does
 * touches ICU (docs/agent.md, *Footprint*). Every log line, outbox item and
 * sensor record carries an ISO time, so the call cannot be avoided; it can
 * be made without ICU. Same output for every valid time value, including
 * the extended ±YYYYYY years; RangeError for an invalid date, TypeError
 * for a non-Date `this`, as the built-in.
 */

const two = (n: number) => (n < 10 ? "0" : "") + String(n);

export function utcIsoString(this: Date): string {
  // Throws TypeError for a `this` that is not a Date, as the built-in does.
  const t = Date.prototype.getTime.call(this);
  if (!Number.isFinite(t)) throw new RangeError("Invalid time value");
  const y = this.getUTCFullYear();
  const year = y >= 0 && y <= 9999 ? String(y).padStart(4, "0") : (y < 0 ? "-" : "+") + String(Math.abs(y)).padStart(6, "0");
  const ms = this.getUTCMilliseconds();
  return `${year}-${two(this.getUTCMonth() + 1)}-${two(this.getUTCDate())}T${two(this.getUTCHours())}:${two(this.getUTCMinutes())}:${two(this.getUTCSeconds())}.${String(ms).padStart(3, "0")}Z`;
}

/** Replaces Date.prototype.toISOString in this process (the agent's only; call before anything formats a time). */
export function installUtcIsoString(): void {
  Object.defineProperty(Date.prototype, "toISOString", { value: utcIsoString, writable: true, configurable: true, enumerable: false });
}

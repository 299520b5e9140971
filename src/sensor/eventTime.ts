/**
 * Times of sensor events, parsed once per second of events rather than once
 * per event: the sensor writes RFC 3339 UTC with nanoseconds
 * ("2026-01-01T00:00:00.123456789Z"), events arrive in time order, and
 * Date.parse per event was a measurable share of the pipeline's work.
 */

let lastSecond = "";
let lastSecondMs = 0;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$/;

/** Exactly Date.parse(t) (fraction truncated to ms); other formats go to Date.parse itself. */
export function timeMs(t: string): number {
  if (!RFC3339.test(t)) return Date.parse(t);
  const second = t.slice(0, 19);
  if (second !== lastSecond) {
    lastSecondMs = Date.parse(`${second}Z`);
    lastSecond = second;
  }
  if (t.charCodeAt(19) !== 46 /* "." */) return lastSecondMs;
  let ms = 0;
  for (let i = 20; i < 23; i++) {
    const c = t.charCodeAt(i);
    ms = ms * 10 + (c >= 48 && c <= 57 ? c - 48 : 0); // "Z" or no digit there counts as 0: ".1Z" is 100 ms
  }
  return lastSecondMs + ms;
}

/** KubeArmor's UpdatedTime: RFC 3339 UTC with exactly six fraction digits; other text unchanged. */
export function updatedTime(t: string): string {
  // The sensor's own form: 19 characters of date and time, "." and nine digits, "Z".
  if (t.length === 30 && RFC3339.test(t)) return `${t.slice(0, 26)}Z`;
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(t);
  if (!m) return t;
  return `${m[1]}.${(m[2] ?? "").padEnd(6, "0").slice(0, 6)}Z`;
}

/**
 * Kubernetes resource quantities as the Workload manifest uses them: CPU in
 * cores or millicores ("2", "0.5", "500m"), memory in bytes with decimal
 * (k, M, G, T, P, E) or binary (Ki … Ei) suffixes or an exponent ("129e6").
 * Parsed to integers so the runtime writes exact cgroup values.
 */

export type Parsed = { readonly ok: true; readonly value: number } | { readonly ok: false; readonly message: string; readonly hint?: string };

const DECIMAL: Readonly<Record<string, number>> = { k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const BINARY: Readonly<Record<string, number>> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

/** "500m" → 500, "2" / 2 → 2000, "0.25" → 250. */
export function parseCpu(input: string | number): Parsed {
  const text = String(input).trim();
  const m = /^([0-9]+(?:\.[0-9]+)?)(m?)$/.exec(text);
  if (!m) return { ok: false, message: `invalid CPU quantity ${JSON.stringify(text)}`, hint: 'write cores ("2", "0.5") or millicores ("500m")' };
  const n = Number(m[1]);
  const millis = m[2] === "m" ? n : n * 1000;
  if (!Number.isInteger(millis)) return { ok: false, message: `CPU quantity ${JSON.stringify(text)} is finer than one millicore`, hint: 'round to whole millicores, e.g. "1m"' };
  if (millis < 1) return { ok: false, message: "a CPU limit must be at least 1m" };
  return { ok: true, value: millis };
}

/** "64Mi" → 67108864, "1G" → 1e9, "129e6" → 129000000. */
export function parseMemory(input: string | number): Parsed {
  const text = String(input).trim();
  const m = /^([0-9]+(?:\.[0-9]+)?)(?:[eE]([0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E))?$/.exec(text);
  if (!m) {
    const milli = /^[0-9.]+m$/.test(text);
    return {
      ok: false,
      message: `invalid memory quantity ${JSON.stringify(text)}`,
      hint: milli ? '"m" means thousandths of a byte; did you mean "Mi" or "M"?' : 'write bytes with a suffix, e.g. "64Mi", "512M" or "1Gi"',
    };
  }
  const n = Number(m[1]);
  const factor = m[2] !== undefined ? 10 ** Number(m[2]) : m[3] !== undefined ? (BINARY[m[3]] ?? DECIMAL[m[3]]!) : 1;
  const bytes = n * factor;
  if (!Number.isSafeInteger(bytes)) {
    return { ok: false, message: `memory quantity ${JSON.stringify(text)} is not a whole number of bytes or is too large` };
  }
  if (bytes < 1) return { ok: false, message: "a memory size must be at least 1 byte" };
  return { ok: true, value: bytes };
}

/** Canonical text for millicores: whole cores as "2", otherwise "500m". */
export function formatCpu(millis: number): string {
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

/** Canonical text for bytes: the largest binary suffix that divides exactly, else decimal, else plain. */
export function formatMemory(bytes: number): string {
  for (const [suffix, f] of Object.entries(BINARY).reverse()) if (bytes >= f && bytes % f === 0) return `${bytes / f}${suffix}`;
  for (const [suffix, f] of Object.entries(DECIMAL).reverse()) if (bytes >= f && bytes % f === 0) return `${bytes / f}${suffix}`;
  return String(bytes);
}

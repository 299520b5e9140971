/**
 * Gate for tests that need a kernel feature or root. Outside CI a missing
 * feature skips the test with its reason printed; under CI=true it fails,
 * because every kernel test must run in CI (README, "Tests").
 */
import { it } from "vitest";

export interface Requirement {
  /** Human name of the feature, e.g. "Landlock ABI ≥ 4". */
  readonly feature: string;
  /** Returns null when available, or the reason it is not. */
  readonly check: () => string | null;
}

export const isCI = process.env.CI === "true";

export const ROOT: Requirement = {
  feature: "root",
  check: () => (process.getuid?.() === 0 ? null : "not running as root"),
};

export const LINUX: Requirement = {
  feature: "Linux",
  check: () => (process.platform === "linux" ? null : `platform is ${process.platform}`),
};

/** Returns the first unmet requirement's reason, or null. */
export function unmet(reqs: readonly Requirement[]): string | null {
  for (const r of reqs) {
    const why = r.check();
    if (why !== null) return `${r.feature}: ${why}`;
  }
  return null;
}

/**
 * `kernelIt(name, [ROOT, LANDLOCK], fn)`: runs fn when every requirement is
 * met; otherwise skips with a printed reason, or fails under CI.
 */
export function kernelIt(name: string, reqs: readonly Requirement[], fn: () => Promise<void> | void, timeout?: number): void {
  const why = unmet(reqs);
  if (why === null) {
    it(name, fn, timeout);
  } else if (isCI) {
    it(name, () => {
      throw new Error(`kernel test cannot run under CI (skips are failures): ${why}`);
    });
  } else {
    console.warn(`SKIP ${name}: ${why}`);
    it.skip(`${name} [skipped: ${why}]`, fn);
  }
}

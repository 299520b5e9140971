/**
 * Retry timing for talking to the hub. Two rules from the design (10,000
 * devices per 2-core hub):
 *
 * - Normal polls are spread by ±10 % jitter, so devices that booted together
 *   (a power cut on a site) do not poll in lockstep for ever.
 * - After failures the delay doubles up to a cap, with "equal jitter"
 *   (uniform in [d/2, d]): a hub that comes back is not hit by the whole
 *   fleet in the same second, yet every device still retries within the cap.
 *
 * `random` is injectable so tests are deterministic.
 */
export interface BackoffOptions {
  /** First retry delay after a failure. */
  readonly initialMs: number;
  /** Largest delay between retries. */
  readonly maxMs: number;
  readonly factor?: number;
  readonly random?: () => number;
}

export class Backoff {
  #failures = 0;
  readonly #random: () => number;

  constructor(private readonly opts: BackoffOptions) {
    if (!(opts.initialMs > 0) || !(opts.maxMs >= opts.initialMs)) throw new RangeError("backoff needs 0 < initialMs <= maxMs");
    this.#random = opts.random ?? Math.random;
  }

  /** Consecutive failures so far. */
  get failures(): number {
    return this.#failures;
  }

  /** Records a failure; returns how long to wait before the next attempt. */
  fail(): number {
    this.#failures += 1;
    const exp = this.opts.initialMs * (this.opts.factor ?? 2) ** (this.#failures - 1);
    const ceiling = Math.min(this.opts.maxMs, exp);
    return Math.round(ceiling / 2 + this.#random() * (ceiling / 2));
  }

  /** Records a success: the next failure starts from initialMs again. */
  succeed(): void {
    this.#failures = 0;
  }
}

/** `intervalMs` ± `spread` (a fraction), for the steady-state poll. */
export function jittered(intervalMs: number, spread = 0.1, random: () => number = Math.random): number {
  return Math.max(1, Math.round(intervalMs * (1 - spread + 2 * spread * random())));
}

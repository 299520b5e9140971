/** A sleep that can be cut short: loops wait on it and other loops wake them (new work, hub back, shutdown). */
export class Waker {
  #wake: (() => void) | undefined;
  #pending = false;

  /** Resolves after `ms`, or at once if woken (also by a wake that came while not waiting). */
  wait(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  wake(): void {
    if (this.#wake) this.#wake();
    else this.#pending = true;
  }
}

/** The abort reason of exchanges cut at the end of the shutdown grace (recorded `incomplete`/`gateway_shutdown`). */
export const SHUTDOWN = Symbol('gateway shutdown');

/**
 * Roll and drain (docs/fleet.md): counts the requests in flight; once draining, `/readyz` says not ready and new
 * requests are refused (503, `connection: close`) so a load balancer sends them elsewhere; in-flight ones may finish
 * within the grace, and those still running then are cut through `signal` — each ends with its protocol's error
 * event and is recorded as ended by the shutdown, not as a client abort.
 */
export class Drain {
  #active = 0;
  #draining = false;
  #idle: (() => void)[] = [];
  readonly #cut = new AbortController();

  get draining(): boolean {
    return this.#draining;
  }

  /** Fires (reason SHUTDOWN) when the grace ran out. */
  get signal(): AbortSignal {
    return this.#cut.signal;
  }

  get active(): number {
    return this.#active;
  }

  /** Counts a request until the returned function is called: once it is answered and its record is written. */
  enter(): () => void {
    this.#active++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      if (--this.#active === 0) for (const ok of this.#idle.splice(0)) ok();
    };
  }

  begin(): void {
    this.#draining = true;
  }

  /**
   * Waits up to `graceMs` for the requests in flight; then cuts the rest and waits up to `cutMs` for them to record
   * their end. Resolves to how many were cut.
   */
  async settle(graceMs: number, cutMs = 10_000): Promise<number> {
    if (await this.#whenIdle(graceMs)) return 0;
    const cut = this.#active;
    this.#cut.abort(SHUTDOWN);
    await this.#whenIdle(cutMs);
    return cut;
  }

  #whenIdle(ms: number): Promise<boolean> {
    if (this.#active === 0) return Promise.resolve(true);
    return new Promise((done) => {
      const timer = setTimeout(() => {
        this.#idle = this.#idle.filter((f) => f !== ok);
        done(false);
      }, ms);
      const ok = (): void => {
        clearTimeout(timer);
        done(true);
      };
      this.#idle.push(ok);
    });
  }
}

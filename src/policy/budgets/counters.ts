import type { BudgetMetric } from './schema.ts';

/**
 * The counter port: atomic increments per window key. In memory on one node (`MemoryBudgetCounters`); on the
 * shared store (SQLite `src/store/sqlite/budgets.ts`, PostgreSQL `src/store/postgres/budgets.ts`) when replicas
 * must share counts. One conformance suite covers all three (src/policy/budgets/counters-conformance.ts).
 * Spend is counted in micro-dollars so every counter is an integer.
 */
export interface CounterKey {
  limitId: string;
  metric: BudgetMetric;
  /** Who the counter belongs to, e.g. `user:alice`, `group:eng`, `model:gpt-4o`, `user:alice|model:gpt-4o`. */
  scope: string;
  windowStart: number;
}

export interface CounterIncrement extends CounterKey {
  by: number;
  /** When the counter may be dropped (the window end, plus one window in sliding mode). */
  expiresAt: number;
}

export interface CounterRow extends CounterKey {
  value: number;
  expiresAt: number;
}

export interface BudgetCounterRepo {
  /**
   * Adds each `by` atomically (creating missing counters) and returns the new values, in order. `forExchange`: the
   * usage of that exchange's finish, made together with it — counted only if that finish is recorded. A replica
   * taken for dead while alive has its exchanges ended by another (docs/fleet.md); its own finish is then refused,
   * and so is this increment, so the counts follow the record. Counters of one process ignore it (nobody else ends
   * its exchanges while it runs).
   */
  add(increments: CounterIncrement[], opts?: { forExchange?: string }): Promise<number[]>;
  /** Current values, 0 for absent counters, in order. */
  get(keys: CounterKey[]): Promise<number[]>;
  /** Unexpired counters (usage views), optionally only of scopes containing `scope`. */
  list(now: number, filter?: { scope?: string; limitId?: string }): Promise<CounterRow[]>;
  /** Drops expired counters; returns how many. */
  purgeExpired(now: number): Promise<number>;
}

export function counterKeyString(k: CounterKey): string {
  return `${k.limitId}\u0000${k.metric}\u0000${k.scope}\u0000${k.windowStart}`;
}

/** Single-node counters: synchronous map updates are atomic on the event loop. */
export class MemoryBudgetCounters implements BudgetCounterRepo {
  readonly #rows = new Map<string, CounterRow>();
  readonly #now: () => number;
  #sweepAt = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  add(increments: CounterIncrement[]): Promise<number[]> {
    const out = increments.map((inc) => {
      const k = counterKeyString(inc);
      const row = this.#rows.get(k);
      if (row) {
        row.value += inc.by;
        row.expiresAt = Math.max(row.expiresAt, inc.expiresAt);
        return row.value;
      }
      this.#rows.set(k, { limitId: inc.limitId, metric: inc.metric, scope: inc.scope, windowStart: inc.windowStart, value: inc.by, expiresAt: inc.expiresAt });
      return inc.by;
    });
    this.#sweep();
    return Promise.resolve(out);
  }

  get(keys: CounterKey[]): Promise<number[]> {
    return Promise.resolve(keys.map((k) => this.#rows.get(counterKeyString(k))?.value ?? 0));
  }

  list(now: number, filter: { scope?: string; limitId?: string } = {}): Promise<CounterRow[]> {
    const rows = [...this.#rows.values()].filter((r) => r.expiresAt > now
      && (filter.scope === undefined || r.scope.includes(filter.scope))
      && (filter.limitId === undefined || r.limitId === filter.limitId));
    return Promise.resolve(rows.map((r) => ({ ...r })));
  }

  purgeExpired(now: number): Promise<number> {
    let n = 0;
    for (const [k, r] of this.#rows) {
      if (r.expiresAt <= now) {
        this.#rows.delete(k);
        n++;
      }
    }
    return Promise.resolve(n);
  }

  /** Amortized cleanup: at most once a minute, so memory stays bounded by live windows. */
  #sweep(): void {
    const at = this.#now();
    if (at < this.#sweepAt) return;
    this.#sweepAt = at + 60_000;
    void this.purgeExpired(at);
  }
}

import { GatewayError } from '../../core/errors.ts';
import { compileBudgets, type BudgetSubject, type CompiledBudgets, type CompiledLimit } from './compile.ts';
import type { BudgetCounterRepo, CounterIncrement, CounterKey } from './counters.ts';
import type { BudgetMetric, BudgetsSection } from './schema.ts';
import { effectiveUse, fits, previousWindow, retryAfterSeconds, slides, windowOf, type WindowSpan } from './windows.ts';

export type BudgetVerdict =
  | { ok: true }
  | { ok: false; limitId: string; metric: BudgetMetric; scope: string; retryAfterSeconds: number; neverFits?: true };

export interface BudgetEstimate {
  /** Tokens the request is expected to use (e.g. estimateInputTokens(body)); checked against token limits. */
  tokens?: number;
}

export interface BudgetUsage {
  inputTokens: number | null;
  outputTokens: number | null;
  totalTokens: number | null;
}

export interface UsageRow {
  limitId: string;
  metric: BudgetMetric;
  scope: string;
  windowStart: number;
  windowEnd: number;
  /** Count in the current window (spend in US dollars). */
  used: number;
  /** The limit of the active budgets (null when the limit is no longer configured). */
  limit: number | null;
}

interface Probe {
  limit: CompiledLimit;
  scope: string;
  metric: BudgetMetric;
  max: number;
  window: WindowSpan;
  sliding: boolean;
  cur: CounterKey;
  prev: CounterKey | undefined;
}

const TOKEN_METRICS: readonly BudgetMetric[] = ['tokens_per_minute', 'tokens_per_day'];

/**
 * Checks and counts budgets. `check` runs before a request goes upstream: token and spend limits are compared
 * with what was already recorded (plus the estimate), and the request is counted against requests_per_minute
 * atomically (increment, then compare; a refused request takes its increment back). `record` adds the tokens and
 * spend an exchange really used, after the fact (see usage-observer.ts). The active budgets are swapped
 * atomically with `update` when a policy version is activated; counters carry over by limit id.
 * Any counter failure throws GatewayError `evaluation_error`: budgets fail closed.
 */
export class BudgetEnforcer {
  readonly #counters: BudgetCounterRepo;
  readonly #now: () => number;
  #budgets: CompiledBudgets;

  constructor(o: { counters: BudgetCounterRepo; budgets?: BudgetsSection | CompiledBudgets; now?: () => number }) {
    this.#counters = o.counters;
    this.#now = o.now ?? Date.now;
    this.#budgets = isCompiled(o.budgets) ? o.budgets : compileBudgets(o.budgets);
  }

  /** Activate another policy version's budgets (compiled once by the caller or here). */
  update(budgets: BudgetsSection | CompiledBudgets | undefined): void {
    this.#budgets = isCompiled(budgets) ? budgets : compileBudgets(budgets);
  }

  get budgets(): CompiledBudgets {
    return this.#budgets;
  }

  async check(p: BudgetSubject, model: string, estimate: BudgetEstimate = {}): Promise<BudgetVerdict> {
    const budgets = this.#budgets;
    const applicable = budgets.applicable(p, model);
    if (applicable.length === 0) return { ok: true };
    const now = this.#now();
    const probes = this.#probes(budgets, applicable, now);
    try {
      const readOnly = probes.filter((x) => x.metric !== 'requests_per_minute');
      const over = await this.#firstOver(readOnly, now, (x) => (TOKEN_METRICS.includes(x.metric) ? Math.max(0, estimate.tokens ?? 0) : 0));
      if (over) return over;
      return await this.#countRequest(probes.filter((x) => x.metric === 'requests_per_minute'), now);
    } catch (err) {
      throw new GatewayError('evaluation_error', 'Budget counters are unavailable; the request was not forwarded.', { cause: err });
    }
  }

  /**
   * Adds an exchange's real tokens and spend to every applicable token/spend counter. `exchangeId`: counted only if
   * that exchange's finish, made together with this call, is recorded (BudgetCounterRepo.add).
   */
  async record(p: BudgetSubject, model: string, usage: BudgetUsage, exchangeId?: string): Promise<void> {
    const budgets = this.#budgets;
    const input = usage.inputTokens ?? 0;
    const output = usage.outputTokens ?? 0;
    const tokens = usage.totalTokens ?? input + output;
    const spend = budgets.costMicros(model, input, output);
    if (tokens <= 0 && spend <= 0) return;
    const now = this.#now();
    const incs: CounterIncrement[] = [];
    for (const { limit, scope } of budgets.applicable(p, model)) {
      for (const metric of limit.metrics.keys()) {
        const by = metric === 'spend_per_month' ? spend : TOKEN_METRICS.includes(metric) ? tokens : 0;
        if (by > 0) incs.push(increment({ limitId: limit.id, metric, scope, now, by, sliding: slides(metric, budgets.window) }));
      }
    }
    if (incs.length > 0) await this.#counters.add(incs, exchangeId === undefined ? undefined : { forExchange: exchangeId });
  }

  /** Drops expired counters (store-backed counters: call periodically, e.g. every minute). */
  purgeExpired(): Promise<number> {
    return this.#counters.purgeExpired(this.#now());
  }

  /** Current-window usage of every live counter (optionally one scope substring, e.g. `group:eng`). */
  async usage(filter: { scope?: string; limitId?: string } = {}): Promise<UsageRow[]> {
    const now = this.#now();
    const limits = new Map(this.#budgets.limits.map((l) => [l.id, l]));
    const rows = await this.#counters.list(now, filter);
    return rows
      .filter((r) => windowOf(r.metric, now).start === r.windowStart)
      .map((r) => {
        const max = limits.get(r.limitId)?.metrics.get(r.metric);
        const money = r.metric === 'spend_per_month';
        return {
          limitId: r.limitId, metric: r.metric, scope: r.scope, windowStart: r.windowStart, windowEnd: windowOf(r.metric, r.windowStart).end,
          used: money ? r.value / 1e6 : r.value, limit: max === undefined ? null : money ? max / 1e6 : max,
        };
      })
      .sort((a, b) => a.scope.localeCompare(b.scope) || a.limitId.localeCompare(b.limitId) || a.metric.localeCompare(b.metric));
  }

  #probes(budgets: CompiledBudgets, applicable: { limit: CompiledLimit; scope: string }[], now: number): Probe[] {
    const probes: Probe[] = [];
    for (const { limit, scope } of applicable) {
      for (const [metric, max] of limit.metrics) {
        const window = windowOf(metric, now);
        const sliding = slides(metric, budgets.window);
        const cur = { limitId: limit.id, metric, scope, windowStart: window.start };
        const prev = sliding ? { ...cur, windowStart: previousWindow(metric, window).start } : undefined;
        probes.push({ limit, scope, metric, max, window, sliding, cur, prev });
      }
    }
    return probes;
  }

  async #firstOver(probes: Probe[], now: number, costOf: (x: Probe) => number): Promise<BudgetVerdict | undefined> {
    if (probes.length === 0) return undefined;
    const keys = probes.flatMap((x) => (x.prev ? [x.cur, x.prev] : [x.cur]));
    const values = await this.#counters.get(keys);
    let i = 0;
    for (const x of probes) {
      const current = values[i++] ?? 0;
      const previous = x.prev ? values[i++] ?? 0 : 0;
      const cost = costOf(x);
      const used = effectiveUse({ current, previous, window: x.window, now, sliding: x.sliding });
      // An estimate over the limit itself never fits: no retry-after would be true (issue #11 item 10).
      if (cost > x.max) return { ok: false, limitId: x.limit.id, metric: x.metric, scope: x.scope, retryAfterSeconds: 0, neverFits: true };
      // At the limit already, or the estimate would cross it.
      if (!fits({ use: used, cost, limit: x.max })) return refusal(x, { current, previous, now, cost });
    }
    return undefined;
  }

  async #countRequest(probes: Probe[], now: number): Promise<BudgetVerdict> {
    if (probes.length === 0) return { ok: true };
    const incs = probes.map((x) => increment({ limitId: x.limit.id, metric: x.metric, scope: x.scope, now, by: 1, sliding: x.sliding }));
    const prevKeys = probes.flatMap((x) => (x.prev ? [x.prev] : []));
    const [counted, previous] = await Promise.all([this.#counters.add(incs), prevKeys.length > 0 ? this.#counters.get(prevKeys) : []]);
    let p = 0;
    for (const [j, x] of probes.entries()) {
      const current = counted[j] ?? 0;
      const prev = x.prev ? previous[p++] ?? 0 : 0;
      if (effectiveUse({ current, previous: prev, window: x.window, now, sliding: x.sliding }) > x.max) {
        // Refused requests do not consume the budget: take every increment of this check back.
        await this.#counters.add(incs.map((inc) => ({ ...inc, by: -1 })));
        return refusal(x, { current: current - 1, previous: prev, now, cost: 1 });
      }
    }
    return { ok: true };
  }
}

function refusal(x: Probe, o: { current: number; previous: number; now: number; cost: number }): BudgetVerdict {
  return {
    ok: false, limitId: x.limit.id, metric: x.metric, scope: x.scope,
    retryAfterSeconds: retryAfterSeconds({ ...o, window: x.window, sliding: x.sliding, limit: x.max }),
  };
}

function increment(o: { limitId: string; metric: BudgetMetric; scope: string; now: number; by: number; sliding: boolean }): CounterIncrement {
  const w = windowOf(o.metric, o.now);
  // Sliding windows read the previous window: keep a counter for one window past its end.
  const expiresAt = o.sliding ? w.end + (w.end - w.start) : w.end;
  return { limitId: o.limitId, metric: o.metric, scope: o.scope, windowStart: w.start, by: o.by, expiresAt };
}

function isCompiled(b: BudgetsSection | CompiledBudgets | undefined): b is CompiledBudgets {
  return b !== undefined && typeof (b as CompiledBudgets).applicable === 'function';
}

const METRIC_TEXT: Record<BudgetMetric, string> = {
  requests_per_minute: 'requests per minute',
  tokens_per_minute: 'tokens per minute',
  tokens_per_day: 'tokens per day',
  spend_per_month: 'spend per month',
};

/**
 * The refusal in the caller's protocol: 429 `rate_limited` with `retry-after` (RFC 9110 §10.2.3 / RFC 6585 §4).
 * The message names the limit and metric, never another caller's usage.
 */
export function budgetError(v: Extract<BudgetVerdict, { ok: false }>): GatewayError {
  if (v.neverFits) {
    // Final, not retryable: a policy refusal (400 / 451 per protocol), without retry-after.
    return new GatewayError('policy_denied', `This request alone is estimated above budget "${v.limitId}" (${METRIC_TEXT[v.metric]}); waiting will not help: send a smaller request.`, {
      details: { limit_id: v.limitId, metric: v.metric },
    });
  }
  return new GatewayError('rate_limited', `Budget "${v.limitId}" exceeded (${METRIC_TEXT[v.metric]}); retry after ${v.retryAfterSeconds}s.`, {
    headers: { 'retry-after': String(v.retryAfterSeconds) },
    details: { limit_id: v.limitId, metric: v.metric, retry_after_seconds: v.retryAfterSeconds },
  });
}

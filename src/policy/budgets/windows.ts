import type { BudgetMetric } from './schema.ts';

/**
 * Counting windows. Per-minute and per-day limits use epoch-aligned windows (a UTC day for `tokens_per_day`); in
 * `sliding` mode the previous window's count is weighted by how much of it still overlaps the last full window
 * (the sliding-window-counter approximation), so a burst straddling a boundary cannot reach twice the limit.
 * Monthly spend is always the calendar month in UTC: budgets are read against invoices.
 */
export interface WindowSpan {
  start: number;
  end: number;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

export function windowOf(metric: BudgetMetric, now: number): WindowSpan {
  if (metric === 'spend_per_month') {
    const d = new Date(now);
    return { start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
  }
  const size = metric === 'tokens_per_day' ? DAY : MINUTE;
  const start = Math.floor(now / size) * size;
  return { start, end: start + size };
}

/** The window before `w` (sliding mode reads it too). */
export function previousWindow(metric: BudgetMetric, w: WindowSpan): WindowSpan {
  return windowOf(metric, w.start - 1);
}

export function slides(metric: BudgetMetric, mode: 'sliding' | 'fixed'): boolean {
  return mode === 'sliding' && metric !== 'spend_per_month';
}

/** Effective use: the current count plus the still-overlapping share of the previous window (sliding only). */
export function effectiveUse(o: { current: number; previous: number; window: WindowSpan; now: number; sliding: boolean }): number {
  if (!o.sliding || o.previous === 0) return o.current;
  const elapsed = (o.now - o.window.start) / (o.window.end - o.window.start);
  return o.current + o.previous * (1 - elapsed);
}

/**
 * Whether `cost` more fits at effective use `use`: the one rule every budget check applies (a request counted
 * against requests_per_minute has cost 1; a spend check with no estimate has cost 0 and needs use below the limit).
 */
export function fits(o: { use: number; cost: number; limit: number }): boolean {
  return o.use < o.limit && o.use + o.cost <= o.limit;
}

export interface RetryInput {
  /** Counts of the current and the previous window, without this request. */
  current: number;
  previous: number;
  window: WindowSpan;
  now: number;
  sliding: boolean;
  limit: number;
  cost: number;
}

/**
 * Effective use at `at` >= now if nothing else is counted: within the current window the previous window's weight
 * decays; once the current window has ended, it becomes the previous window and decays in turn (sliding), or the
 * count starts over (fixed).
 */
function useAt(o: RetryInput, at: number): number {
  const size = o.window.end - o.window.start;
  if (at < o.window.end) return effectiveUse({ current: o.current, previous: o.previous, window: o.window, now: at, sliding: o.sliding });
  if (!o.sliding || at >= o.window.end + size) return 0;
  return effectiveUse({ current: 0, previous: o.current, window: { start: o.window.end, end: o.window.end + size }, now: at, sliding: true });
}

/**
 * Whole seconds (RFC 9110 §10.2.3) until `cost` more really fits, at least 1: the smallest n for which the same
 * `fits` rule holds at now + n s. A client that waits exactly this long is let through, one second less is not
 * (issue #11 item 10: waiting only for the window end under a sliding window was refused again, because the
 * ended window still weighs fully at the start of the next one). Use only decreases with time, so a binary search
 * over [1, two windows] finds it; a cost that never fits gets the end of that span.
 */
export function retryAfterSeconds(o: RetryInput): number {
  const size = o.window.end - o.window.start;
  const fitsAfter = (n: number): boolean => fits({ use: useAt(o, o.now + n * 1000), cost: o.cost, limit: o.limit });
  let lo = 1;
  let hi = Math.max(1, Math.ceil((o.window.end + size - o.now) / 1000));
  if (!fitsAfter(hi)) return hi;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (fitsAfter(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

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
 * Seconds until `cost` more fits under `limit`, rounded up, at least 1 (RFC 9110 §10.2.3 Retry-After is whole
 * seconds). Fixed windows wait for the next window; sliding windows wait until the previous window's weight has
 * decayed enough, or for the next window when the current count alone is over.
 */
export function retryAfterSeconds(o: { current: number; previous: number; window: WindowSpan; now: number; sliding: boolean; limit: number; cost: number }): number {
  const size = o.window.end - o.window.start;
  let waitMs = o.window.end - o.now;
  if (o.sliding && o.previous > 0 && o.current + o.cost <= o.limit) {
    // current + previous * (1 - t/size) + cost <= limit  =>  t >= size * (1 - (limit - current - cost) / previous)
    const t = size * (1 - (o.limit - o.current - o.cost) / o.previous);
    waitMs = Math.min(waitMs, t - (o.now - o.window.start));
  }
  return Math.max(1, Math.ceil(waitMs / 1000));
}

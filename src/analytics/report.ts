import { ERROR_STATUSES } from './fold.ts';
import { DECISION_BOUNDS_MS, GRANULARITIES, LATENCY_BOUNDS_MS, type Dimension, type Granularity, type Measures, type RollupDelta, type UsageQuery } from './types.ts';

/**
 * Percentile from a histogram: the upper bound of the bucket holding it (ms), null without data or in the open
 * last bucket. Latency by default; the time-to-decision histogram passes its own bounds.
 */
export function percentile(hist: readonly number[], q: number, bounds: readonly number[] = LATENCY_BOUNDS_MS): number | null {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= rank) return i < bounds.length ? bounds[i]! : null;
  }
  return null;
}

/** Measures as the admin API shows them (snake_case; cost in US dollars; latency from the histogram). */
export function measuresView(m: Measures): Record<string, unknown> {
  const timed = m.latencyHist.reduce((a, b) => a + b, 0);
  const open = m.latencyHist.at(-1) ?? 0;
  const decided = m.decisionHist.reduce((a, b) => a + b, 0);
  return {
    requests: m.requests, input_tokens: m.inputTokens, output_tokens: m.outputTokens, cost_usd: m.costMicros / 1e6,
    refused: m.refused, errors: m.errors, findings: m.findings,
    latency_ms: {
      avg: timed === 0 ? null : Math.round(m.latencySumMs / timed),
      p50: percentile(m.latencyHist, 0.5), p95: percentile(m.latencyHist, 0.95), p99: percentile(m.latencyHist, 0.99),
      over_max_bucket: open,
    },
    approvals: {
      requested: m.approvalsRequested, approved: m.approvalsApproved, denied: m.approvalsDenied, expired: m.approvalsExpired, cancelled: m.approvalsCancelled,
      time_to_decision_ms: {
        decided: decided,
        avg: decided === 0 ? null : Math.round(m.decisionSumMs / decided),
        p50: percentile(m.decisionHist, 0.5, DECISION_BOUNDS_MS), p95: percentile(m.decisionHist, 0.95, DECISION_BOUNDS_MS),
        over_max_bucket: m.decisionHist.at(-1) ?? 0,
      },
    },
  };
}

/** Exchange-list filters that select exactly the exchanges behind a number, where the list can express them. */
function exchangesBehind(dim: Dimension, value: string, from: number, to: number, filter: string): Record<string, unknown> | null {
  const q: Record<string, unknown> = { since: new Date(from).toISOString(), until: new Date(to).toISOString() };
  if (filter.startsWith('model=')) q.model = filter.slice(6);
  else if (filter.startsWith('group=')) q.group = filter.slice(6);
  else if (filter !== '') return null;
  // The list takes one value per filter: a row of another model (or group) than the filter's counts nothing of both.
  const one = (k: string): boolean => q[k] === undefined || q[k] === value;
  if (dim === 'user' || dim === 'service_account') q.subject = value;
  else if (dim === 'model' && one('model')) q.model = value;
  else if (dim === 'group' && one('group')) q.group = value;
  else if (dim === 'client') q.client_tool = value;
  else if (dim === 'finding') q.finding_type = value;
  else if (dim === 'status') q.status = value;
  else if (dim === 'refusal') Object.assign(q, { status: 'rejected', error_code: value });
  else if (dim !== 'all') return null;
  return q;
}

/**
 * The exchanges behind a row's Refused and Errors numbers: its link narrowed to the refused (`rejected`) or error
 * statuses (ERROR_STATUSES, the ones the fold counts), so the console never restates which statuses those are.
 * Null when the row cannot be listed, or its own status is another one.
 */
function withStatuses(link: Record<string, unknown> | null, statuses: readonly string[]): Record<string, unknown> | null {
  if (!link) return null;
  const own = link.status;
  if (typeof own === 'string') return statuses.includes(own) ? link : null;
  return { ...link, status: statuses.join(',') };
}

export interface UsageReport {
  granularity: Granularity;
  from: string;
  to: string;
  by: Dimension;
  filter: string | null;
  /** Per dimension value over the whole range, most requests first (top `limit`). */
  totals: Record<string, unknown>[];
  /** Per bucket and dimension value, bucket ascending. */
  series: Record<string, unknown>[];
}

/**
 * Shapes rollup rows into the answer of GET /admin/v1/analytics/usage: `totals` are the range summed per value (top
 * values only, summed by the store), `series` the buckets of those values.
 */
export function usageReport(q: UsageQuery, totals: RollupDelta[], series: RollupDelta[]): UsageReport {
  const size = GRANULARITIES[q.granularity];
  return {
    granularity: q.granularity, from: new Date(q.from).toISOString(), to: new Date(q.to).toISOString(), by: q.dim, filter: q.filter || null,
    totals: totals.map((t) => {
      const exchanges = exchangesBehind(q.dim, t.value, q.from, q.to, q.filter);
      return {
        value: t.value, ...measuresView(t), exchanges,
        refused_exchanges: withStatuses(exchanges, ['rejected']), errors_exchanges: withStatuses(exchanges, [...ERROR_STATUSES]),
      };
    }),
    series: series.map((r) => ({
      bucket: new Date(r.bucket).toISOString(), value: r.value, ...measuresView(r),
      exchanges: exchangesBehind(q.dim, r.value, r.bucket, r.bucket + size, q.filter),
    })),
  };
}

import { clientFamily } from './client-family.ts';
import { GRANULARITIES, LATENCY_BOUNDS_MS, LATENCY_BUCKETS, type Dimension, type Granularity, type Measures, type RollupDelta, type RollupSource } from './types.ts';

/** Prices an exchange in micro-dollars (the active policy's budget price table; 0 when the model has no price). */
export type CostOf = (model: string, inputTokens: number, outputTokens: number) => number;

const ERROR_STATUSES = new Set(['upstream_error', 'incomplete', 'failed', 'client_aborted']);

export function emptyMeasures(): Measures {
  return { requests: 0, inputTokens: 0, outputTokens: 0, costMicros: 0, refused: 0, errors: 0, findings: 0, latencySumMs: 0, latencyHist: new Array<number>(LATENCY_BUCKETS).fill(0) };
}

export function latencyBucket(ms: number): number {
  let i = 0;
  while (i < LATENCY_BOUNDS_MS.length && ms > LATENCY_BOUNDS_MS[i]!) i++;
  return i;
}

/** The (dimension, value) pairs one exchange counts under, and the measures it adds to each. */
function contributions(x: RollupSource, costOf: CostOf): { pairs: [Dimension, string][]; findingCounts: Map<string, number>; m: Measures } {
  const m = emptyMeasures();
  m.requests = 1;
  m.inputTokens = x.inputTokens ?? 0;
  m.outputTokens = x.outputTokens ?? 0;
  m.costMicros = x.model && (m.inputTokens || m.outputTokens) ? costOf(x.model, m.inputTokens, m.outputTokens) : 0;
  m.refused = x.status === 'rejected' ? 1 : 0;
  m.errors = ERROR_STATUSES.has(x.status) ? 1 : 0;
  m.findings = x.findingTypes.length;
  if (x.totalMs !== null && Number.isFinite(x.totalMs)) {
    m.latencySumMs = Math.round(x.totalMs);
    m.latencyHist[latencyBucket(x.totalMs)] = 1;
  }
  const pairs: [Dimension, string][] = [['all', ''], ['endpoint', x.endpoint], ['status', x.status], ['client', clientFamily(x.userAgent)]];
  if (x.subject) pairs.push([x.kind === 'service' ? 'service_account' : 'user', x.subject]);
  for (const g of new Set(x.groups)) pairs.push(['group', g]);
  if (x.model) pairs.push(['model', x.model]);
  if (x.provider) pairs.push(['provider', x.provider]);
  if (x.status === 'rejected' && x.errorCode) pairs.push(['refusal', x.errorCode]);
  const findingCounts = new Map<string, number>();
  for (const t of x.findingTypes) findingCounts.set(t, (findingCounts.get(t) ?? 0) + 1);
  return { pairs, findingCounts, m };
}

/** Adds `m` into `into`, measure by measure (histogram buckets too). */
export function addMeasures(into: Measures, m: Measures): void {
  into.requests += m.requests;
  into.inputTokens += m.inputTokens;
  into.outputTokens += m.outputTokens;
  into.costMicros += m.costMicros;
  into.refused += m.refused;
  into.errors += m.errors;
  into.findings += m.findings;
  into.latencySumMs += m.latencySumMs;
  for (let i = 0; i < into.latencyHist.length; i++) into.latencyHist[i]! += m.latencyHist[i]!;
}

/**
 * Turns finished exchanges into rollup deltas: for each granularity, each filter ('' and the exchange's groups and
 * model) and each (dimension, value) it counts under, one delta; deltas with the same key are summed. Under the
 * `finding` dimension an exchange counts once per type it had, with `findings` = how many of that type. Sorted by
 * key, so concurrent rollers upsert in the same order (no deadlock between replicas).
 */
export function foldExchanges(rows: RollupSource[], costOf: CostOf): RollupDelta[] {
  const out = new Map<string, RollupDelta>();
  const put = (granularity: Granularity, bucket: number, filter: string, dim: Dimension, value: string, m: Measures): void => {
    const key = `${granularity}\u0000${bucket}\u0000${filter}\u0000${dim}\u0000${value}`;
    let d = out.get(key);
    if (!d) out.set(key, (d = { granularity, bucket, filter, dim, value, ...emptyMeasures() }));
    addMeasures(d, m);
  };
  for (const x of rows) {
    const { pairs, findingCounts, m } = contributions(x, costOf);
    const filters = [''];
    for (const g of new Set(x.groups)) filters.push(`group=${g}`);
    if (x.model) filters.push(`model=${x.model}`);
    for (const [granularity, size] of Object.entries(GRANULARITIES) as [Granularity, number][]) {
      const bucket = x.startedAt - (x.startedAt % size);
      for (const filter of filters) {
        for (const [dim, value] of pairs) put(granularity, bucket, filter, dim, value, m);
        for (const [type, n] of findingCounts) put(granularity, bucket, filter, 'finding', type, { ...m, findings: n });
      }
    }
  }
  return [...out.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, d]) => d);
}

import { clientFamily } from './client-family.ts';
import { DECISION_BOUNDS_MS, DECISION_BUCKETS, GRANULARITIES, LATENCY_BOUNDS_MS, LATENCY_BUCKETS, type ApprovalSource, type Dimension, type Granularity, type Measures, type RollupDelta, type RollupSource } from './types.ts';

/** Prices an exchange in micro-dollars (the active policy's budget price table; 0 when the model has no price). */
export type CostOf = (model: string, inputTokens: number, outputTokens: number) => number;

/** The statuses the usage measures count as errors (the Errors tile); refusals (`rejected`) are counted apart. */
export const ERROR_STATUSES: ReadonlySet<string> = new Set(['upstream_error', 'incomplete', 'failed', 'client_aborted']);

export function emptyMeasures(): Measures {
  return {
    requests: 0, inputTokens: 0, outputTokens: 0, costMicros: 0, refused: 0, errors: 0, findings: 0, latencySumMs: 0, latencyHist: new Array<number>(LATENCY_BUCKETS).fill(0),
    approvalsRequested: 0, approvalsApproved: 0, approvalsDenied: 0, approvalsExpired: 0, approvalsCancelled: 0, decisionSumMs: 0, decisionHist: new Array<number>(DECISION_BUCKETS).fill(0),
  };
}

/** Index of the histogram bucket holding `ms`: the first bound >= ms, else the open last bucket. */
export function histBucket(ms: number, bounds: readonly number[]): number {
  let i = 0;
  while (i < bounds.length && ms > bounds[i]!) i++;
  return i;
}

export function latencyBucket(ms: number): number {
  return histBucket(ms, LATENCY_BOUNDS_MS);
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
  into.approvalsRequested += m.approvalsRequested;
  into.approvalsApproved += m.approvalsApproved;
  into.approvalsDenied += m.approvalsDenied;
  into.approvalsExpired += m.approvalsExpired;
  into.approvalsCancelled += m.approvalsCancelled;
  into.decisionSumMs += m.decisionSumMs;
  for (let i = 0; i < into.decisionHist.length; i++) into.decisionHist[i]! += m.decisionHist[i]!;
}

/** Sums deltas by key and hands them back sorted by key (concurrent rollers then lock rows in the same order). */
class DeltaSet {
  readonly #out = new Map<string, RollupDelta>();

  put(granularity: Granularity, bucket: number, filter: string, dim: Dimension, value: string, m: Measures): void {
    const key = `${granularity}\u0000${bucket}\u0000${filter}\u0000${dim}\u0000${value}`;
    let d = this.#out.get(key);
    if (!d) this.#out.set(key, (d = { granularity, bucket, filter, dim, value, ...emptyMeasures() }));
    addMeasures(d, m);
  }

  sorted(): RollupDelta[] {
    return [...this.#out.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, d]) => d);
  }
}

/**
 * Turns finished exchanges into rollup deltas: for each granularity, each filter ('' and the exchange's groups and
 * model) and each (dimension, value) it counts under, one delta; deltas with the same key are summed. Under the
 * `finding` dimension an exchange counts once per type it had, with `findings` = how many of that type. Sorted by
 * key, so concurrent rollers upsert in the same order (no deadlock between replicas).
 */
export function foldExchanges(rows: RollupSource[], costOf: CostOf): RollupDelta[] {
  const out = new DeltaSet();
  const put = out.put.bind(out);
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
  return out.sorted();
}

/**
 * What folding an approval adds now: its request if not yet counted (`rolled` 0), and its outcome once it left
 * pending (`rolled` < 2). The outcome is the first move out of pending, which never changes afterwards: a
 * decided approval keeps `decided_at` when its grant is used or expires, so approved → expired stays approved.
 */
export function approvalMeasures(a: ApprovalSource): Measures {
  const m = emptyMeasures();
  if (a.rolled < 1) m.approvalsRequested = 1;
  if (a.rolled < 2 && a.state !== 'pending') {
    if (a.state === 'denied') m.approvalsDenied = 1;
    else if (a.decidedAt !== null) m.approvalsApproved = 1;
    else if (a.state === 'expired') m.approvalsExpired = 1;
    else if (a.state === 'cancelled') m.approvalsCancelled = 1;
    // Break-glass is approved by the requester at once: not a decision time of any approver.
    if (a.decidedAt !== null && !a.breakGlass) {
      const ms = Math.max(0, a.decidedAt - a.createdAt);
      m.decisionSumMs = ms;
      m.decisionHist[histBucket(ms, DECISION_BOUNDS_MS)] = 1;
    }
  }
  return m;
}

/**
 * Turns approvals into rollup deltas under the bucket of their creation, for the dimensions that apply (all, user
 * = the requester, group, model, endpoint) and the filters '' / group / model, like foldExchanges.
 */
export function foldApprovals(rows: ApprovalSource[]): RollupDelta[] {
  const out = new DeltaSet();
  for (const a of rows) {
    const m = approvalMeasures(a);
    const groups = [...new Set(a.groups)];
    const pairs: [Dimension, string][] = [['all', ''], ['user', a.requester], ['endpoint', a.endpoint], ['model', a.model], ...groups.map((g): [Dimension, string] => ['group', g])];
    const filters = ['', ...groups.map((g) => `group=${g}`), `model=${a.model}`];
    for (const [granularity, size] of Object.entries(GRANULARITIES) as [Granularity, number][]) {
      const bucket = a.createdAt - (a.createdAt % size);
      for (const filter of filters) for (const [dim, value] of pairs) out.put(granularity, bucket, filter, dim, value, m);
    }
  }
  return out.sorted();
}

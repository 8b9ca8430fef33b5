import type { SeenDelta } from './seen.ts';

/**
 * Usage analytics (docs/analytics.md): rollups of finished exchanges by time bucket and dimension, kept current by
 * a roller that folds each finished exchange in exactly once. Pure types; the store engines implement the port.
 */

/** Time bucket sizes kept. Minute rows are pruned after `analytics.minute_retention_hours`. */
export const GRANULARITIES = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
export type Granularity = keyof typeof GRANULARITIES;

/**
 * What a rollup row can be broken down by. `all` is the total (value ''). `refusal` is the error code of a refused
 * exchange, `finding` a detector type (request or response), `client` the user agent's tool family.
 */
export const DIMENSIONS = ['all', 'user', 'service_account', 'group', 'model', 'provider', 'endpoint', 'client', 'status', 'refusal', 'finding'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** A rollup row can be restricted to one group or one model (dashboard filters): '' (none), `group=…`, `model=…`. */
export const FILTER_DIMENSIONS = ['group', 'model'] as const;
export type FilterDimension = (typeof FILTER_DIMENSIONS)[number];

/** Upper bounds (ms, inclusive) of the latency histogram buckets; the last bucket is open. */
export const LATENCY_BOUNDS_MS = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000] as const;
export const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1;

/**
 * Upper bounds (ms, inclusive) of the time-to-decision histogram of approvals: 1, 5, 15, 30 min, 1, 2, 4, 8, 24,
 * 72 h; the last bucket is open. People decide in minutes to days, so the latency bounds would not fit.
 */
export const DECISION_BOUNDS_MS = [60_000, 300_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000, 86_400_000, 259_200_000] as const;
export const DECISION_BUCKETS = DECISION_BOUNDS_MS.length + 1;

export interface Measures {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  costMicros: number;
  /** Refused by the gateway (policy, content, approvals, budgets, invalid input). */
  refused: number;
  /** Ended in error after being accepted (upstream error, incomplete, failed). */
  errors: number;
  findings: number;
  latencySumMs: number;
  /** Counts per LATENCY_BOUNDS_MS bucket (length LATENCY_BUCKETS); exchanges without a duration count in none. */
  latencyHist: number[];
  /** Approvals requested (docs/analytics.md#approvals), counted under the bucket of their creation. */
  approvalsRequested: number;
  /** Decided approve (break-glass included), even if the grant later expired or was used. */
  approvalsApproved: number;
  approvalsDenied: number;
  /** Nobody decided before the pending expiry. */
  approvalsExpired: number;
  /** The held client went away before a decision. */
  approvalsCancelled: number;
  /** Sum of decided_at − created_at over approved and denied approvals (break-glass excluded). */
  decisionSumMs: number;
  /** Counts per DECISION_BOUNDS_MS bucket (length DECISION_BUCKETS) of the same decisions. */
  decisionHist: number[];
}

export interface RollupKey {
  granularity: Granularity;
  bucket: number;
  filter: string;
  dim: Dimension;
  value: string;
}

export interface RollupDelta extends RollupKey, Measures {}

/** The fields of a finished exchange the rollups read (both engines select exactly these). */
export interface RollupSource {
  id: string;
  startedAt: number;
  subject: string | null;
  kind: string | null;
  /** The identity's display name (identities seen; not a rollup dimension). */
  name: string | null;
  groups: string[];
  endpoint: string;
  model: string | null;
  provider: string | null;
  userAgent: string | null;
  status: string;
  errorCode: string | null;
  totalMs: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  findingTypes: string[];
}

/**
 * The fields of an approval the rollups read. `rolled` is how far it is folded: 0 not at all, 1 its request,
 * 2 its request and its outcome (once it left pending).
 */
export interface ApprovalSource {
  id: string;
  createdAt: number;
  requester: string;
  groups: string[];
  endpoint: string;
  model: string;
  state: string;
  decidedAt: number | null;
  breakGlass: boolean;
  rolled: number;
}

/** What `rolled` becomes once an approval in `state` is folded: 1 while pending (its outcome is not known yet), else 2. */
export function rolledTarget(state: string): number {
  return state === 'pending' ? 1 : 2;
}

export interface UsageQuery {
  granularity: Granularity;
  /** Bucket start >= from (epoch ms, aligned down to the granularity). */
  from: number;
  /** Bucket start < to. */
  to: number;
  dim: Dimension;
  filter: string;
  /** Only these dimension values (e.g. the top ten); all values when absent. */
  values?: string[];
}

export interface AnalyticsRepo {
  /**
   * Folds up to `limit` finished exchanges not yet rolled up into the rollups and marks them rolled, atomically
   * (all or nothing), exactly once across replicas. `fold` turns their rows into deltas. Returns how many.
   */
  roll(limit: number, fold: (rows: RollupSource[]) => RollupDelta[]): Promise<number>;
  /**
   * Folds up to `limit` approvals whose request or outcome is not yet in the rollups and advances their `rolled`
   * (compare-and-set on the value read), atomically and exactly once across replicas, as `roll` does for exchanges.
   */
  rollApprovals(limit: number, fold: (rows: ApprovalSource[]) => RollupDelta[]): Promise<number>;
  /** Rollup rows of one granularity, filter and dimension, bucket ascending. */
  query(q: UsageQuery): Promise<RollupDelta[]>;
  /**
   * The whole range summed per dimension value, most requests first, at most `limit` values (summed in the
   * database: a month of a thousand users is 30 000 rows, of which the answer needs ten sums). `bucket` is `q.from`.
   */
  totals(q: UsageQuery, limit: number): Promise<RollupDelta[]>;
  /**
   * Identities seen (docs/analytics.md#identities-seen): one row per identity and client tool family, the latest
   * first, at most `limit` rows. Kept by `roll` in the same transaction as the rollups.
   */
  seen(limit: number): Promise<SeenDelta[]>;
  /** Finished exchanges not yet rolled up (how far the rollups lag). */
  backlog(): Promise<number>;
  /**
   * Gives up to `limit` exchanges without a client tool (recorded before migration core/005, or by a replica of an
   * older version during a rolling upgrade) the family of their User-Agent, for the exchange list's `client_tool`
   * filter (docs/api.md#exchange-list-filters). Idempotent, so replicas may race; returns how many it set.
   */
  backfillClientTools(limit: number): Promise<number>;
  /** Deletes rows of `granularity` with bucket < before; returns how many. */
  prune(granularity: Granularity, before: number): Promise<number>;
}

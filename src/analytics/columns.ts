import { DECISION_BUCKETS, LATENCY_BUCKETS, type ApprovalSource, type Dimension, type Granularity, type Measures, type RollupDelta, type RollupSource } from './types.ts';

/**
 * The rollup table's columns, shared by both engines: the key, then one additive column per measure (histogram
 * buckets as h0…h14, so every column merges with `+` in an upsert).
 */
export const HIST_COLUMNS = Array.from({ length: LATENCY_BUCKETS }, (_, i) => `h${i}`);
/** The exchange measures, as the table was first created (migration analytics/001-rollups). */
const EXCHANGE_COLUMNS = ['requests', 'input_tokens', 'output_tokens', 'cost_micros', 'refused', 'errors', 'findings', 'latency_sum_ms', ...HIST_COLUMNS];
/** The approval measures, added by migration analytics/002-approvals (time to decision as d0…d10). */
export const DECISION_HIST_COLUMNS = Array.from({ length: DECISION_BUCKETS }, (_, i) => `d${i}`);
export const APPROVAL_COLUMNS = ['approvals_requested', 'approvals_approved', 'approvals_denied', 'approvals_expired', 'approvals_cancelled', 'decision_sum_ms', ...DECISION_HIST_COLUMNS];
export const MEASURE_COLUMNS = [...EXCHANGE_COLUMNS, ...APPROVAL_COLUMNS];
export const KEY_COLUMNS = ['granularity', 'bucket', 'filter', 'dim', 'value'];

export function rollupTableSql(bigint: string): string {
  return `CREATE TABLE usage_rollups (
    granularity TEXT NOT NULL, bucket ${bigint} NOT NULL, filter TEXT NOT NULL, dim TEXT NOT NULL, value TEXT NOT NULL,
    ${EXCHANGE_COLUMNS.map((c) => `${c} ${bigint} NOT NULL DEFAULT 0`).join(', ')},
    PRIMARY KEY (granularity, filter, dim, bucket, value)
  )`;
}

/**
 * Migration analytics/002-approvals: the approval measures on the rollups, and each approval's `rolled` (0, 1, 2:
 * see ApprovalSource). Existing approvals start at 0, so the rollers fold the history after an upgrade.
 */
export function approvalRollupsSql(bigint: string): string {
  return `${APPROVAL_COLUMNS.map((c) => `ALTER TABLE usage_rollups ADD COLUMN ${c} ${bigint} NOT NULL DEFAULT 0;`).join('\n')}
  ALTER TABLE approvals ADD COLUMN rolled SMALLINT NOT NULL DEFAULT 0;
  CREATE INDEX approvals_unrolled ON approvals(id) WHERE rolled < 2;`;
}

export function deltaValues(d: RollupDelta): (string | number)[] {
  return [
    d.granularity, d.bucket, d.filter, d.dim, d.value, d.requests, d.inputTokens, d.outputTokens, d.costMicros, d.refused, d.errors, d.findings, d.latencySumMs, ...d.latencyHist,
    d.approvalsRequested, d.approvalsApproved, d.approvalsDenied, d.approvalsExpired, d.approvalsCancelled, d.decisionSumMs, ...d.decisionHist,
  ];
}

type Row = Record<string, unknown>;
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

export function deltaOfRow(r: Row): RollupDelta {
  return {
    granularity: String(r.granularity) as Granularity, bucket: num(r.bucket), filter: String(r.filter), dim: String(r.dim) as Dimension, value: String(r.value),
    requests: num(r.requests), inputTokens: num(r.input_tokens), outputTokens: num(r.output_tokens), costMicros: num(r.cost_micros),
    refused: num(r.refused), errors: num(r.errors), findings: num(r.findings), latencySumMs: num(r.latency_sum_ms),
    latencyHist: HIST_COLUMNS.map((c) => num(r[c])),
    approvalsRequested: num(r.approvals_requested), approvalsApproved: num(r.approvals_approved), approvalsDenied: num(r.approvals_denied),
    approvalsExpired: num(r.approvals_expired), approvalsCancelled: num(r.approvals_cancelled), decisionSumMs: num(r.decision_sum_ms),
    decisionHist: DECISION_HIST_COLUMNS.map((c) => num(r[c])),
  } satisfies RollupDelta & Measures;
}

/** The exchange columns the roller reads; JSON columns arrive as text (SQLite) or parsed (PostgreSQL jsonb). */
export const SOURCE_COLUMNS = 'id, started_at, subject, principal_json, endpoint, model, provider, user_agent, status, error_code, timings_json, usage_json, findings_json, response_findings_json';

const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

/** A text column's value, or null (SQL NULL; anything not text is not trusted as a name). */
const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function sourceOfRow(r: Row): RollupSource {
  const principal = (json(r.principal_json) ?? {}) as { kind?: unknown; displayName?: unknown; groups?: unknown };
  const timings = (json(r.timings_json) ?? {}) as { totalMs?: unknown };
  const usage = (json(r.usage_json) ?? {}) as { inputTokens?: unknown; outputTokens?: unknown };
  const types = (v: unknown): string[] => ((json(v) ?? []) as { type?: unknown }[]).map((f) => text(f.type) ?? 'UNKNOWN');
  const n = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    id: String(text(r.id)), startedAt: Number(r.started_at), subject: text(r.subject),
    kind: text(principal.kind), name: text(principal.displayName),
    groups: Array.isArray(principal.groups) ? principal.groups.filter((g): g is string => typeof g === 'string') : [],
    endpoint: text(r.endpoint) ?? '', model: text(r.model), provider: text(r.provider), userAgent: text(r.user_agent),
    status: text(r.status) ?? '', errorCode: text(r.error_code),
    totalMs: n(timings.totalMs), inputTokens: n(usage.inputTokens), outputTokens: n(usage.outputTokens),
    findingTypes: [...types(r.findings_json), ...types(r.response_findings_json)],
  };
}

/**
 * The approval columns the roller reads, and which approvals it reads: those whose request (rolled 0) or outcome
 * (left pending, rolled < 2) is not yet folded. The partial index approvals_unrolled keeps this cheap.
 */
export const APPROVAL_SOURCE_COLUMNS = 'id, created_at, requester, requester_groups_json, endpoint, model, state, decided_at, break_glass, rolled';
export const APPROVALS_UNROLLED_WHERE = "rolled < 2 AND (rolled = 0 OR state <> 'pending')";

export function approvalSourceOfRow(r: Row): ApprovalSource {
  const groups = json(r.requester_groups_json);
  return {
    id: String(r.id), createdAt: Number(r.created_at), requester: String(r.requester),
    groups: Array.isArray(groups) ? groups.filter((g): g is string => typeof g === 'string') : [],
    endpoint: String(r.endpoint), model: String(r.model), state: String(r.state),
    decidedAt: r.decided_at === null || r.decided_at === undefined ? null : Number(r.decided_at),
    breakGlass: r.break_glass === true || r.break_glass === 1 || r.break_glass === 1n, rolled: Number(r.rolled),
  };
}

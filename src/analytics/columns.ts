import { LATENCY_BUCKETS, type Dimension, type Granularity, type Measures, type RollupDelta, type RollupSource } from './types.ts';

/**
 * The rollup table's columns, shared by both engines: the key, then one additive column per measure (histogram
 * buckets as h0…h14, so every column merges with `+` in an upsert).
 */
export const HIST_COLUMNS = Array.from({ length: LATENCY_BUCKETS }, (_, i) => `h${i}`);
export const MEASURE_COLUMNS = ['requests', 'input_tokens', 'output_tokens', 'cost_micros', 'refused', 'errors', 'findings', 'latency_sum_ms', ...HIST_COLUMNS];
export const KEY_COLUMNS = ['granularity', 'bucket', 'filter', 'dim', 'value'];

export function rollupTableSql(bigint: string): string {
  return `CREATE TABLE usage_rollups (
    granularity TEXT NOT NULL, bucket ${bigint} NOT NULL, filter TEXT NOT NULL, dim TEXT NOT NULL, value TEXT NOT NULL,
    ${MEASURE_COLUMNS.map((c) => `${c} ${bigint} NOT NULL DEFAULT 0`).join(', ')},
    PRIMARY KEY (granularity, filter, dim, bucket, value)
  )`;
}

export function deltaValues(d: RollupDelta): (string | number)[] {
  return [d.granularity, d.bucket, d.filter, d.dim, d.value, d.requests, d.inputTokens, d.outputTokens, d.costMicros, d.refused, d.errors, d.findings, d.latencySumMs, ...d.latencyHist];
}

type Row = Record<string, unknown>;
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

export function deltaOfRow(r: Row): RollupDelta {
  return {
    granularity: String(r.granularity) as Granularity, bucket: num(r.bucket), filter: String(r.filter), dim: String(r.dim) as Dimension, value: String(r.value),
    requests: num(r.requests), inputTokens: num(r.input_tokens), outputTokens: num(r.output_tokens), costMicros: num(r.cost_micros),
    refused: num(r.refused), errors: num(r.errors), findings: num(r.findings), latencySumMs: num(r.latency_sum_ms),
    latencyHist: HIST_COLUMNS.map((c) => num(r[c])),
  } satisfies RollupDelta & Measures;
}

/** The exchange columns the roller reads; JSON columns arrive as text (SQLite) or parsed (PostgreSQL jsonb). */
export const SOURCE_COLUMNS = 'id, started_at, subject, principal_json, endpoint, model, provider, user_agent, status, error_code, timings_json, usage_json, findings_json, response_findings_json';

const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

/** A text column's value, or null (SQL NULL; anything not text is not trusted as a name). */
const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function sourceOfRow(r: Row): RollupSource {
  const principal = (json(r.principal_json) ?? {}) as { kind?: unknown; groups?: unknown };
  const timings = (json(r.timings_json) ?? {}) as { totalMs?: unknown };
  const usage = (json(r.usage_json) ?? {}) as { inputTokens?: unknown; outputTokens?: unknown };
  const types = (v: unknown): string[] => ((json(v) ?? []) as { type?: unknown }[]).map((f) => text(f.type) ?? 'UNKNOWN');
  const n = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    id: String(text(r.id)), startedAt: Number(r.started_at), subject: text(r.subject),
    kind: text(principal.kind),
    groups: Array.isArray(principal.groups) ? principal.groups.filter((g): g is string => typeof g === 'string') : [],
    endpoint: text(r.endpoint) ?? '', model: text(r.model), provider: text(r.provider), userAgent: text(r.user_agent),
    status: text(r.status) ?? '', errorCode: text(r.error_code),
    totalMs: n(timings.totalMs), inputTokens: n(usage.inputTokens), outputTokens: n(usage.outputTokens),
    findingTypes: [...types(r.findings_json), ...types(r.response_findings_json)],
  };
}

import { counterKeyString, type BudgetCounterRepo, type CounterIncrement, type CounterKey, type CounterRow } from '../../policy/budgets/counters.ts';
import type { BudgetMetric } from '../../policy/budgets/schema.ts';
import type { Migration } from '../sqlite/migrations.ts';
import { groupCommit } from './group-commit.ts';
import { isUnavailable } from './unavailable.ts';

/** Budget counters on PostgreSQL: the same table as SQLite; replicas share counts through atomic upserts. */
export const BUDGET_PG_MIGRATIONS: readonly Migration[] = [
  { id: 'budgets/001-counters', sql: `
  CREATE TABLE budget_counters (
    limit_id TEXT NOT NULL, metric TEXT NOT NULL, scope TEXT NOT NULL, window_start BIGINT NOT NULL,
    value BIGINT NOT NULL, expires_at BIGINT NOT NULL,
    PRIMARY KEY (limit_id, metric, scope, window_start)
  );
  CREATE INDEX budget_counters_expiry ON budget_counters(expires_at);
  ` },
];

type Row = Record<string, unknown>;

/** Parameterized query on the store's pool (PostgresStore.query). */
export type PgQuery = (sql: string, args?: unknown[]) => Promise<{ rows: Row[]; rowCount: number | null }>;

const toRow = (r: Row): CounterRow => ({
  limitId: String(r.limit_id), metric: String(r.metric) as BudgetMetric, scope: String(r.scope),
  windowStart: Number(r.window_start), value: Number(r.value), expiresAt: Number(r.expires_at),
});

/**
 * One statement for every increment of a batch: `INSERT … ON CONFLICT DO UPDATE … RETURNING` is atomic per row
 * under concurrent replicas (https://www.postgresql.org/docs/current/sql-insert.html#SQL-ON-CONFLICT). Rows are
 * written in key order, so two replicas' batches lock shared counter rows in the same order (no deadlock). Each call
 * gets the values it would have seen alone, in call order: the row's value after the statement minus what later
 * calls in the batch added to it. Runs in the recording group commit (recording.ts): every request of one identity
 * increments the same rows, and one upsert per request would queue on them one commit at a time (docs/benchmark.md).
 */
export async function addCounters(q: PgQuery, calls: CounterIncrement[][]): Promise<number[][]> {
  const incs = calls.flat();
  if (incs.length === 0) return calls.map(() => []);
  const r = await q(
    `WITH input AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[]) WITH ORDINALITY
         AS t(limit_id, metric, scope, window_start, by, expires_at, ord)
     ), up AS (
       INSERT INTO budget_counters AS c (limit_id, metric, scope, window_start, value, expires_at)
       SELECT limit_id, metric, scope, window_start, sum(by), max(expires_at) FROM input GROUP BY limit_id, metric, scope, window_start
         ORDER BY limit_id, metric, scope, window_start
       ON CONFLICT (limit_id, metric, scope, window_start)
       DO UPDATE SET value = c.value + excluded.value, expires_at = greatest(c.expires_at, excluded.expires_at)
       RETURNING c.limit_id, c.metric, c.scope, c.window_start, c.value
     )
     SELECT up.value FROM input JOIN up USING (limit_id, metric, scope, window_start) ORDER BY input.ord`,
    [incs.map((i) => i.limitId), incs.map((i) => i.metric), incs.map((i) => i.scope), incs.map((i) => i.windowStart), incs.map((i) => i.by), incs.map((i) => i.expiresAt)],
  );
  const finals = r.rows.map((x) => Number(x.value));
  const later = new Map<string, number>();
  const out: number[][] = [];
  let end = finals.length;
  for (let i = calls.length - 1; i >= 0; i--) {
    const call = calls[i]!;
    const start = end - call.length;
    out[i] = call.map((inc, j) => finals[start + j]! - (later.get(counterKeyString(inc)) ?? 0));
    for (const inc of call) later.set(counterKeyString(inc), (later.get(counterKeyString(inc)) ?? 0) + inc.by);
    end = start;
  }
  return out;
}

/**
 * `q`: reads on the pool; `add`: increments through the store's recording group commit (PostgresStore.recording),
 * where an exchange's usage is refused with its finish (PostgresRecording.count).
 * Reads made while one is in flight are merged into the next one statement (group-commit.ts): a request checks two
 * sets of counters (its token budgets, the previous window of a sliding limit), and one autocommit SELECT each was
 * two of the five statements a request cost (docs/benchmark.md, "Stop 19"). A merged read runs after its call was
 * made and before it resolves, so it sees every increment committed before the call.
 */
export function postgresBudgetCounters(q: PgQuery, add: (incs: CounterIncrement[], forExchange?: string) => Promise<number[]>): BudgetCounterRepo {
  const read = groupCommit<CounterKey[], number[]>(async (calls) => {
    const keys = calls.flat();
    const r = await q(
      `SELECT coalesce(c.value, 0) AS value
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY AS k(limit_id, metric, scope, window_start, ord)
         LEFT JOIN budget_counters c USING (limit_id, metric, scope, window_start) ORDER BY k.ord`,
      [keys.map((k) => k.limitId), keys.map((k) => k.metric), keys.map((k) => k.scope), keys.map((k) => k.windowStart)],
    );
    const values = r.rows.map((x) => Number(x.value));
    let at = 0;
    return calls.map((call) => ({ ok: true as const, value: values.slice(at, (at += call.length)) }));
  }, { maxBatch: 256, isUnavailable });
  return {
    async add(incs, opts) {
      return incs.length === 0 ? [] : add(incs, opts?.forExchange);
    },
    async get(keys) {
      return keys.length === 0 ? [] : read(keys);
    },
    async list(now, f = {}) {
      const r = await q(
        `SELECT * FROM budget_counters WHERE expires_at > $1 AND ($2::text IS NULL OR strpos(scope, $2) > 0) AND ($3::text IS NULL OR limit_id = $3)
         ORDER BY scope, limit_id, metric, window_start LIMIT 10000`,
        [now, f.scope ?? null, f.limitId ?? null],
      );
      return r.rows.map(toRow);
    },
    async purgeExpired(now) {
      return (await q('DELETE FROM budget_counters WHERE expires_at <= $1', [now])).rowCount ?? 0;
    },
  };
}

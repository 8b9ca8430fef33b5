import type pg from 'pg';
import { APPROVAL_SOURCE_COLUMNS, approvalRollupsSql, approvalSourceOfRow, APPROVALS_UNROLLED_WHERE, deltaOfRow, deltaValues, KEY_COLUMNS, MEASURE_COLUMNS, rollupTableSql, SOURCE_COLUMNS, sourceOfRow } from '../../analytics/columns.ts';
import { rolledTarget, type AnalyticsRepo, type RollupDelta } from '../../analytics/types.ts';
import { foldSeen, SEEN_COLUMNS, seenOfRow, seenTableSql, seenUpdateSql, seenValues, type SeenDelta } from '../../analytics/seen.ts';
import { clientFamily } from '../../analytics/client-family.ts';
import type { Migration } from '../sqlite/migrations.ts';
import type { PostgresStore } from './index.ts';

/** Usage rollups (src/analytics) on PostgreSQL, shared by every replica. */
export const ANALYTICS_PG_MIGRATIONS: readonly Migration[] = [
  { id: 'analytics/001-rollups', sql: `
  ALTER TABLE exchanges ADD COLUMN rolled BOOLEAN NOT NULL DEFAULT false;
  CREATE INDEX exchanges_unrolled ON exchanges(id) WHERE NOT rolled;
  ${rollupTableSql('BIGINT')};
  ` },
];

/** Approvals in the rollups (docs/analytics.md#approvals); appended at the end of POSTGRES_MIGRATIONS. */
export const ANALYTICS_APPROVAL_PG_MIGRATIONS: readonly Migration[] = [
  { id: 'analytics/002-approvals', sql: approvalRollupsSql('BIGINT') },
  // Identities seen (docs/analytics.md#identities-seen); migrations are applied by id, so it may follow here.
  { id: 'analytics/003-seen', sql: `${seenTableSql('BIGINT')};` },
];

const COLUMN_TYPES = [...KEY_COLUMNS.map((c) => (c === 'bucket' ? 'bigint' : 'text')), ...MEASURE_COLUMNS.map(() => 'bigint')];

/**
 * One statement adds every delta: `unnest` of one array per column, upserted with `+` per measure. Deltas arrive
 * sorted by key (foldExchanges), so two replicas rolling at once lock rollup rows in the same order.
 */
const UPSERT = `INSERT INTO usage_rollups AS u (${[...KEY_COLUMNS, ...MEASURE_COLUMNS].join(', ')})
  SELECT * FROM unnest(${COLUMN_TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})
  ON CONFLICT (granularity, filter, dim, bucket, value) DO UPDATE SET ${MEASURE_COLUMNS.map((c) => `${c} = u.${c} + excluded.${c}`).join(', ')}`;

function columnsOf(deltas: RollupDelta[]): unknown[][] {
  const cols: unknown[][] = COLUMN_TYPES.map(() => []);
  for (const d of deltas) {
    const v = deltaValues(d);
    for (let i = 0; i < v.length; i++) cols[i]!.push(v[i]);
  }
  return cols;
}

const SEEN_TYPES = ['text', 'text', 'text', 'text', 'text', 'bigint', 'bigint', 'bigint'];
/** One statement for the batch's (subject, client) rows (unique per batch: foldSeen merged them), in key order. */
const UPSERT_SEEN = `INSERT INTO identities_seen AS s (${SEEN_COLUMNS.join(', ')})
  SELECT * FROM unnest(${SEEN_TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})
  ON CONFLICT (subject, client) DO UPDATE SET ${seenUpdateSql('s', 'LEAST', 'GREATEST')}`;

function seenColumns(seen: SeenDelta[]): unknown[][] {
  const cols: unknown[][] = SEEN_TYPES.map(() => []);
  for (const d of seen) seenValues(d).forEach((v, i) => cols[i]!.push(v));
  return cols;
}

export function postgresAnalytics(store: PostgresStore): AnalyticsRepo {
  return {
    // Rows are claimed with FOR UPDATE SKIP LOCKED: replicas rolling at the same time take disjoint exchanges,
    // and the deltas and the `rolled` flags commit together (https://www.postgresql.org/docs/current/sql-select.html#SQL-FOR-UPDATE-SHARE).
    roll: (limit, fold) => store.transaction(async (c: pg.PoolClient) => {
      const rows = (await c.query(`SELECT ${SOURCE_COLUMNS} FROM exchanges WHERE NOT rolled AND status <> 'in_progress' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, [limit])).rows.map(sourceOfRow);
      if (rows.length === 0) return 0;
      const deltas = fold(rows);
      const seen = foldSeen(rows);
      if (seen.length > 0) await c.query(UPSERT_SEEN, seenColumns(seen));
      if (deltas.length > 0) await c.query(UPSERT, columnsOf(deltas));
      await c.query('UPDATE exchanges SET rolled = true WHERE id = ANY($1::text[])', [rows.map((r) => r.id)]);
      return rows.length;
    }),
    // As roll: claimed with SKIP LOCKED, deltas and the new `rolled` values commit together. The rows are locked,
    // so the state read is the state marked (a decision racing the roll waits for its commit).
    rollApprovals: (limit, fold) => store.transaction(async (c: pg.PoolClient) => {
      const rows = (await c.query(`SELECT ${APPROVAL_SOURCE_COLUMNS} FROM approvals WHERE ${APPROVALS_UNROLLED_WHERE} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, [limit])).rows.map(approvalSourceOfRow);
      if (rows.length === 0) return 0;
      const deltas = fold(rows);
      if (deltas.length > 0) await c.query(UPSERT, columnsOf(deltas));
      await c.query('UPDATE approvals AS a SET rolled = m.rolled FROM unnest($1::text[], $2::smallint[]) AS m(id, rolled) WHERE a.id = m.id',
        [rows.map((r) => r.id), rows.map((r) => rolledTarget(r.state))]);
      return rows.length;
    }),
    query: async (q) => (await store.query(
      `SELECT * FROM usage_rollups WHERE granularity = $1 AND filter = $2 AND dim = $3 AND bucket >= $4 AND bucket < $5
         AND ($6::text[] IS NULL OR value = ANY($6::text[])) ORDER BY bucket, value`,
      [q.granularity, q.filter, q.dim, q.from, q.to, q.values ?? null],
    )).rows.map(deltaOfRow),
    totals: async (q, limit) => (await store.query(
      `SELECT $1::text AS granularity, $4::bigint AS bucket, filter, dim, value, ${MEASURE_COLUMNS.map((c) => `sum(${c}) AS ${c}`).join(', ')}
         FROM usage_rollups WHERE granularity = $1 AND filter = $2 AND dim = $3 AND bucket >= $4 AND bucket < $5
         GROUP BY filter, dim, value ORDER BY requests DESC, value LIMIT $6`,
      [q.granularity, q.filter, q.dim, q.from, q.to, limit],
    )).rows.map(deltaOfRow),
    seen: async (limit) => (await store.query('SELECT * FROM identities_seen ORDER BY last_seen DESC, subject, client LIMIT $1', [limit])).rows.map(seenOfRow),
    backlog: async () => Number((await store.query<{ n: string }>(`SELECT count(*) AS n FROM exchanges WHERE NOT rolled AND status <> 'in_progress'`)).rows[0]?.n ?? 0),
    backfillClientTools: async (limit) => {
      const rows = (await store.query<{ id: string; user_agent: string | null }>('SELECT id, user_agent FROM exchanges WHERE client_tool IS NULL LIMIT $1', [limit])).rows;
      if (rows.length === 0) return 0;
      await store.query('UPDATE exchanges AS e SET client_tool = m.tool FROM unnest($1::text[], $2::text[]) AS m(id, tool) WHERE e.id = m.id AND e.client_tool IS NULL',
        [rows.map((r) => r.id), rows.map((r) => clientFamily(r.user_agent))]);
      return rows.length;
    },
    prune: async (g, before) => (await store.query('DELETE FROM usage_rollups WHERE granularity = $1 AND bucket < $2', [g, before])).rowCount ?? 0,
  };
}

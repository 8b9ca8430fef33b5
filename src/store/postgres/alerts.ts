import type pg from 'pg';
import { applyHits, ALERT_RESPONSE_MODE_SQL, ALERT_TABLES_SQL, SUSPENSION_COLUMNS, suspensionOfRow, changeInvestigation, firingOfRow, INVESTIGATION_COLUMNS, investigationOfRow, readInvestigation, runAsync, type AlertProgram } from '../../alerts/apply.ts';
import { ALERT_SOURCE_COLUMNS, alertSourceOfRow } from '../../alerts/columns.ts';
import type { AlertRepo } from '../../alerts/types.ts';
import type { Migration } from '../sqlite/migrations.ts';
import type { PostgresStore } from './index.ts';

/** Alert rules' state and investigations (src/alerts) on PostgreSQL, shared by every replica. */
export const ALERT_PG_MIGRATIONS: readonly Migration[] = [
  { id: 'alerts/001-investigations', sql: `
  ALTER TABLE exchanges ADD COLUMN alerted BOOLEAN NOT NULL DEFAULT false;
  CREATE INDEX exchanges_unalerted ON exchanges(id) WHERE NOT alerted;
  ${ALERT_TABLES_SQL('BIGINT')}
  ` },
  { id: 'alerts/002-respond-approval', sql: ALERT_RESPONSE_MODE_SQL },
];

type Rows = Record<string, unknown>[];

export function postgresAlerts(store: PostgresStore): AlertRepo {
  const onPool = <T>(p: AlertProgram<T>): Promise<T> => runAsync(p, async (sql, params) => (await store.query(sql, params)).rows as Rows);
  const inTx = <T>(p: () => AlertProgram<T>): Promise<T> => store.transaction((c) => runAsync(p(), async (sql, params) => (await c.query(sql, params)).rows as Rows));
  return {
    // Exchanges are claimed with FOR UPDATE SKIP LOCKED (replicas evaluating at once take disjoint ones); hits,
    // firings, suspensions and the `alerted` flags commit together.
    evaluate: (limit, rules, hitsOf, now) => store.transaction(async (c: pg.PoolClient) => {
      const rows = (await c.query(`SELECT ${ALERT_SOURCE_COLUMNS} FROM exchanges WHERE NOT alerted AND status <> 'in_progress' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, [limit])).rows.map(alertSourceOfRow);
      if (rows.length === 0) return { evaluated: 0, opened: [] };
      const opened = await runAsync(applyHits(hitsOf(rows), rules, now), async (sql, params) => (await c.query(sql, params)).rows as Rows);
      await c.query('UPDATE exchanges SET alerted = true WHERE id = ANY($1::text[])', [rows.map((r) => r.id)]);
      return { evaluated: rows.length, opened };
    }),
    list: async (f) => (await store.query(
      `SELECT ${INVESTIGATION_COLUMNS} FROM investigations WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR identity = $2) AND ($3::text IS NULL OR id < $3)
       ORDER BY id DESC LIMIT $4`, [f.state ?? null, f.identity ?? null, f.before ?? null, f.limit])).rows.map((r) => investigationOfRow(r, [])),
    get: (id) => onPool(readInvestigation(id)),
    assign: (id, assignee) => inTx(() => changeInvestigation(id, { assign: assignee })),
    note: (id, note) => inTx(() => changeInvestigation(id, { note })),
    close: (id, by, resolution, at) => inTx(() => changeInvestigation(id, { close: { by, resolution, at } })),
    unnotified: async (before, limit) => (await store.query(`SELECT ${INVESTIGATION_COLUMNS} FROM investigations WHERE notified_at IS NULL AND opened_at < $1 ORDER BY opened_at LIMIT $2`, [before, limit])).rows.map(firingOfRow),
    markNotified: async (id, at) => void (await store.query('UPDATE investigations SET notified_at = $1 WHERE id = $2 AND notified_at IS NULL', [at, id])),
    suspensions: async () => (await store.query(`SELECT ${SUSPENSION_COLUMNS} FROM alert_suspensions WHERE lifted_at IS NULL ORDER BY since`)).rows
      .map(suspensionOfRow),
    lift: async (identity, by, at) => (await store.query('UPDATE alert_suspensions SET lifted_at = $1, lifted_by = $2 WHERE identity = $3 AND lifted_at IS NULL', [at, by, identity])).rowCount === 1,
    prune: async (before) => (await store.query('DELETE FROM alert_hits WHERE at < $1', [before])).rowCount ?? 0,
  };
}

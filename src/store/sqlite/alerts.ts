import { applyHits, ALERT_RESPONSE_MODE_SQL, ALERT_TABLES_SQL, SUSPENSION_COLUMNS, suspensionOfRow, changeInvestigation, firingOfRow, INVESTIGATION_COLUMNS, investigationOfRow, readInvestigation, runSync, type AlertProgram } from '../../alerts/apply.ts';
import { ALERT_SOURCE_COLUMNS, alertSourceOfRow } from '../../alerts/columns.ts';
import type { AlertRepo, AlertRule, AlertSource, Firing, Hit, Investigation, InvestigationFilter, InvestigationNote } from '../../alerts/types.ts';
import type { SqliteCore } from './core.ts';
import type { SqliteStore } from './index.ts';
import type { Migration } from './migrations.ts';

/**
 * Alert rules' state and investigations (src/alerts) on SQLite. An exchange is evaluated once: `alerted` flips
 * 0 → 1 in the same transaction that applies its hits (like analytics' `rolled`).
 */
export const ALERT_MIGRATIONS: readonly Migration[] = [
  { id: 'alerts/001-investigations', sql: `
  ALTER TABLE exchanges ADD COLUMN alerted INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX exchanges_unalerted ON exchanges(id) WHERE alerted = 0;
  ${ALERT_TABLES_SQL('INTEGER')}
  ` },
  { id: 'alerts/002-respond-approval', sql: ALERT_RESPONSE_MODE_SQL },
];

type Rows = Record<string, unknown>[];

export function alertsSqlite(core: SqliteCore): Record<string, (...args: never[]) => unknown> {
  const run = <T>(p: AlertProgram<T>): T => runSync(p, (sql, params) => core.stmt(sql).all(...(params as (string | number | null)[])) as Rows);
  return {
    'alerts.pending': (limit: number) =>
      core.stmt(`SELECT ${ALERT_SOURCE_COLUMNS} FROM exchanges WHERE alerted = 0 AND status <> 'in_progress' ORDER BY id LIMIT ?`).all(limit).map((r) => alertSourceOfRow(r)),
    // In the worker's transaction: an exchange already evaluated fails the call and its savepoint undoes it.
    'alerts.apply': (ids: string[], hits: Hit[], rules: AlertRule[], now: number) => {
      const mark = core.stmt('UPDATE exchanges SET alerted = 1 WHERE id = ? AND alerted = 0');
      for (const id of ids) if (Number(mark.run(id).changes) !== 1) throw new Error(`exchange ${id} was already evaluated`);
      return run(applyHits(hits, new Map(rules.map((r) => [r.id, r])), now));
    },
    'alerts.list': (f: InvestigationFilter) =>
      (core.stmt(`SELECT ${INVESTIGATION_COLUMNS} FROM investigations WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR identity = ?2) AND (?3 IS NULL OR id < ?3)
        ORDER BY id DESC LIMIT ?4`).all(f.state ?? null, f.identity ?? null, f.before ?? null, f.limit) as Rows).map((r) => investigationOfRow(r, [])),
    'alerts.get': (id: string) => run(readInvestigation(id)),
    'alerts.change': (id: string, change: Parameters<typeof changeInvestigation>[1]) => run(changeInvestigation(id, change)),
    'alerts.unnotified': (before: number, limit: number) =>
      (core.stmt(`SELECT ${INVESTIGATION_COLUMNS} FROM investigations WHERE notified_at IS NULL AND opened_at < ? ORDER BY opened_at LIMIT ?`).all(before, limit) as Rows).map(firingOfRow),
    'alerts.markNotified': (id: string, at: number) => void core.stmt('UPDATE investigations SET notified_at = ? WHERE id = ? AND notified_at IS NULL').run(at, id),
    'alerts.suspensions': () =>
      (core.stmt(`SELECT ${SUSPENSION_COLUMNS} FROM alert_suspensions WHERE lifted_at IS NULL ORDER BY since`).all() as Rows)
        .map(suspensionOfRow),
    'alerts.lift': (identity: string, by: string, at: number) =>
      Number(core.stmt('UPDATE alert_suspensions SET lifted_at = ?, lifted_by = ? WHERE identity = ? AND lifted_at IS NULL').run(at, by, identity).changes) === 1,
    'alerts.prune': (before: number) => Number(core.stmt('DELETE FROM alert_hits WHERE at < ?').run(before).changes),
  };
}

export function sqliteAlerts(store: SqliteStore): AlertRepo {
  // One evaluator per process: a second evaluation waits for the first, so two never take the same rows.
  let running: Promise<unknown> = Promise.resolve();
  return {
    evaluate(limit, rules, hitsOf, now) {
      const job = running.then(async () => {
        const rows = await store.callExt<AlertSource[]>('alerts.pending', limit);
        if (rows.length === 0) return { evaluated: 0, opened: [] };
        const opened = await store.callExt<Firing[]>('alerts.apply', rows.map((r) => r.id), hitsOf(rows), [...rules.values()], now);
        return { evaluated: rows.length, opened };
      });
      running = job.catch(() => undefined);
      return job;
    },
    list: (f) => store.callExt<Investigation[]>('alerts.list', f),
    get: (id) => store.callExt<Investigation | undefined>('alerts.get', id),
    assign: (id, assignee) => store.callExt('alerts.change', id, { assign: assignee }),
    note: (id, note: InvestigationNote) => store.callExt('alerts.change', id, { note }),
    close: (id, by, resolution, at) => store.callExt('alerts.change', id, { close: { by, resolution, at } }),
    unnotified: (before, limit) => store.callExt('alerts.unnotified', before, limit),
    markNotified: (id, at) => store.callExt('alerts.markNotified', id, at),
    suspensions: () => store.callExt('alerts.suspensions'),
    lift: (identity, by, at) => store.callExt('alerts.lift', identity, by, at),
    prune: (before) => store.callExt('alerts.prune', before),
  };
}

import type { SQLOutputValue } from 'node:sqlite';
import type { BudgetCounterRepo, CounterIncrement, CounterKey, CounterRow } from '../../policy/budgets/counters.ts';
import type { BudgetMetric } from '../../policy/budgets/schema.ts';
import type { SqliteCore } from './core.ts';
import type { SqliteStore } from './index.ts';
import type { Migration } from './migrations.ts';

/** Budget counters (src/policy/budgets): one row per limit, metric, scope and window; increments are upserts. */
export const BUDGET_MIGRATIONS: readonly Migration[] = [
  { id: 'budgets/001-counters', sql: `
  CREATE TABLE budget_counters (
    limit_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    scope TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    value INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (limit_id, metric, scope, window_start)
  );
  CREATE INDEX budget_counters_expiry ON budget_counters(expires_at);
  ` },
];

const UPSERT = `INSERT INTO budget_counters (limit_id, metric, scope, window_start, value, expires_at) VALUES (?, ?, ?, ?, ?, ?)
  ON CONFLICT (limit_id, metric, scope, window_start) DO UPDATE SET value = value + excluded.value, expires_at = max(expires_at, excluded.expires_at)
  RETURNING value`;

const toRow = (r: Record<string, SQLOutputValue>): CounterRow => ({
  limitId: String(r.limit_id), metric: String(r.metric) as BudgetMetric, scope: String(r.scope),
  windowStart: Number(r.window_start), value: Number(r.value), expiresAt: Number(r.expires_at),
});

function list(core: SqliteCore, now: number, f: { scope?: string; limitId?: string }): CounterRow[] {
  const where = ['expires_at > ?'];
  const args: (string | number)[] = [now];
  if (f.scope !== undefined) {
    where.push("instr(scope, ?) > 0");
    args.push(f.scope);
  }
  if (f.limitId !== undefined) {
    where.push('limit_id = ?');
    args.push(f.limitId);
  }
  return core.stmt(`SELECT * FROM budget_counters WHERE ${where.join(' AND ')} ORDER BY scope, limit_id, metric, window_start LIMIT 10000`).all(...args).map(toRow);
}

export function budgetsSqlite(core: SqliteCore): Record<string, (...args: never[]) => unknown> {
  return {
    // Runs inside the worker's transaction for this turn: each upsert is atomic and sees the previous one.
    'budgets.add': (incs: CounterIncrement[]) =>
      incs.map((i) => Number(core.stmt(UPSERT).get(i.limitId, i.metric, i.scope, i.windowStart, i.by, i.expiresAt)?.value ?? 0)),
    'budgets.get': (keys: CounterKey[]) =>
      keys.map((k) => Number(core.stmt('SELECT value FROM budget_counters WHERE limit_id = ? AND metric = ? AND scope = ? AND window_start = ?')
        .get(k.limitId, k.metric, k.scope, k.windowStart)?.value ?? 0)),
    'budgets.list': (now: number, f: { scope?: string; limitId?: string }) => list(core, now, f),
    'budgets.purge': (now: number) => Number(core.stmt('DELETE FROM budget_counters WHERE expires_at <= ?').run(now).changes),
  };
}

export function sqliteBudgetCounters(store: SqliteStore): BudgetCounterRepo {
  return {
    add: (incs) => (incs.length === 0 ? Promise.resolve([]) : store.callExt('budgets.add', incs)),
    get: (keys) => (keys.length === 0 ? Promise.resolve([]) : store.callExt('budgets.get', keys)),
    list: (now, f = {}) => store.callExt('budgets.list', now, f),
    purgeExpired: (now) => store.callExt('budgets.purge', now),
  };
}

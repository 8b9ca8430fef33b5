import { APPROVAL_SOURCE_COLUMNS, approvalRollupsSql, approvalSourceOfRow, APPROVALS_UNROLLED_WHERE, deltaOfRow, deltaValues, KEY_COLUMNS, MEASURE_COLUMNS, rollupTableSql, SOURCE_COLUMNS, sourceOfRow } from '../../analytics/columns.ts';
import { rolledTarget, type AnalyticsRepo, type ApprovalSource, type Granularity, type RollupDelta, type RollupSource, type UsageQuery } from '../../analytics/types.ts';
import { foldSeen, SEEN_COLUMNS, seenOfRow, seenTableSql, seenUpdateSql, seenValues, type SeenDelta } from '../../analytics/seen.ts';
import { clientFamily } from '../../analytics/client-family.ts';
import type { SqliteCore } from './core.ts';
import type { SqliteStore } from './index.ts';
import type { Migration } from './migrations.ts';

/**
 * Usage rollups (src/analytics) on SQLite. An exchange is folded in once: `rolled` flips 0 → 1 in the same
 * transaction that adds its deltas; the partial index keeps finding the not-yet-rolled rows cheap.
 */
export const ANALYTICS_MIGRATIONS: readonly Migration[] = [
  { id: 'analytics/001-rollups', sql: `
  ALTER TABLE exchanges ADD COLUMN rolled INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX exchanges_unrolled ON exchanges(id) WHERE rolled = 0;
  ${rollupTableSql('INTEGER')};
  ` },
];

/** Approvals in the rollups (docs/analytics.md#approvals); appended at the end of SQLITE_MIGRATIONS. */
export const ANALYTICS_APPROVAL_MIGRATIONS: readonly Migration[] = [
  { id: 'analytics/002-approvals', sql: approvalRollupsSql('INTEGER') },
  // Identities seen (docs/analytics.md#identities-seen); migrations are applied by id, so it may follow here.
  { id: 'analytics/003-seen', sql: `${seenTableSql('INTEGER')};` },
];

const UPSERT = `INSERT INTO usage_rollups (${[...KEY_COLUMNS, ...MEASURE_COLUMNS].join(', ')})
  VALUES (${[...KEY_COLUMNS, ...MEASURE_COLUMNS].map(() => '?').join(', ')})
  ON CONFLICT (granularity, filter, dim, bucket, value) DO UPDATE SET ${MEASURE_COLUMNS.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`;

const UPSERT_SEEN = `INSERT INTO identities_seen (${SEEN_COLUMNS.join(', ')}) VALUES (${SEEN_COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (subject, client) DO UPDATE SET ${seenUpdateSql('identities_seen', 'min', 'max')}`;

export function analyticsSqlite(core: SqliteCore): Record<string, (...args: never[]) => unknown> {
  return {
    'analytics.pending': (limit: number) =>
      core.stmt(`SELECT ${SOURCE_COLUMNS} FROM exchanges WHERE rolled = 0 AND status <> 'in_progress' ORDER BY id LIMIT ?`).all(limit).map((r) => sourceOfRow(r)),
    // Runs in the worker's transaction: an id already rolled (or gone) fails the call, and its savepoint undoes
    // whatever it had applied, so a delta is never added twice or without its exchanges being marked.
    'analytics.apply': (ids: string[], deltas: RollupDelta[], seen: SeenDelta[] = []) => {
      const mark = core.stmt('UPDATE exchanges SET rolled = 1 WHERE id = ? AND rolled = 0');
      for (const id of ids) if (Number(mark.run(id).changes) !== 1) throw new Error(`exchange ${id} was already rolled up`);
      const upSeen = core.stmt(UPSERT_SEEN);
      for (const d of seen) upSeen.run(...seenValues(d));
      const up = core.stmt(UPSERT);
      for (const d of deltas) up.run(...deltaValues(d));
      return ids.length;
    },
    'analytics.pendingApprovals': (limit: number) =>
      core.stmt(`SELECT ${APPROVAL_SOURCE_COLUMNS} FROM approvals WHERE ${APPROVALS_UNROLLED_WHERE} ORDER BY id LIMIT ?`).all(limit).map((r) => approvalSourceOfRow(r)),
    // As analytics.apply: `rolled` moves from the value read to the target of the state read (compare-and-set),
    // or the call fails and its savepoint undoes it. The state may have moved on since; the next roll folds that.
    'analytics.applyApprovals': (marks: { id: string; from: number; to: number }[], deltas: RollupDelta[]) => {
      const mark = core.stmt('UPDATE approvals SET rolled = ? WHERE id = ? AND rolled = ?');
      for (const m of marks) if (Number(mark.run(m.to, m.id, m.from).changes) !== 1) throw new Error(`approval ${m.id} was already rolled up`);
      const up = core.stmt(UPSERT);
      for (const d of deltas) up.run(...deltaValues(d));
      return marks.length;
    },
    'analytics.query': (q: UsageQuery) =>
      core.stmt(`SELECT * FROM usage_rollups WHERE granularity = ?1 AND filter = ?2 AND dim = ?3 AND bucket >= ?4 AND bucket < ?5
        AND (?6 IS NULL OR value IN (SELECT value FROM json_each(?6))) ORDER BY bucket, value`)
        .all(q.granularity, q.filter, q.dim, q.from, q.to, q.values ? JSON.stringify(q.values) : null).map((r) => deltaOfRow(r)),
    'analytics.totals': (q: UsageQuery, limit: number) =>
      core.stmt(`SELECT ? AS granularity, ? AS bucket, filter, dim, value, ${MEASURE_COLUMNS.map((c) => `sum(${c}) AS ${c}`).join(', ')}
        FROM usage_rollups WHERE granularity = ? AND filter = ? AND dim = ? AND bucket >= ? AND bucket < ?
        GROUP BY filter, dim, value ORDER BY requests DESC, value LIMIT ?`)
        .all(q.granularity, q.from, q.granularity, q.filter, q.dim, q.from, q.to, limit).map((r) => deltaOfRow(r)),
    'analytics.seen': (limit: number) =>
      core.stmt('SELECT * FROM identities_seen ORDER BY last_seen DESC, subject, client LIMIT ?').all(limit).map((r) => seenOfRow(r)),
    'analytics.backlog': () => Number(core.stmt(`SELECT count(*) AS n FROM exchanges WHERE rolled = 0 AND status <> 'in_progress'`).get()?.n ?? 0),
    'analytics.backfillClientTools': (limit: number) => {
      const rows = core.stmt('SELECT id, user_agent FROM exchanges WHERE client_tool IS NULL LIMIT ?').all(limit);
      const set = core.stmt('UPDATE exchanges SET client_tool = ? WHERE id = ? AND client_tool IS NULL');
      for (const r of rows) set.run(clientFamily(typeof r.user_agent === 'string' ? r.user_agent : null), r.id as string);
      return rows.length;
    },
    'analytics.prune': (g: Granularity, before: number) => Number(core.stmt('DELETE FROM usage_rollups WHERE granularity = ? AND bucket < ?').run(g, before).changes),
  };
}

export function sqliteAnalytics(store: SqliteStore): AnalyticsRepo {
  // One roller per process reads, folds on the main thread (prices need the active policy) and applies; a
  // second roll waits for the first, so two never fold the same rows.
  let running: Promise<unknown> = Promise.resolve();
  return {
    roll(limit, fold) {
      const run = running.then(async () => {
        const rows = await store.callExt<RollupSource[]>('analytics.pending', limit);
        if (rows.length === 0) return 0;
        return store.callExt<number>('analytics.apply', rows.map((r) => r.id), fold(rows), foldSeen(rows));
      });
      running = run.catch(() => undefined);
      return run;
    },
    rollApprovals(limit, fold) {
      const run = running.then(async () => {
        const rows = await store.callExt<ApprovalSource[]>('analytics.pendingApprovals', limit);
        if (rows.length === 0) return 0;
        return store.callExt<number>('analytics.applyApprovals', rows.map((r) => ({ id: r.id, from: r.rolled, to: rolledTarget(r.state) })), fold(rows));
      });
      running = run.catch(() => undefined);
      return run;
    },
    query: (q) => store.callExt('analytics.query', q),
    totals: (q, limit) => store.callExt('analytics.totals', q, limit),
    seen: (limit) => store.callExt('analytics.seen', limit),
    backlog: () => store.callExt('analytics.backlog'),
    backfillClientTools: (limit) => store.callExt('analytics.backfillClientTools', limit),
    prune: (g, before) => store.callExt('analytics.prune', g, before),
  };
}

/**
 * A roller that dies inside its transaction (test/analytics/rollups.test.ts, "killed mid-update"): run as a child
 * process and killed with SIGKILL, so nothing of the store's own cleanup runs.
 *   sqlite <db path>: the store's own statements (analyticsSqlite: mark the exchanges, upsert identities seen and
 *     rollups) inside BEGIN, with a one-page cache so uncommitted pages spill into the WAL file; then SIGKILL
 *     itself before COMMIT.
 *   postgres <url>: the store's real roll (postgresAnalytics); the test holds a conflicting uncommitted rollup row,
 *     so the roll blocks inside its transaction after claiming and writing, and the test kills this process there.
 */
import { tmpdir } from 'node:os';
import { foldExchanges } from '../../src/analytics/fold.ts';
import { foldSeen } from '../../src/analytics/seen.ts';
import type { RollupSource } from '../../src/analytics/types.ts';
import { openAnalyticsRepo } from '../../src/store/analytics-repo.ts';
import { openStore } from '../../src/store/open.ts';
import { analyticsSqlite } from '../../src/store/sqlite/analytics.ts';
import { SqliteCore } from '../../src/store/sqlite/core.ts';
import { costOf } from './rollup-cost.ts';

const [engine, where] = process.argv.slice(2);
if (engine === 'sqlite') {
  const core = new SqliteCore({ path: where!, synchronous: 'normal' });
  const fns = analyticsSqlite(core) as unknown as Record<string, (...args: unknown[]) => unknown>;
  const rows = fns['analytics.pending']!(100_000) as RollupSource[];
  core.db.exec('PRAGMA cache_size = 1');
  core.db.exec('BEGIN IMMEDIATE');
  fns['analytics.apply']!(rows.map((r) => r.id), foldExchanges(rows, costOf), foldSeen(rows));
  process.stdout.write(`applied ${rows.length}\n`);
  process.kill(process.pid, 'SIGKILL');
} else if (engine === 'postgres') {
  // Waits without a deadline (the test kills it while it waits), so a loaded machine cannot time it out first.
  const store = await openStore(where!, { baseDir: tmpdir(), postgres: { pool_max: 2, connect_timeout_ms: 30_000, query_timeout_ms: 600_000, statement_timeout_ms: 0, idle_in_transaction_timeout_ms: 0, idle_timeout_ms: 30_000, keepalive_initial_delay_ms: 10_000 } });
  process.stdout.write('rolling\n');
  const n = await openAnalyticsRepo(store).roll(100_000, (rows) => foldExchanges(rows, costOf));
  process.stdout.write(`committed ${n}\n`);
  await store.close();
} else throw new TypeError(`unknown engine ${String(engine)}`);

// `npm run bench:analytics`: how fast the usage API answers when the rollups hold what BENCH_ANALYTICS_EXCHANGES
// (default 10 million) exchanges over 30 days produce — on SQLite and on PostgreSQL. The rollup rows are generated
// inside the database (recursive CTE / generate_series) with the shape such traffic gives: 1000 people in 50 groups,
// 20 service accounts, 12 models, 8 client tools; every person active every day, 30 % of them in a given hour, 5 %
// in a given minute (minute buckets kept 48 h). Queries go through the same repo and report code as the API.
import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { usageReport } from '../src/analytics/report.ts';
import { GRANULARITIES, type Dimension, type Granularity, type UsageQuery } from '../src/analytics/types.ts';
import { openAnalyticsRepo } from '../src/store/analytics-repo.ts';
import { openStore } from '../src/store/open.ts';
import type { Store } from '../src/store/ports.ts';
import { MEASURE_COLUMNS } from '../src/analytics/columns.ts';
import { startTestPostgres } from '../test/helpers/postgres.ts';

const EXCHANGES = Number(process.env.BENCH_ANALYTICS_EXCHANGES ?? 10_000_000);
const DAYS = 30;
const END = Date.UTC(2026, 11, 1);
/** Values per dimension, and the share of them active in one bucket of each granularity. */
const VALUES: Record<Dimension, number> = { all: 1, user: 1000, service_account: 20, group: 50, model: 12, provider: 3, endpoint: 4, client: 8, status: 6, refusal: 6, finding: 8 };
const ACTIVE: Record<Granularity, number> = { minute: 0.05, hour: 0.3, day: 1 };
const SPAN: Record<Granularity, number> = { minute: 2 * 86_400_000, hour: DAYS * 86_400_000, day: DAYS * 86_400_000 };

/**
 * Filters: none, each group (a tenth of every dimension's values shows up under one group), each model (a third).
 * Under a group filter the group dimension has one value; under a model filter the model dimension has one.
 */
function plan(): { g: Granularity; filter: string; dim: Dimension; values: number }[] {
  const out: { g: Granularity; filter: string; dim: Dimension; values: number }[] = [];
  const filters = ['', ...Array.from({ length: 50 }, (_, i) => `group=g${i}`), ...Array.from({ length: 12 }, (_, i) => `model=m${i}`)];
  for (const g of Object.keys(GRANULARITIES) as Granularity[]) {
    for (const f of filters) {
      const share = f === '' ? 1 : f.startsWith('group=') ? 0.1 : 0.3;
      for (const [dim, n] of Object.entries(VALUES) as [Dimension, number][]) {
        const one = (dim === 'group' && f.startsWith('group=')) || (dim === 'model' && f.startsWith('model='));
        out.push({ g, filter: f, dim, values: one ? 1 : Math.max(1, Math.round(n * share * (dim === 'user' ? ACTIVE[g] : 1))) });
      }
    }
  }
  return out;
}

const perBucket = (EXCHANGES / (DAYS * 1440));
async function fill(exec: (sql: string) => Promise<unknown>, engine: 'sqlite' | 'postgres'): Promise<void> {
  for (const p of plan()) {
    const size = GRANULARITIES[p.g];
    const buckets = Math.floor(SPAN[p.g] / size);
    const first = END - buckets * size;
    const req = Math.max(1, Math.round((perBucket * size / 60_000) / p.values));
    const measures = MEASURE_COLUMNS.map((c) => (c === 'requests' ? `${req}` : c === 'input_tokens' ? `${req * 900}` : c === 'output_tokens' ? `${req * 300}` : c === 'h5' ? `${req}` : c === 'latency_sum_ms' ? `${req * 180}` : '0'));
    const sql = engine === 'postgres'
      ? `INSERT INTO usage_rollups (granularity, bucket, filter, dim, value, ${MEASURE_COLUMNS.join(', ')})
         SELECT '${p.g}', ${first} + b::bigint * ${size}, '${p.filter}', '${p.dim}', '${p.dim}-' || v, ${measures.join(', ')}
         FROM generate_series(0, ${buckets - 1}) b, generate_series(1, ${p.values}) v`
      : `WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i < ${buckets - 1}), v(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM v WHERE j < ${p.values})
         INSERT INTO usage_rollups (granularity, bucket, filter, dim, value, ${MEASURE_COLUMNS.join(', ')})
         SELECT '${p.g}', ${first} + i * ${size}, '${p.filter}', '${p.dim}', '${p.dim}-' || j, ${measures.join(', ')} FROM b, v`;
    await exec(sql);
  }
}

const QUERIES: [string, Omit<UsageQuery, 'from' | 'to'>, number][] = [
  ['last 24 h by hour, top users', { granularity: 'hour', dim: 'user', filter: '' }, 86_400_000],
  ['last 7 d by hour, models', { granularity: 'hour', dim: 'model', filter: '' }, 7 * 86_400_000],
  ['last 30 d by day, top users', { granularity: 'day', dim: 'user', filter: '' }, 30 * 86_400_000],
  ['last 30 d by day, group g7 by user', { granularity: 'day', dim: 'user', filter: 'group=g7' }, 30 * 86_400_000],
  ['last 1 h by minute, total', { granularity: 'minute', dim: 'all', filter: '' }, 3_600_000],
  ['last 24 h by hour, model m3 by client', { granularity: 'hour', dim: 'client', filter: 'model=m3' }, 86_400_000],
];

async function measure(engine: string, store: Store, count: () => Promise<number>): Promise<void> {
  const repo = openAnalyticsRepo(store);
  console.log(`\n${engine}: ${(await count()).toLocaleString('en')} rollup rows for ${EXCHANGES.toLocaleString('en')} exchanges over ${DAYS} days`);
  for (const [label, q, span] of QUERIES) {
    const full: UsageQuery = { ...q, from: END - span, to: END };
    const times: number[] = [];
    let rows = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const totals = await repo.totals(full, 10);
      const series = await repo.query({ ...full, values: totals.map((x) => x.value) });
      usageReport(full, totals, series);
      times.push(performance.now() - t0);
      rows = series.length;
    }
    times.sort((a, b) => a - b);
    console.log(`  ${label.padEnd(40)} ${String(rows).padStart(7)} series rows  median ${times[2]!.toFixed(1)} ms  max ${times[4]!.toFixed(1)} ms`);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'pcl-bench-analytics-'));
const file = join(dir, 'a.db');
await (await openStore(`sqlite:${file}`, { baseDir: dir })).close(); // the schema, by the store's own migrations
// The rows are written with a connection of the bench's own (the store has no raw-SQL method), then the store reads.
const raw = new DatabaseSync(file);
let t0 = performance.now();
await fill(async (sql) => raw.exec(sql), 'sqlite');
raw.exec('ANALYZE');
const sqliteRows = Number((raw.prepare('SELECT count(*) AS n FROM usage_rollups').get() as { n: number }).n);
raw.close();
console.log(`sqlite: generated in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
const sqlite = await openStore(`sqlite:${file}`, { baseDir: dir });
await measure('sqlite', sqlite, async () => sqliteRows);
await sqlite.close();
rmSync(dir, { recursive: true, force: true });

const pg = await startTestPostgres();
const pgStore = await openStore(pg.url, { baseDir: tmpdir() });
const q = (pgStore as unknown as { query(sql: string): Promise<{ rows: { n: string }[] }> }).query.bind(pgStore);
t0 = performance.now();
await fill(q, 'postgres');
await q('ANALYZE usage_rollups');
console.log(`postgres: generated in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
await measure('postgres', pgStore, async () => Number((await q('SELECT count(*) AS n FROM usage_rollups')).rows[0]!.n));
await pgStore.close();
await pg.stop();

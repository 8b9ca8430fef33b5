import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { foldExchanges, latencyBucket } from '../../src/analytics/fold.ts';
import { DIMENSIONS, GRANULARITIES, type AnalyticsRepo, type Dimension, type Granularity, type RollupDelta } from '../../src/analytics/types.ts';
import { openAnalyticsRepo } from '../../src/store/analytics-repo.ts';
import { openStore } from '../../src/store/open.ts';
import type { ExchangeFinish, ExchangeStart, Store } from '../../src/store/ports.ts';
import { eventually } from '../helpers/gateway.ts';
import { analyticsEngines, pgQuery, rng } from './engines.ts';
import { costOf } from './rollup-cost.ts';

/**
 * Rollup correctness (issue #15): random traffic recorded through the store, folded by the roller in small
 * batches, equals a full recount of the records for every granularity, dimension and filter (and the identities
 * seen: per identity and client tool, first and last seen, requests) — on both engines,
 * after a roll that fails half-way, after a roller process killed inside its transaction, and (PostgreSQL) with two
 * replicas rolling the same table at once.
 */


const T0 = Date.UTC(2026, 10, 30, 22, 0, 0);

interface Generated { start: ExchangeStart; finish: ExchangeFinish | undefined }

function generate(seed: number, n: number): Generated[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const people = [
    { subject: 'alice', kind: 'user', groups: ['eng', 'ml'] },
    { subject: 'bob', kind: 'user', groups: ['eng'] },
    { subject: 'carol', kind: 'user', groups: [] },
    { subject: 'ci-deploy', kind: 'service', groups: ['ci'] },
  ];
  const uas = ['OpenAI/JS 6.1.0', 'Anthropic/JS 0.60.0', 'claude-cli/2.0.1 (external, cli)', 'codex_cli_rs/0.40.0', 'curl/8.5.0', null];
  const out: Generated[] = [];
  for (let i = 0; i < n; i++) {
    const who = pick(people);
    const startedAt = T0 + Math.floor(r() * 3 * 86_400_000);
    const status = pick(['completed', 'completed', 'completed', 'rejected', 'upstream_error', 'failed', 'incomplete', 'client_aborted'] as const);
    const findings = Array.from({ length: Math.floor(r() * 3) }, () => ({ type: pick(['EMAIL_ADDRESS', 'CREDIT_CARD', 'SECRET_AWS_KEY']), action: 'mask' }));
    const start: ExchangeStart = {
      id: `ex_${String(i).padStart(6, '0')}_${seed}`, startedAt, subject: who.subject,
      principal: { authMethod: 'api_key', credentialId: 'k', displayName: who.subject, groups: who.groups, kind: who.kind },
      endpoint: pick(['openai.chat', 'openai.responses', 'anthropic.messages']), method: 'POST', path: '/v1/x',
      model: pick(['gpt-4o', 'gpt-4o-mini', 'claude-sonnet', 'llama']), provider: pick(['openai', 'anthropic', 'local']), upstreamModel: null,
      stream: r() < 0.5, clientIp: null, userAgent: pick(uas), decision: null, findings, clientRequest: null, upstreamRequest: null,
    };
    const finished = r() < 0.95;
    const usage = status === 'completed' ? { inputTokens: Math.floor(r() * 2000), outputTokens: Math.floor(r() * 500), totalTokens: null } : { inputTokens: null, outputTokens: null, totalTokens: null };
    const totalMs = r() < 0.9 ? Math.floor(r() ** 3 * 200_000) : null;
    out.push({
      start,
      finish: finished ? {
        id: start.id, finishedAt: startedAt + (totalMs ?? 0), status, httpStatus: status === 'rejected' ? 403 : 200,
        errorCode: status === 'rejected' ? pick(['policy_denied', 'content_blocked', 'budget_exceeded']) : status === 'completed' ? null : 'upstream_status_500',
        timings: { upstreamFirstByteMs: null, clientFirstByteMs: null, totalMs }, usage, response: null, eventCount: 0,
        responseFindings: r() < 0.2 ? [{ type: 'PHONE_NUMBER', action: 'redact' }] : [], forwarded: status !== 'rejected',
      } : undefined,
    });
  }
  return out;
}

async function record(store: Store, xs: Generated[]): Promise<void> {
  for (const x of xs) {
    if (x.finish?.status === 'rejected') await store.exchanges.recordRejected(x.start, x.finish);
    else {
      await store.exchanges.start(x.start);
      if (x.finish) await store.exchanges.finish(x.finish);
    }
  }
}

function clientOf(userAgent: string | null): string {
  const ua = userAgent ?? '';
  return ua.startsWith('OpenAI/JS') ? 'openai-js' : ua.startsWith('Anthropic/JS') ? 'anthropic-js' : ua.startsWith('claude-cli') ? 'claude-code' : ua.startsWith('codex') ? 'codex' : ua.startsWith('curl') ? 'curl' : 'unknown';
}

/** Identities seen, recounted: per subject and client tool, requests, first and last start, kind and groups. */
function seenRecount(xs: Generated[]): Map<string, { kind: string; groups: string[]; first: number; last: number; requests: number }> {
  const out = new Map<string, { kind: string; groups: string[]; first: number; last: number; requests: number }>();
  for (const { start: s, finish: f } of xs) {
    if (!f) continue;
    const p = s.principal as { groups: string[]; kind: string };
    const key = `${s.subject}|${clientOf(s.userAgent)}`;
    const m = out.get(key) ?? { kind: p.kind, groups: p.groups, first: s.startedAt, last: s.startedAt, requests: 0 };
    m.requests++;
    m.first = Math.min(m.first, s.startedAt);
    m.last = Math.max(m.last, s.startedAt);
    out.set(key, m);
  }
  return out;
}

/** The straightforward recount: per exchange, does it belong under (filter, dim, value)? Then add it up. */
function recount(xs: Generated[], g: Granularity, filter: string, dim: Dimension): Map<string, { requests: number; input: number; output: number; cost: number; refused: number; errors: number; findings: number; hist: number[] }> {
  const size = GRANULARITIES[g];
  const out = new Map<string, { requests: number; input: number; output: number; cost: number; refused: number; errors: number; findings: number; hist: number[] }>();
  for (const { start: s, finish: f } of xs) {
    if (!f) continue;
    const p = s.principal as { groups: string[]; kind: string };
    if (filter.startsWith('group=') && !p.groups.includes(filter.slice(6))) continue;
    if (filter.startsWith('model=') && s.model !== filter.slice(6)) continue;
    const allFindings = [...s.findings, ...f.responseFindings].map((x) => String(x.type));
    const values: [string, number][] = [];
    const client = clientOf(s.userAgent);
    switch (dim) {
      case 'all': values.push(['', allFindings.length]); break;
      case 'user': if (p.kind !== 'service') values.push([s.subject!, allFindings.length]); break;
      case 'service_account': if (p.kind === 'service') values.push([s.subject!, allFindings.length]); break;
      case 'group': for (const x of p.groups) values.push([x, allFindings.length]); break;
      case 'model': values.push([s.model!, allFindings.length]); break;
      case 'provider': values.push([s.provider!, allFindings.length]); break;
      case 'endpoint': values.push([s.endpoint, allFindings.length]); break;
      case 'client': values.push([client, allFindings.length]); break;
      case 'status': values.push([f.status, allFindings.length]); break;
      case 'refusal': if (f.status === 'rejected') values.push([f.errorCode!, allFindings.length]); break;
      case 'finding': for (const t of new Set(allFindings)) values.push([t, allFindings.filter((x) => x === t).length]); break;
    }
    for (const [value, findings] of values) {
      const key = `${s.startedAt - (s.startedAt % size)}|${value}`;
      let m = out.get(key);
      if (!m) out.set(key, (m = { requests: 0, input: 0, output: 0, cost: 0, refused: 0, errors: 0, findings: 0, hist: new Array<number>(15).fill(0) }));
      m.requests++;
      m.input += f.usage.inputTokens ?? 0;
      m.output += f.usage.outputTokens ?? 0;
      m.cost += f.usage.inputTokens || f.usage.outputTokens ? costOf(s.model!, f.usage.inputTokens ?? 0, f.usage.outputTokens ?? 0) : 0;
      m.refused += f.status === 'rejected' ? 1 : 0;
      m.errors += ['upstream_error', 'failed', 'incomplete', 'client_aborted'].includes(f.status) ? 1 : 0;
      m.findings += findings;
      if (f.timings.totalMs !== null) m.hist[latencyBucket(f.timings.totalMs)]!++;
    }
  }
  return out;
}

async function assertEqualsRecount(repo: AnalyticsRepo, xs: Generated[], label: string): Promise<void> {
  const filters = ['', 'group=eng', 'group=ci', 'model=gpt-4o'];
  let compared = 0;
  for (const g of ['minute', 'hour', 'day'] as Granularity[]) {
    for (const filter of filters) {
      for (const dim of DIMENSIONS) {
        const rows = await repo.query({ granularity: g, filter, dim, from: 0, to: T0 + 10 * 86_400_000 });
        const want = recount(xs, g, filter, dim);
        const got = new Map(rows.map((r: RollupDelta) => [`${r.bucket}|${r.value}`, {
          requests: r.requests, input: r.inputTokens, output: r.outputTokens, cost: r.costMicros, refused: r.refused, errors: r.errors, findings: r.findings, hist: r.latencyHist,
        }]));
        const differing = [...new Set([...got.keys(), ...want.keys()])].filter((k) => JSON.stringify(got.get(k)) !== JSON.stringify(want.get(k)));
        assert.deepEqual(differing.slice(0, 3).map((k) => ({ cell: k, got: got.get(k), want: want.get(k) })), [], `${label}: ${g} filter='${filter}' by ${dim}: ${differing.length} cells differ`);
        compared += want.size;
      }
    }
  }
  assert.ok(compared > 1000, `${label}: the recount covered ${compared} cells`);
  const seen = new Map((await repo.seen(10_000)).map((r) => [`${r.subject}|${r.client}`, { kind: r.kind, groups: r.groups, first: r.firstSeen, last: r.lastSeen, requests: r.requests }]));
  assert.deepEqual(Object.fromEntries(seen), Object.fromEntries(seenRecount(xs)), `${label}: identities seen`);
}

async function roll(repo: AnalyticsRepo, batch: number): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await repo.roll(batch, (rows) => foldExchanges(rows, costOf));
    total += n;
    if (n === 0) return total;
  }
}

/** A fold that fails part-way through applying: the last delta cannot be stored (NULL in a NOT NULL column). */
function poisoned(rows: Parameters<typeof foldExchanges>[0]): RollupDelta[] {
  const deltas = foldExchanges(rows, costOf);
  return [...deltas, { ...deltas[0]!, value: 'poison', requests: null as unknown as number }];
}

function conformance(engine: string, open: () => Promise<{ store: Store; stop: () => Promise<void> }>): void {
  describe(`usage rollups: ${engine}`, () => {
    test('random traffic in batches equals a full recount; unfinished exchanges wait for their finish', async () => {
      const { store, stop } = await open();
      try {
        const repo = openAnalyticsRepo(store);
        const xs = generate(engine === 'sqlite' ? 11 : 12, 400);
        await record(store, xs);
        const finished = xs.filter((x) => x.finish).length;
        assert.equal(await repo.backlog(), finished);
        assert.equal(await roll(repo, 37), finished);
        assert.equal(await repo.backlog(), 0);
        await assertEqualsRecount(repo, xs, 'after rolling');
        // Totals over the range, summed by the store: the top values by requests, equal to the recount's sums.
        for (const dim of ['user', 'model', 'finding'] as Dimension[]) {
          const want = new Map<string, number>();
          for (const [k, m] of recount(xs, 'hour', '', dim)) want.set(k.split('|')[1]!, (want.get(k.split('|')[1]!) ?? 0) + m.requests);
          const top = [...want.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 3);
          const got = await repo.totals({ granularity: 'hour', filter: '', dim, from: 0, to: T0 + 10 * 86_400_000 }, 3);
          assert.deepEqual(got.map((t) => [t.value, t.requests]), top, `totals by ${dim}`);
        }
        // Those still in progress finish now and are folded in once, on the next roll.
        for (const x of xs.filter((y) => !y.finish)) {
          x.finish = { id: x.start.id, finishedAt: x.start.startedAt + 5, status: 'completed', httpStatus: 200, errorCode: null, timings: { upstreamFirstByteMs: null, clientFirstByteMs: null, totalMs: 7 }, usage: { inputTokens: 10, outputTokens: 1, totalTokens: 11 }, response: null, eventCount: 0, responseFindings: [], forwarded: true };
          await store.exchanges.finish(x.finish);
        }
        assert.equal(await roll(repo, 37), xs.length - finished);
        await assertEqualsRecount(repo, xs, 'after the late finishes');
        assert.equal(await roll(repo, 37), 0, 'nothing is folded twice');
      } finally {
        await stop();
      }
    });

    test('a roll that fails half-way changes nothing; the next roll counts those exchanges exactly once', async () => {
      const { store, stop } = await open();
      try {
        const repo = openAnalyticsRepo(store);
        const xs = generate(engine === 'sqlite' ? 21 : 22, 150).filter((x) => x.finish);
        await record(store, xs);
        await assert.rejects(repo.roll(50, poisoned));
        assert.equal(await repo.backlog(), xs.length, 'no exchange was marked rolled');
        assert.deepEqual(await repo.query({ granularity: 'day', filter: '', dim: 'all', from: 0, to: T0 + 10 * 86_400_000 }), [], 'no delta was kept');
        assert.deepEqual(await repo.seen(100), [], 'no identity seen was kept (written before the delta that failed)');
        await roll(repo, 50);
        await assertEqualsRecount(repo, xs, 'after the failed roll');
      } finally {
        await stop();
      }
    });
  });
}

// Each test on its own data: a fresh SQLite file, or the tables emptied (the PostgreSQL database is the file's own).
const engines = analyticsEngines({ prefix: 'pcl-rollup-', tables: 'exchanges, usage_rollups, identities_seen' });
const pgServer = engines.pgServer;
conformance('sqlite', engines.sqlite);
conformance('postgres', engines.postgres);

test('postgres: two replicas rolling the same exchanges at once fold each exactly once', async () => {
  const server = await pgServer;
  const a = await openStore(server.url, { baseDir: tmpdir() });
  const b = await openStore(server.url, { baseDir: tmpdir() });
  try {
    await pgQuery(a, 'TRUNCATE exchanges, usage_rollups, identities_seen CASCADE');
    const xs = generate(31, 600).filter((x) => x.finish);
    await record(a, xs);
    const [na, nb] = await Promise.all([roll(openAnalyticsRepo(a), 25), roll(openAnalyticsRepo(b), 25)]);
    assert.equal(na + nb, xs.length);
    assert.ok(na > 0 && nb > 0, `both replicas took part (${na} + ${nb})`);
    await assertEqualsRecount(openAnalyticsRepo(b), xs, 'two rollers');
  } finally {
    await a.close();
    await b.close();
  }
});

/** After a killed roller: nothing of its transaction is left, and the next rolls count every exchange once. */
async function assertNothingKeptThenRecount(repo: AnalyticsRepo, xs: Generated[]): Promise<void> {
  assert.equal(await repo.backlog(), xs.length, 'no exchange is marked rolled');
  assert.deepEqual(await repo.query({ granularity: 'day', filter: '', dim: 'all', from: 0, to: T0 + 10 * 86_400_000 }), [], 'no delta was kept');
  assert.deepEqual(await repo.seen(100), [], 'no identity seen was kept');
  assert.equal(await roll(repo, 64), xs.length);
  await assertEqualsRecount(repo, xs, 'after the killed roller');
}

/** Runs test/analytics/crashing-roller.ts; resolves with its output and how it ended. */
function crashingRoller(engine: string, where: string, onOutput?: (text: string) => void): { done: Promise<{ out: string; signal: NodeJS.Signals | null }>; kill(): void } {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'crashing-roller.ts'), engine, where], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); onOutput?.(out); });
  child.stderr.on('data', (b: Buffer) => { out += b.toString(); onOutput?.(out); });
  return {
    done: new Promise((resolve) => child.on('exit', (_code, signal) => resolve({ out, signal }))),
    kill: () => child.kill('SIGKILL'),
  };
}

test('sqlite: a roller killed inside its transaction leaves nothing; the next roll counts every exchange once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-rollup-crash-'));
  const path = join(dir, 'r.db');
  const store = await openStore(`sqlite:${path}`, { baseDir: dir });
  try {
    const xs = generate(41, 300).filter((x) => x.finish);
    await record(store, xs);
    const repo = openAnalyticsRepo(store);
    const { out, signal } = await crashingRoller('sqlite', path).done;
    assert.equal(signal, 'SIGKILL', out);
    assert.match(out, new RegExp(`applied ${xs.length}`), 'it marked and wrote the whole batch before it died');
    await assertNothingKeptThenRecount(repo, xs);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('postgres: a roller killed while inside its transaction leaves nothing; the next roll counts every exchange once', async () => {
  const server = await pgServer;
  const store = await openStore(server.url, { baseDir: tmpdir() });
  // One connection holds the conflicting row; another watches (a transaction sees one snapshot of pg_stat_activity).
  const blocker = new pg.Client({ connectionString: server.url });
  const watcher = new pg.Client({ connectionString: server.url });
  await blocker.connect();
  await watcher.connect();
  try {
    await pgQuery(store, 'TRUNCATE exchanges, usage_rollups, identities_seen CASCADE');
    const xs = generate(42, 300).filter((x) => x.finish);
    await record(store, xs);
    const repo = openAnalyticsRepo(store);
    // An uncommitted row under a key the roll must write: its upsert waits for this transaction, inside its own.
    const day = xs[0]!.start.startedAt - (xs[0]!.start.startedAt % GRANULARITIES.day);
    await blocker.query('BEGIN');
    await blocker.query(`INSERT INTO usage_rollups (granularity, bucket, filter, dim, value) VALUES ('day', $1, '', 'all', '')`, [day]);
    let output = '';
    const child = crashingRoller('postgres', server.url, (o) => { output = o; });
    const waiting = await eventually(async () => {
      const r = await watcher.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO usage_rollups%'`);
      return r.rows[0]?.pid;
    }, 60_000).catch(async (err: unknown) => {
      const r = await watcher.query('SELECT pid, state, wait_event_type, left(query, 60) AS q FROM pg_stat_activity WHERE datname = current_database()');
      throw new Error(`the roller never waited inside its transaction; roller: ${output}; backends: ${JSON.stringify(r.rows)}`, { cause: err });
    });
    // It has claimed the exchanges and written the identities seen; it is blocked in the rollups' upsert. Kill it.
    child.kill();
    const { out, signal } = await child.done;
    assert.equal(signal, 'SIGKILL', out);
    assert.doesNotMatch(out, /committed/);
    await blocker.query('ROLLBACK');
    // The server ends the dead client's backend (and its transaction) once it finds the connection gone.
    await eventually(async () => ((await watcher.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [waiting])).rowCount === 0 ? true : undefined), 60_000);
    await assertNothingKeptThenRecount(repo, xs);
  } finally {
    await blocker.end();
    await watcher.end();
    await store.close();
  }
});

import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { foldApprovals, histBucket } from '../../src/analytics/fold.ts';
import { percentile } from '../../src/analytics/report.ts';
import { DECISION_BOUNDS_MS, DECISION_BUCKETS, GRANULARITIES, type AnalyticsRepo, type Dimension, type Granularity } from '../../src/analytics/types.ts';
import type { ApprovalRepo, ApprovalRow } from '../../src/approvals/repo.ts';
import type { ApprovalState } from '../../src/approvals/state.ts';
import { openAnalyticsRepo } from '../../src/store/analytics-repo.ts';
import { openApprovalRepo } from '../../src/store/approval-repo.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/ports.ts';
import { analyticsEngines, pgQuery, rng } from './engines.ts';

/**
 * Approvals in the usage rollups (issue #15 item 1): random approvals created and decided through the approval
 * repo, with rolls in between (requests folded while pending, outcomes later), equal a full recount of the approval
 * rows for every granularity, dimension and filter that applies — on both engines, and (PostgreSQL) with two
 * replicas rolling at once. Each approval is counted once as requested and once by its outcome.
 */


const T0 = Date.UTC(2026, 10, 30, 22, 0, 0);
const PEOPLE = [{ subject: 'alice', groups: ['eng', 'ml'] }, { subject: 'bob', groups: ['eng'] }, { subject: 'carol', groups: [] as string[] }];

/** The path an approval takes after creation (each step a compare-and-set transition, as the service makes them). */
type Path = 'stay' | 'approve' | 'deny' | 'expire' | 'cancel' | 'approve-execute' | 'approve-expire' | 'break-glass';
const PATHS: Path[] = ['stay', 'approve', 'deny', 'expire', 'cancel', 'approve-execute', 'approve-expire', 'break-glass'];

interface Planned { row: ApprovalRow; path: Path; decideAfterMs: number }

function generate(seed: number, n: number): Planned[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  return Array.from({ length: n }, (_, i) => {
    const who = pick(PEOPLE);
    const createdAt = T0 + Math.floor(r() * 3 * 86_400_000);
    const path = pick(PATHS);
    const row: ApprovalRow = {
      id: `apr_${String(i).padStart(6, '0')}_${seed}`, state: 'pending', ruleId: 'r1', mode: 'hold', scope: 'request', requester: who.subject,
      requesterName: who.subject, requesterGroups: who.groups, endpoint: pick(['openai.chat', 'anthropic.messages']), model: pick(['gpt-4o', 'claude-sonnet']),
      policyVersion: null, decisionId: null, exchangeId: `ex_${i}`, digest: `d${i}`, approverGroups: ['sec'], quorum: 1, eachGroup: false, windowMs: null,
      justification: null, breakGlass: path === 'break-glass', findings: [], sealedRequest: null, createdAt, updatedAt: createdAt,
      expiresAt: createdAt + 86_400_000, decidedAt: null, decidedBy: null, reason: null,
    };
    // Decision times spread over the histogram (seconds to days), some beyond its last bound.
    return { row, path, decideAfterMs: path === 'break-glass' ? 0 : Math.floor(r() ** 2 * 400_000_000) };
  });
}

async function create(repo: ApprovalRepo, xs: Planned[]): Promise<void> {
  for (const { row } of xs) await repo.create(row, { approvalId: row.id, at: row.createdAt, actor: row.requester, action: 'created', from: null, to: 'pending', reason: null });
}

async function decide(repo: ApprovalRepo, xs: Planned[]): Promise<void> {
  for (const x of xs) {
    const at = x.row.createdAt + x.decideAfterMs;
    const move = async (from: ApprovalState, to: ApprovalState, when: number): Promise<void> => {
      assert.ok(await repo.transition({ id: x.row.id, from: [from], to, at: when, actor: to === 'expired' ? 'system' : 'dave', reason: null }), `${x.row.id} ${from} → ${to}`);
    };
    if (x.path === 'approve' || x.path === 'approve-execute' || x.path === 'approve-expire' || x.path === 'break-glass') await move('pending', 'approved', at);
    if (x.path === 'approve-execute') await move('approved', 'executed', at + 1000);
    if (x.path === 'approve-expire') await move('approved', 'expired', at + 5000);
    if (x.path === 'deny') await move('pending', 'denied', at);
    if (x.path === 'expire') await move('pending', 'expired', at);
    if (x.path === 'cancel') await move('pending', 'cancelled', at);
  }
}

interface Counts { requested: number; approved: number; denied: number; expired: number; cancelled: number; sum: number; hist: number[] }

/** The straightforward recount from the planned approvals (what happened), `decided` = whether decisions were made yet. */
function recount(xs: Planned[], decided: boolean, g: Granularity, filter: string, dim: Dimension): Map<string, Counts> {
  const size = GRANULARITIES[g];
  const out = new Map<string, Counts>();
  for (const { row, path, decideAfterMs } of xs) {
    if (filter.startsWith('group=') && !row.requesterGroups.includes(filter.slice(6))) continue;
    if (filter.startsWith('model=') && row.model !== filter.slice(6)) continue;
    const values = dim === 'all' ? [''] : dim === 'user' ? [row.requester] : dim === 'group' ? row.requesterGroups : dim === 'model' ? [row.model] : dim === 'endpoint' ? [row.endpoint] : [];
    for (const value of values) {
      const key = `${row.createdAt - (row.createdAt % size)}|${value}`;
      let c = out.get(key);
      if (!c) out.set(key, (c = { requested: 0, approved: 0, denied: 0, expired: 0, cancelled: 0, sum: 0, hist: new Array<number>(DECISION_BUCKETS).fill(0) }));
      c.requested++;
      if (!decided || path === 'stay') continue;
      if (path === 'deny') c.denied++;
      else if (path === 'expire') c.expired++;
      else if (path === 'cancel') c.cancelled++;
      else c.approved++;
      if (['approve', 'approve-execute', 'approve-expire', 'deny'].includes(path)) {
        c.sum += decideAfterMs;
        c.hist[histBucket(decideAfterMs, DECISION_BOUNDS_MS)]!++;
      }
    }
  }
  return out;
}

async function assertEqualsRecount(repo: AnalyticsRepo, xs: Planned[], decided: boolean, label: string): Promise<void> {
  let compared = 0;
  for (const g of ['minute', 'hour', 'day'] as Granularity[]) {
    for (const filter of ['', 'group=eng', 'group=ml', 'model=gpt-4o']) {
      for (const dim of ['all', 'user', 'group', 'model', 'endpoint'] as Dimension[]) {
        const rows = await repo.query({ granularity: g, filter, dim, from: 0, to: T0 + 10 * 86_400_000 });
        const want = recount(xs, decided, g, filter, dim);
        const got = new Map(rows.map((r) => [`${r.bucket}|${r.value}`, {
          requested: r.approvalsRequested, approved: r.approvalsApproved, denied: r.approvalsDenied, expired: r.approvalsExpired, cancelled: r.approvalsCancelled, sum: r.decisionSumMs, hist: r.decisionHist,
        }]));
        const differing = [...new Set([...got.keys(), ...want.keys()])].filter((k) => JSON.stringify(got.get(k)) !== JSON.stringify(want.get(k)));
        assert.deepEqual(differing.slice(0, 3).map((k) => ({ cell: k, got: got.get(k), want: want.get(k) })), [], `${label}: ${g} filter='${filter}' by ${dim}: ${differing.length} cells differ`);
        for (const r of rows) assert.equal(r.requests, 0, 'an approval is not an exchange');
        compared += want.size;
      }
    }
  }
  assert.ok(compared > 1000, `${label}: the recount covered ${compared} cells`);
}

async function rollAll(repo: AnalyticsRepo, batch: number): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await repo.rollApprovals(batch, foldApprovals);
    total += n;
    if (n === 0) return total;
  }
}

function conformance(engine: string, open: () => Promise<{ store: Store; stop: () => Promise<void> }>): void {
  describe(`approval rollups: ${engine}`, () => {
    test('random approvals, rolled while pending and again once decided, equal a full recount; nothing is folded twice', async () => {
      const { store, stop } = await open();
      try {
        const analytics = openAnalyticsRepo(store);
        const approvals = openApprovalRepo(store);
        const xs = generate(engine === 'sqlite' ? 41 : 42, 300);
        // Half are created and rolled while pending; the rest are created, then everything is decided.
        await create(approvals, xs.slice(0, 150));
        assert.equal(await rollAll(analytics, 23), 150);
        await assertEqualsRecount(analytics, xs.slice(0, 150), false, 'while pending');
        await create(approvals, xs.slice(150));
        await decide(approvals, xs);
        // The first half moves 1 → 2 (outcome only), the second 0 → 2 (request and outcome) — except those still pending.
        const stay = xs.filter((x) => x.path === 'stay');
        assert.equal(await rollAll(analytics, 23), 300 - stay.filter((x) => xs.indexOf(x) < 150).length);
        await assertEqualsRecount(analytics, xs, true, 'after the decisions');
        assert.equal(await rollAll(analytics, 23), 0, 'nothing is folded twice');
        // The API view: mean and percentiles of the time to decision from the same histogram.
        const [all] = await analytics.totals({ granularity: 'day', filter: '', dim: 'all', from: 0, to: T0 + 10 * 86_400_000 }, 1);
        const decidedTimes = xs.filter((x) => ['approve', 'approve-execute', 'approve-expire', 'deny'].includes(x.path)).map((x) => x.decideAfterMs);
        assert.equal(all!.approvalsRequested, 300);
        assert.equal(all!.decisionSumMs, decidedTimes.reduce((a, b) => a + b, 0));
        const sorted = [...decidedTimes].sort((a, b) => a - b);
        const p50 = sorted[Math.ceil(0.5 * sorted.length) - 1]!;
        assert.equal(percentile(all!.decisionHist, 0.5, DECISION_BOUNDS_MS), DECISION_BOUNDS_MS[histBucket(p50, DECISION_BOUNDS_MS)] ?? null);
      } finally {
        await stop();
      }
    });

    test('a roll that fails half-way changes nothing; the next roll counts those approvals exactly once', async () => {
      const { store, stop } = await open();
      try {
        const analytics = openAnalyticsRepo(store);
        const approvals = openApprovalRepo(store);
        const xs = generate(engine === 'sqlite' ? 51 : 52, 120);
        await create(approvals, xs);
        await decide(approvals, xs);
        const poisoned = (rows: Parameters<typeof foldApprovals>[0]): ReturnType<typeof foldApprovals> => {
          const deltas = foldApprovals(rows);
          return [...deltas, { ...deltas[0]!, value: 'poison', approvalsRequested: null as unknown as number }];
        };
        await assert.rejects(analytics.rollApprovals(50, poisoned));
        assert.deepEqual(await analytics.query({ granularity: 'day', filter: '', dim: 'all', from: 0, to: T0 + 10 * 86_400_000 }), [], 'no delta was kept');
        assert.equal(await rollAll(analytics, 50), 120, 'every approval is still to be folded');
        await assertEqualsRecount(analytics, xs, true, 'after the failed roll');
      } finally {
        await stop();
      }
    });
  });
}

const engines = analyticsEngines({ prefix: 'pcl-apr-rollup-', tables: 'approvals, usage_rollups' });
const pgServer = engines.pgServer;
const truncate = (s: Store): Promise<unknown> => pgQuery(s, 'TRUNCATE approvals, usage_rollups CASCADE');
conformance('sqlite', engines.sqlite);
conformance('postgres', engines.postgres);

test('postgres: two replicas rolling the same approvals at once fold each exactly once', async () => {
  const server = await pgServer;
  const a = await openStore(server.url, { baseDir: tmpdir() });
  const b = await openStore(server.url, { baseDir: tmpdir() });
  try {
    await truncate(a);
    const xs = generate(61, 400);
    await create(openApprovalRepo(a), xs);
    await decide(openApprovalRepo(a), xs);
    const [na, nb] = await Promise.all([rollAll(openAnalyticsRepo(a), 20), rollAll(openAnalyticsRepo(b), 20)]);
    assert.equal(na + nb, 400);
    assert.ok(na > 0 && nb > 0, `both replicas took part (${na} + ${nb})`);
    await assertEqualsRecount(openAnalyticsRepo(b), xs, true, 'two rollers');
  } finally {
    await a.close();
    await b.close();
  }
});

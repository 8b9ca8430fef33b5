import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { AlertRuleConfig } from '../../src/alerts/config-schema.ts';
import { compileRules, hitsOf } from '../../src/alerts/rules.ts';
import type { AlertRepo } from '../../src/alerts/types.ts';
import { openAlertRepo } from '../../src/store/alerts-repo.ts';
import { openStore } from '../../src/store/open.ts';
import type { ExchangeFinish, ExchangeStart, Store } from '../../src/store/ports.ts';
import { startTestPostgres } from '../helpers/postgres.ts';

/**
 * The alert store on both engines (one suite): each exchange evaluated once, a firing inserted once per rule +
 * subject + window, suspensions and the investigation lifecycle; on PostgreSQL, two stores on one database racing
 * the same firing insert it once.
 */
const RULES: AlertRuleConfig[] = [
  { id: 'refusals', kind: 'refusals', threshold: 3, window_minutes: 10, severity: 'high', respond: 'suspend' },
  { id: 'tool', kind: 'new_client', severity: 'low', respond: 'none' },
];
const compiled = compileRules(RULES);
let seq = 0;

function refused(subject: string, at: number, userAgent = 'OpenAI/JS 6.1.0'): [ExchangeStart, ExchangeFinish] {
  const id = `ex_${String(++seq).padStart(8, '0')}_${subject.replace(/\W/g, '')}`;
  return [
    {
      id, startedAt: at, subject, principal: { authMethod: 'api_key', credentialId: `key-${subject}`, displayName: subject, groups: ['eng'], kind: 'user' },
      endpoint: 'openai.chat', method: 'POST', path: '/v1/chat/completions', model: 'gpt-4o', provider: 'openai', upstreamModel: null, stream: false,
      clientIp: '10.0.0.1', userAgent, decision: null, findings: [], clientRequest: null, upstreamRequest: null,
    },
    {
      id, finishedAt: at, status: 'rejected', httpStatus: 403, errorCode: 'policy_denied', timings: { upstreamFirstByteMs: null, clientFirstByteMs: null, totalMs: 1 },
      usage: { inputTokens: null, outputTokens: null, totalTokens: null }, response: null, eventCount: 0, responseFindings: [], forwarded: false,
    },
  ];
}

async function record(store: Store, subject: string, n: number, at: number, ua?: string): Promise<void> {
  for (let i = 0; i < n; i++) await store.exchanges.recordRejected(...refused(subject, at + i, ua));
}

const evaluate = (repo: AlertRepo, now: number, limit = 100) => repo.evaluate(limit, compiled, (rows) => hitsOf({ rules: RULES, rows, costOf: () => 0, now }), now);

function suite(engine: string, open: () => Promise<Store>): void {
  describe(`alert store: ${engine}`, () => {
    const now = Date.now();
    test('each exchange is evaluated once; a threshold opens one investigation that links its exchanges and suspends', async () => {
      const store = await open();
      try {
        const repo = openAlertRepo(store);
        await record(store, 'user:alice', 2, now - 5000);
        assert.deepEqual((await evaluate(repo, now)).opened, [], 'two refusals: below the threshold');
        await record(store, 'user:alice', 1, now - 1000);
        await record(store, 'user:bob', 1, now - 1000);
        const r = await evaluate(repo, now);
        assert.equal(r.evaluated, 2, 'only the new exchanges were evaluated');
        assert.equal(r.opened.length, 1);
        const inv = r.opened[0]!;
        assert.equal(inv.ruleId, 'refusals');
        assert.equal(inv.identity, 'user:alice');
        assert.equal(inv.exchangeIds.length, 3);
        assert.match(inv.summary, /3 refusals by user:alice within 10 min/);
        assert.deepEqual((await repo.suspensions()).map((s) => s.identity), ['user:alice']);
        assert.deepEqual(await evaluate(repo, now), { evaluated: 0, opened: [] }, 'nothing left to evaluate');
        // More refusals right after: the count restarted, two more are not a new burst.
        await record(store, 'user:alice', 2, now - 500);
        assert.deepEqual((await evaluate(repo, now)).opened, []);
        assert.equal(await repo.lift('user:alice', 'user:admin', now), true);
        assert.equal(await repo.lift('user:alice', 'user:admin', now), false, 'lifting twice changes nothing');
        assert.deepEqual(await repo.suspensions(), []);
      } finally {
        await store.close();
      }
    });

    test('respond require_approval keeps the mode and approvers; a later approval firing never weakens a suspension', async () => {
      const rules: AlertRuleConfig[] = [
        { id: 'held', kind: 'refusals', threshold: 2, window_minutes: 10, severity: 'medium', respond: 'require_approval', approvers: ['sec', 'oncall'] },
        { id: 'refusals', kind: 'refusals', threshold: 3, window_minutes: 10, severity: 'high', respond: 'suspend' },
      ];
      const rulesCompiled = compileRules(rules);
      const evaluateBoth = (repo: AlertRepo) => repo.evaluate(100, rulesCompiled, (rows) => hitsOf({ rules, rows, costOf: () => 0, now }), now);
      const store = await open();
      try {
        const repo = openAlertRepo(store);
        const modes = async () => (await repo.suspensions()).map((x) => `${x.identity} ${x.mode} [${x.approvers.join(',')}]`);
        await record(store, 'user:carol', 2, now - 5000);
        assert.deepEqual((await evaluateBoth(repo)).opened.map((f) => `${f.ruleId} ${f.response}`), ['held require_approval']);
        assert.deepEqual(await modes(), ['user:carol require_approval [sec,oncall]']);
        assert.equal((await repo.list({ identity: 'user:carol', limit: 10 }))[0]!.response, 'require_approval', 'the investigation row keeps the response');
        await record(store, 'user:carol', 1, now - 4000);
        assert.deepEqual((await evaluateBoth(repo)).opened.map((f) => f.ruleId), ['refusals']);
        assert.deepEqual(await modes(), ['user:carol suspend []'], 'a suspension replaces the approval requirement');
        await record(store, 'user:carol', 2, now - 3000);
        assert.deepEqual((await evaluateBoth(repo)).opened.map((f) => f.ruleId), ['held']);
        assert.deepEqual((await modes()).map((m) => m.split(' ')[1]), ['suspend'], 'an approval firing does not weaken a suspension in force');
        assert.equal(await repo.lift('user:carol', 'user:admin', now), true, 'one lift for either mode');
        assert.deepEqual(await repo.suspensions(), []);
        await record(store, 'user:carol', 2, now - 2000);
        assert.deepEqual((await evaluateBoth(repo)).opened.map((f) => f.ruleId).sort(), ['held', 'refusals']);
        assert.deepEqual(await modes(), ['user:carol suspend []'], 'both respond in one batch: the suspension holds');
      } finally {
        await store.close();
      }
    });

    test('a new client tool fires for a known identity, never for its first one', async () => {
      const store = await open();
      try {
        const repo = openAlertRepo(store);
        await record(store, 'user:carol', 1, now - 3000, 'OpenAI/JS 6.1.0');
        await evaluate(repo, now);
        await record(store, 'user:carol', 1, now - 2000, 'OpenAI/JS 6.2.0');
        assert.deepEqual((await evaluate(repo, now)).opened.filter((f) => f.ruleId === 'tool'), [], 'the same family');
        await record(store, 'user:carol', 1, now - 1000, 'claude-cli/2.0.1 (external, cli)');
        const fired = (await evaluate(repo, now)).opened.filter((f) => f.ruleId === 'tool');
        assert.deepEqual(fired.map((f) => [f.subject, f.windowKey]), [['user:carol', 'claude-code']]);
      } finally {
        await store.close();
      }
    });

    test('investigation lifecycle: open → assigned → notes → closed (final); listing by state', async () => {
      const store = await open();
      try {
        const repo = openAlertRepo(store);
        await record(store, 'user:dave', 3, now - 1000);
        const [inv] = (await evaluate(repo, now)).opened;
        assert.ok(inv);
        assert.equal((await repo.get(inv.id))?.state, 'open');
        assert.equal((await repo.assign(inv.id, 'user:sec', now))?.state, 'assigned');
        const noted = await repo.note(inv.id, { id: 'n1', at: now, author: 'user:sec', text: 'looked at <b>it</b>' });
        assert.deepEqual(noted?.notes.map((n) => n.text), ['looked at <b>it</b>']);
        assert.deepEqual((await repo.list({ state: 'assigned', limit: 10 })).map((i) => i.id), [inv.id]);
        const closed = await repo.close(inv.id, 'user:sec', 'false positive', now);
        assert.equal(closed?.state, 'closed');
        assert.equal(closed?.resolution, 'false positive');
        assert.equal(await repo.close(inv.id, 'user:sec', 'again', now), undefined, 'closed is final');
        assert.equal(await repo.note(inv.id, { id: 'n2', at: now, author: 'x', text: 'late' }), undefined);
        assert.equal(await repo.get('inv_nope'), undefined);
        assert.ok((await repo.unnotified(now + 1, 100)).some((f) => f.id === inv.id), 'not yet notified');
        await repo.markNotified(inv.id, now);
        assert.ok(!(await repo.unnotified(now + 1, 100)).some((f) => f.id === inv.id));
      } finally {
        await store.close();
      }
    });
  });
}

suite('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-alerts-'));
  return openStore(`sqlite:${join(dir, 'a.db')}`, { baseDir: dir });
});

const pgServer = startTestPostgres();
after(async () => (await pgServer).stop());
suite('postgres', async () => openStore((await pgServer).url, { baseDir: tmpdir() }));

test('postgres: two stores on one database racing the same subject open one investigation', async () => {
  const server = await pgServer;
  const a = await openStore(server.url, { baseDir: tmpdir() });
  const b = await openStore(server.url, { baseDir: tmpdir() });
  try {
    const [ra, rb] = [openAlertRepo(a), openAlertRepo(b)];
    const now = Date.now();
    for (let round = 0; round < 5; round++) {
      const who = `user:race${round}`;
      // Six refusals (threshold three: two firings if counted apart), evaluated by both stores at once in batches
      // of one, so each takes some of them and both cross the threshold "at the same time".
      await record(a, who, 3, now - 2000);
      const results = await Promise.all([ra, rb, ra, rb, ra, rb].map((r) => evaluate(r, now, 1)));
      const opened = results.flatMap((x) => x.opened).filter((f) => f.identity === who);
      assert.equal(opened.length, 1, `round ${round}: one investigation for one burst`);
    }
    // The same firing key raced directly: both evaluators see the identical hits; the insert happens once.
    const who = 'user:same';
    await record(a, who, 3, now - 1000);
    const rows = await a.exchanges.list({ subject: who, limit: 10 });
    const hits = hitsOf({ rules: RULES, rows: rows.map((r) => ({ id: r.id, at: r.finishedAt ?? r.startedAt, subject: who, groups: [], credentialId: 'k', model: null, userAgent: null, clientIp: null, status: 'rejected', errorCode: 'policy_denied', inputTokens: null, outputTokens: null, findingTypes: [] })), costOf: () => 0, now });
    await record(a, 'user:filler', 2, now - 1000);
    const both = await Promise.all([ra, rb].map((r) => r.evaluate(1, compiled, () => hits, now)));
    assert.equal(both.flatMap((x) => x.opened).filter((f) => f.identity === who).length, 1, 'one insert for one firing key');
  } finally {
    await a.close();
    await b.close();
  }
});

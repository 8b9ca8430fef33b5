import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BudgetConfigError, compileBudgets } from './compile.ts';
import { MemoryBudgetCounters } from './counters.ts';
import { BudgetEnforcer, budgetError } from './enforcer.ts';
import { estimateInputTokens } from './estimate.ts';
import type { BudgetsSection } from './schema.ts';

const alice = { subject: 'user:alice', kind: 'user' as const, groups: ['eng'] };
const bob = { subject: 'user:bob', kind: 'user' as const, groups: ['eng', 'finance'] };
const etl = { subject: 'service:etl', kind: 'service' as const, groups: ['pipelines'] };

function setup(section: BudgetsSection, start = Date.UTC(2026, 0, 15, 12, 0, 0)) {
  const clock = { t: start };
  const counters = new MemoryBudgetCounters(() => clock.t);
  const enforcer = new BudgetEnforcer({ counters, budgets: section, now: () => clock.t });
  return { clock, counters, enforcer };
}

describe('BudgetEnforcer', () => {
  it('refuses the N+1th request in a fixed minute and recovers in the next minute', async () => {
    const { clock, enforcer } = setup({ window: 'fixed', limits: [{ id: 'rpm', per: 'user', requests_per_minute: 3 }] });
    for (let i = 0; i < 3; i++) assert.deepEqual(await enforcer.check(alice, 'gpt-4o'), { ok: true });
    clock.t += 20_000;
    const v = await enforcer.check(alice, 'gpt-4o');
    assert.equal(v.ok, false);
    assert.ok(!v.ok && v.limitId === 'rpm' && v.metric === 'requests_per_minute' && v.retryAfterSeconds === 40);
    // Another user has their own counter.
    assert.equal((await enforcer.check(bob, 'gpt-4o')).ok, true);
    // The refusal did not consume budget: three refusals later, the next window admits three again.
    await enforcer.check(alice, 'gpt-4o');
    clock.t += 40_000;
    for (let i = 0; i < 3; i++) assert.equal((await enforcer.check(alice, 'gpt-4o')).ok, true);
    assert.equal((await enforcer.check(alice, 'gpt-4o')).ok, false);
  });

  it('sliding windows weight the previous minute so a boundary burst cannot double the rate', async () => {
    const { clock, enforcer } = setup({ window: 'sliding', limits: [{ id: 'rpm', requests_per_minute: 4 }] }, Date.UTC(2026, 0, 15, 12, 0, 50));
    for (let i = 0; i < 4; i++) assert.equal((await enforcer.check(alice, 'm')).ok, true);
    clock.t += 15_000; // 12:01:05, previous window still weighs 4 * 55/60 ≈ 3.67
    assert.equal((await enforcer.check(alice, 'm')).ok, false);
    clock.t += 10_000; // 12:01:15: 4 * 0.75 = 3 → one more fits
    assert.equal((await enforcer.check(alice, 'm')).ok, true);
    const v = await enforcer.check(alice, 'm');
    assert.ok(!v.ok && v.retryAfterSeconds >= 1 && v.retryAfterSeconds <= 45);
  });

  it('counts group limits per group, model limits per model, services separately from users', async () => {
    const { enforcer } = setup({ window: 'fixed', limits: [
      { id: 'eng', per: 'group', match: { groups: ['eng'] }, requests_per_minute: 2 },
      { id: 'per-model', per: 'model', match: { models: ['gpt-4*'] }, requests_per_minute: 10 },
      { id: 'svc', per: 'service', requests_per_minute: 1 },
    ] });
    assert.equal((await enforcer.check(alice, 'gpt-4o')).ok, true);
    assert.equal((await enforcer.check(bob, 'claude-3')).ok, true);
    const v = await enforcer.check(alice, 'claude-3');
    assert.ok(!v.ok && v.limitId === 'eng' && v.scope === 'group:eng');
    assert.equal((await enforcer.check(etl, 'gpt-4o')).ok, true);
    const s = await enforcer.check(etl, 'gpt-4o');
    assert.ok(!s.ok && s.limitId === 'svc' && s.scope === 'service:etl');
    const rows = await enforcer.usage({ scope: 'model:gpt-4o' });
    assert.deepEqual(rows.map((r) => [r.limitId, r.used, r.limit]), [['per-model', 2, 10]]);
  });

  it('token limits use recorded usage and the estimate; spend uses the price table in micro-dollars', async () => {
    const { clock, enforcer } = setup({
      window: 'fixed',
      prices: [{ model: 'gpt-4o*', input_per_million: 2.5, output_per_million: 10 }],
      limits: [{ id: 'tpm', tokens_per_minute: 1000 }, { id: 'spend', per: ['user', 'model'], spend_per_month: 0.01 }],
    });
    assert.equal((await enforcer.check(alice, 'gpt-4o', { tokens: 900 })).ok, true);
    await enforcer.record(alice, 'gpt-4o', { inputTokens: 600, outputTokens: 300, totalTokens: 900 });
    const v = await enforcer.check(alice, 'gpt-4o', { tokens: 200 });
    assert.ok(!v.ok && v.limitId === 'tpm' && v.metric === 'tokens_per_minute');
    assert.equal((await enforcer.check(alice, 'gpt-4o', { tokens: 50 })).ok, true);
    clock.t += 60_000;
    // 600 * 2.5 + 300 * 10 = 4500 micro-dollars; two more such exchanges cross one cent.
    await enforcer.record(alice, 'gpt-4o', { inputTokens: 600, outputTokens: 300, totalTokens: 900 });
    await enforcer.record(alice, 'gpt-4o', { inputTokens: 600, outputTokens: 300, totalTokens: 900 });
    clock.t += 60_000;
    const s = await enforcer.check(alice, 'gpt-4o');
    assert.ok(!s.ok && s.limitId === 'spend' && s.scope === 'user:alice|model:gpt-4o');
    const spend = (await enforcer.usage({ limitId: 'spend' }))[0]!;
    assert.equal(spend.used, 0.0135);
    assert.equal(spend.limit, 0.01);
    // Monthly windows end with the calendar month.
    assert.equal(spend.windowEnd, Date.UTC(2026, 1, 1));
    assert.equal((await enforcer.check(alice, 'gpt-3.5')).ok, true);
  });

  it('budgetError is a native 429 with retry-after', () => {
    const e = budgetError({ ok: false, limitId: 'rpm', metric: 'requests_per_minute', scope: 'user:alice', retryAfterSeconds: 12 });
    assert.equal(e.status, 429);
    assert.equal(e.code, 'rate_limited');
    assert.equal(e.headers['retry-after'], '12');
    assert.doesNotMatch(e.message, /alice/);
  });

  it('fails closed when counters fail', async () => {
    const broken = { add: () => Promise.reject(new Error('db down')), get: () => Promise.reject(new Error('db down')), list: () => Promise.resolve([]), purgeExpired: () => Promise.resolve(0) };
    const enforcer = new BudgetEnforcer({ counters: broken, budgets: { limits: [{ id: 'rpm', requests_per_minute: 1 }] } });
    await assert.rejects(enforcer.check(alice, 'm'), (e: Error & { code?: string }) => e.code === 'evaluation_error');
  });

  it('swaps budgets atomically and keeps counters by limit id', async () => {
    const { enforcer } = setup({ window: 'fixed', limits: [{ id: 'rpm', requests_per_minute: 2 }] });
    await enforcer.check(alice, 'm');
    await enforcer.check(alice, 'm');
    assert.equal((await enforcer.check(alice, 'm')).ok, false);
    enforcer.update(compileBudgets({ window: 'fixed', limits: [{ id: 'rpm', requests_per_minute: 5 }] }));
    assert.equal((await enforcer.check(alice, 'm')).ok, true);
    enforcer.update(undefined);
    assert.equal((await enforcer.check(alice, 'm')).ok, true);
  });
});

describe('compileBudgets', () => {
  it('rejects semantic errors naming the key', () => {
    assert.throws(() => compileBudgets({ limits: [{ id: 'a', requests_per_minute: 1 }, { id: 'a', tokens_per_day: 5 }] }),
      (e: BudgetConfigError) => e.path === 'budgets.limits[1].id' && /duplicate/.test(e.message));
    assert.throws(() => compileBudgets({ limits: [{ id: 'x' }] }), (e: BudgetConfigError) => e.path === 'budgets.limits[0]');
    assert.throws(() => compileBudgets({ limits: [{ id: 'x', tokens_per_day: -1 }] }), (e: BudgetConfigError) => e.path === 'budgets.limits[0].tokens_per_day');
  });

  it('matches subjects and models by glob; a group limit needs the group', () => {
    const b = compileBudgets({ limits: [{ id: 'n', per: 'global', match: { subjects: ['service:nightly-*'], models: ['gpt-*'] }, requests_per_minute: 1 }] });
    assert.equal(b.applicable({ subject: 'service:nightly-etl', kind: 'service', groups: [] }, 'gpt-4o').length, 1);
    assert.equal(b.applicable({ subject: 'service:nightly-etl', kind: 'service', groups: [] }, 'claude').length, 0);
    assert.equal(b.applicable({ subject: 'service:daily', kind: 'service', groups: [] }, 'gpt-4o').length, 0);
    const g = compileBudgets({ limits: [{ id: 'g', per: 'group', requests_per_minute: 1 }] });
    assert.deepEqual(g.applicable(bob, 'm').map((x) => x.scope), ['group:eng', 'group:finance']);
    assert.equal(g.applicable({ subject: 'user:z', kind: 'user', groups: [] }, 'm').length, 0);
  });
});

describe('estimateInputTokens', () => {
  it('counts text in messages, system and input', () => {
    assert.equal(estimateInputTokens({ model: 'x', system: 'abcd', messages: [{ role: 'user', content: 'abcdefgh' }] }), 4);
    assert.equal(estimateInputTokens({ model: 'x'.repeat(100) }), 0);
  });
});

describe('BudgetEnforcer with several request limits', () => {
  it('a refusal by one limit takes back the increments of the others (sliding and fixed mixed scopes)', async () => {
    const { enforcer } = setup({ limits: [{ id: 'user', requests_per_minute: 5 }, { id: 'model', per: 'model', requests_per_minute: 2 }] });
    assert.equal((await enforcer.check(alice, 'm')).ok, true);
    assert.equal((await enforcer.check(bob, 'm')).ok, true);
    const v = await enforcer.check(alice, 'm');
    assert.ok(!v.ok && v.limitId === 'model');
    const rows = await enforcer.usage({ scope: 'user:alice' });
    assert.deepEqual(rows.map((r) => [r.limitId, r.used]), [['user', 1]]);
    assert.equal(await enforcer.purgeExpired(), 0);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { BudgetEnforcer, budgetError, createUsageObserver, estimateInputTokens, MemoryBudgetCounters, type BudgetsSection } from '../../src/policy/budgets/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { hookGuard } from './harness.ts';

/**
 * Issue #11 item 10: `retry-after` is the time until the refused request really fits. On a controllable clock,
 * a client that waits the announced seconds is let through, and one that comes back a second earlier is not —
 * under sliding windows (the default, where an ended window still weighs fully at the start of the next) and
 * fixed ones, for request, token and day limits, wherever in the window the refusal falls.
 */
const alice = { subject: 'user:alice', kind: 'user' as const, groups: ['eng'] };
const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

function setup(section: BudgetsSection, start: number) {
  const clock = { t: start };
  const enforcer = new BudgetEnforcer({ counters: new MemoryBudgetCounters(() => clock.t), budgets: section, now: () => clock.t });
  return { clock, enforcer };
}

/** The refused check's retry-after holds exactly: refused at +(R-1)s (when R > 1), allowed at +R s. */
async function honours(o: { clock: { t: number }; check: () => Promise<Awaited<ReturnType<BudgetEnforcer['check']>>>; label: string }): Promise<number> {
  const v = await o.check();
  assert.equal(v.ok, false, `${o.label}: expected a refusal`);
  const r = v.ok ? 0 : v.retryAfterSeconds;
  const refusedAt = o.clock.t;
  if (r > 1) {
    o.clock.t = refusedAt + (r - 1) * 1000;
    assert.equal((await o.check()).ok, false, `${o.label}: retry-after ${r}s, yet it fits a second earlier`);
  }
  o.clock.t = refusedAt + r * 1000;
  const again = await o.check();
  assert.equal(again.ok, true, `${o.label}: waited the announced ${r}s and was refused again (${JSON.stringify(again)})`);
  return r;
}

/** Deterministic pseudo-random numbers (a test must fail the same way twice). */
function lcg(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

describe('retry-after is the time until the request fits (issue #11 item 10)', () => {
  it('sliding, requests per minute: a burst at the end of a minute waits for the old minute to slide out, not for its end', async () => {
    const { clock, enforcer } = setup({ limits: [{ id: 'rpm', per: 'user', requests_per_minute: 3 }] }, T0 + 50_000);
    for (let i = 0; i < 3; i++) assert.equal((await enforcer.check(alice, 'm')).ok, true);
    clock.t = T0 + 55_000;
    // At 12:01:00 the three still weigh 3; one more fits once a third of them slid out, at 12:01:20.
    assert.equal(await honours({ clock, check: () => enforcer.check(alice, 'm'), label: 'rpm' }), 25);
  });

  it('sliding, tokens per minute and per day, with an estimate', async () => {
    const tpm = setup({ limits: [{ id: 'tpm', per: 'user', tokens_per_minute: 100 }] }, T0 + 40_000);
    await tpm.enforcer.record(alice, 'm', { inputTokens: 60, outputTokens: 20, totalTokens: 80 });
    tpm.clock.t = T0 + 45_000;
    await honours({ clock: tpm.clock, check: () => tpm.enforcer.check(alice, 'm', { tokens: 30 }), label: 'tpm' });

    const tpd = setup({ limits: [{ id: 'tpd', per: 'user', tokens_per_day: 1000 }] }, T0);
    await tpd.enforcer.record(alice, 'm', { inputTokens: 990, outputTokens: 10, totalTokens: 1000 });
    tpd.clock.t = T0 + 3_600_000;
    const r = await honours({ clock: tpd.clock, check: () => tpd.enforcer.check(alice, 'm', { tokens: 100 }), label: 'tpd' });
    assert.ok(r > 12 * 3600, `a day budget spent at noon frees 100 tokens well into the next day, not at midnight (${r}s)`);
  });

  it('an estimate larger than the limit itself never fits: a final refusal without retry-after, not a 429', async () => {
    const { enforcer } = setup({ limits: [{ id: 'tpm', per: 'user', tokens_per_minute: 100 }] }, T0);
    const v = await enforcer.check(alice, 'm', { tokens: 101 });
    assert.ok(!v.ok && v.neverFits === true, JSON.stringify(v));
    const err = budgetError(v);
    assert.equal(err.code, 'policy_denied');
    assert.equal(err.headers['retry-after'], undefined);
    assert.match(err.message, /waiting will not help/);
    assert.equal((await enforcer.check(alice, 'm', { tokens: 100 })).ok, true, 'the limit itself still fits');
  });

  it('fixed windows wait for the next window', async () => {
    const { clock, enforcer } = setup({ window: 'fixed', limits: [{ id: 'rpm', per: 'user', requests_per_minute: 2 }] }, T0 + 10_000);
    for (let i = 0; i < 2; i++) assert.equal((await enforcer.check(alice, 'm')).ok, true);
    clock.t = T0 + 30_500;
    assert.equal(await honours({ clock, check: () => enforcer.check(alice, 'm'), label: 'fixed' }), 30);
  });

  it('holds wherever the refusal falls: 200 random bursts across window boundaries, both window modes', async () => {
    const rnd = lcg(11);
    for (let n = 0; n < 200; n++) {
      const limit = 1 + Math.floor(rnd() * 6);
      const window = n % 4 === 0 ? 'fixed' as const : 'sliding' as const;
      const { clock, enforcer } = setup({ window, limits: [{ id: 'rpm', per: 'user', requests_per_minute: limit }] }, T0 + Math.floor(rnd() * 60_000));
      // Use some of the budget in this minute, move on a random stretch, then fill up until refused.
      for (let i = Math.floor(rnd() * (limit + 1)); i > 0; i--) await enforcer.check(alice, 'm');
      clock.t += Math.floor(rnd() * 70_000);
      for (let i = 0; i < 2 * limit + 2 && (await enforcer.check(alice, 'm')).ok; i++) clock.t += Math.floor(rnd() * 3_000);
      await honours({ clock, check: () => enforcer.check(alice, 'm'), label: `case ${n} (${window}, limit ${limit}, t=${clock.t - T0}ms)` });
    }
  });
});

describe('retry-after through the gateway with the OpenAI SDK', () => {
  let t: TestGateway;
  const clock = { t: T0 + 50_000 };
  const budgets: BudgetsSection = { limits: [{ id: 'user-rpm', per: 'user', match: { groups: ['eng'] }, requests_per_minute: 3 }] };
  const enforcer = new BudgetEnforcer({ counters: new MemoryBudgetCounters(() => clock.t), budgets, now: () => clock.t });
  before(async () => {
    t = await startTestGateway({ observers: [createUsageObserver(enforcer)] });
    t.gw.setGuard(hookGuard(async (ctx) => {
      const v = await enforcer.check(ctx.principal, ctx.model, { tokens: estimateInputTokens(ctx.body) });
      if (!v.ok) throw budgetError(v);
    }));
  });
  after(() => t.close());

  it('a client that waits the announced retry-after succeeds; one that comes back a second early is refused again', async () => {
    const c = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    const ask = () => c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).then(() => undefined, (e: unknown) => e);
    for (let i = 0; i < 3; i++) assert.equal(await ask(), undefined);
    clock.t = T0 + 55_000;
    const refused = await ask();
    assert.ok(refused instanceof OpenAI.RateLimitError);
    const r = Number(refused.headers.get('retry-after'));
    assert.equal(r, 25);
    clock.t = T0 + 55_000 + (r - 1) * 1000;
    assert.ok((await ask()) instanceof OpenAI.RateLimitError, 'one second early');
    clock.t = T0 + 55_000 + r * 1000;
    assert.equal(await ask(), undefined, 'after the announced wait');
  });
});

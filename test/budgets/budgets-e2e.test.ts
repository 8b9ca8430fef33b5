import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { usageRoutes } from '../../src/admin/usage-routes.ts';
import { usageCommand } from '../../src/cli/commands/usage.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import { BudgetEnforcer, budgetError, createUsageObserver, estimateInputTokens, MemoryBudgetCounters, type BudgetsSection } from '../../src/policy/budgets/index.ts';
import { budgetCountersFor } from '../../src/store/budget-counters.ts';
import type { Store } from '../../src/store/ports.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { hookGuard, keyAuthenticate, startAdminRoutes } from './harness.ts';

const BUDGETS: BudgetsSection = {
  prices: [{ model: 'gpt-*', input_per_million: 2.5, output_per_million: 10 }],
  limits: [
    { id: 'user-rpm', per: 'user', match: { groups: ['eng'] }, requests_per_minute: 3 },
    { id: 'contractor-tpm', per: 'user', match: { groups: ['contractors'] }, tokens_per_minute: 15 },
  ],
};

/** What the policy decider does with budgets, as a guard (see src/policy/budgets/index.ts). */
function budgetGuard(enforcer: BudgetEnforcer) {
  return hookGuard(async (ctx) => {
    const v = await enforcer.check(ctx.principal, ctx.model, { tokens: estimateInputTokens(ctx.body) });
    if (!v.ok) throw budgetError(v);
  });
}

async function userKey(store: Store, name: string, groups: string[]): Promise<string> {
  return (await createApiKey(store.apiKeys, { name, kind: 'user', groups, expiresAt: null, createdBy: 'test' }, Date.now())).secret;
}

function capture(): { io: Parameters<typeof usageCommand.run>[1]; out: () => string } {
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => chunks.push(c));
  return { io: { stdin: new PassThrough(), stdout, stderr: new PassThrough(), env: {}, cwd: process.cwd() }, out: () => Buffer.concat(chunks).toString('utf8') };
}

describe('budgets end to end (one node, in-memory counters)', () => {
  let t: TestGateway;
  let enforcer: BudgetEnforcer;
  let admin: { url: string; close(): Promise<void> } | undefined;
  const clock = { offset: 0 };
  before(async () => {
    enforcer = new BudgetEnforcer({ counters: new MemoryBudgetCounters(), budgets: BUDGETS, now: () => Date.now() + clock.offset });
    t = await startTestGateway({ observers: [createUsageObserver(enforcer)] });
    t.gw.setGuard(budgetGuard(enforcer));
    admin = await startAdminRoutes(usageRoutes({ enforcer, authenticate: keyAuthenticate(t.gw.store) }));
  });
  after(async () => {
    await admin?.close();
    await t?.close();
  });

  it('OpenAI: the 4th request in a minute gets a native 429 with retry-after, and recovers after the window', async () => {
    const c = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    for (let i = 0; i < 3; i++) await c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `hi ${i}` }] });
    const err = await c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'one too many' }] }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof OpenAI.RateLimitError, 'the SDK sees its own rate-limit error');
    assert.equal(err.status, 429);
    const retry = Number(err.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 120, `retry-after ${retry}: a sliding minute can take up to two minutes to free a slot`);
    assert.match(err.message, /Budget "user-rpm" exceeded \(requests per minute\)/);
    assert.equal((err.error as { type?: string }).type, 'rate_limit_error');
    clock.offset += 120_000;
    const ok = await c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'later' }] });
    assert.ok(ok.choices[0]?.message.content);
  });

  it('Anthropic: same limit, native rate_limit_error with retry-after, streamed and not', async () => {
    const key = await userKey(t.gw.store, 'dora', ['eng']);
    const c = new Anthropic({ baseURL: t.anthropicBase, apiKey: key, maxRetries: 0 });
    await c.messages.create({ model: 'claude-3-5-sonnet', max_tokens: 50, messages: [{ role: 'user', content: 'a' }] });
    const s = c.messages.stream({ model: 'claude-3-5-sonnet', max_tokens: 50, messages: [{ role: 'user', content: 'b' }] });
    await s.finalMessage();
    await c.messages.create({ model: 'claude-3-5-sonnet', max_tokens: 50, messages: [{ role: 'user', content: 'c' }] });
    const err = await c.messages.create({ model: 'claude-3-5-sonnet', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'd' }] }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof Anthropic.RateLimitError);
    assert.ok(Number(err.headers?.get('retry-after')) >= 1);
    assert.equal((err.error as { error?: { type?: string } }).error?.type, 'rate_limit_error');
  });

  it('tokens per minute are counted from the usage each exchange recorded', async () => {
    const key = await userKey(t.gw.store, 'carl', ['contractors']);
    const c = new OpenAI({ baseURL: t.openaiBase, apiKey: key, maxRetries: 0 });
    const first = await c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'count my tokens please' }] });
    const used = first.usage!.total_tokens;
    assert.ok(used > 15, `mock usage ${used} crosses the 15-token limit`);
    // The usage observer runs when the exchange is recorded, just after the response.
    const row = await eventually(async () => (await enforcer.usage({ scope: 'user:carl' })).find((r) => r.metric === 'tokens_per_minute'));
    assert.equal(row.used, used);
    const err = await c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof OpenAI.RateLimitError);
    assert.match(err.message, /contractor-tpm.*tokens per minute/);
  });

  it('GET /admin/v1/usage and `portcullis usage` show usage; a user sees only their own', async () => {
    const all = await fetch(`${admin!.url}/admin/v1/usage`, { headers: { authorization: `Bearer ${t.adminKey}` } });
    const body = (await all.json()) as { data: { scope: string; limit_id: string; used: number; limit: number }[] };
    assert.ok(body.data.some((r) => r.scope === 'user:dora' && r.limit_id === 'user-rpm' && r.used === 3 && r.limit === 3));
    assert.ok(body.data.some((r) => r.scope === 'user:carl'));
    const mine = await fetch(`${admin!.url}/admin/v1/usage`, { headers: { authorization: `Bearer ${t.userKey}` } });
    const own = (await mine.json()) as { data: { scope: string }[] };
    assert.ok(own.data.length > 0 && own.data.every((r) => r.scope === 'user:alice'));
    const anon = await fetch(`${admin!.url}/admin/v1/usage`);
    assert.equal(anon.status, 401);

    const { io, out } = capture();
    io.env = { PORTCULLIS_GATEWAY: admin!.url, PORTCULLIS_TOKEN: t.adminKey };
    const code = await usageCommand.run(['--scope', 'user:dora'], io);
    assert.equal(code, 0);
    assert.match(out(), /user:dora\s+user-rpm\s+requests_per_minute\s+3\s+3/);
    // The credential may also come from a file (never on the command line).
    const keyFile = join(t.dir, 'admin.key.txt');
    writeFileSync(keyFile, `${t.adminKey}\n`, { mode: 0o600 });
    const second = capture();
    assert.equal(await usageCommand.run(['--gateway', admin!.url, '--key-file', keyFile, '--scope', 'user:dora', '--json'], second.io), 0);
    assert.ok((JSON.parse(second.out()) as unknown[]).length > 0);
  });
});

describe('budgets shared by two replicas on one PostgreSQL', () => {
  let pg: TestPostgres | undefined;
  const gws: TestGateway[] = [];
  before(async () => {
    pg = await startTestPostgres();
    const masterKey = randomBytes(32).toString('base64');
    for (let i = 0; i < 2; i++) {
      const t = await startTestGateway({ storeUrl: pg.url, masterKey });
      gws.push(t);
      const enforcer = new BudgetEnforcer({ counters: budgetCountersFor(t.gw.store), budgets: BUDGETS });
      t.gw.setGuard(budgetGuard(enforcer));
    }
  });
  after(async () => {
    for (const t of gws) await t.close();
    await pg?.stop();
  });

  it('three requests spread over both replicas exhaust one limit; the fourth is refused by either', async () => {
    const [a, b] = gws as [TestGateway, TestGateway];
    const key = await userKey(a.gw.store, 'erin', ['eng']);
    const viaA = new OpenAI({ baseURL: a.openaiBase, apiKey: key, maxRetries: 0 });
    const viaB = new Anthropic({ baseURL: b.anthropicBase, apiKey: key, maxRetries: 0 });
    await viaA.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: '1' }] });
    await viaB.messages.create({ model: 'claude-3-5-sonnet', max_tokens: 20, messages: [{ role: 'user', content: '2' }] });
    await viaA.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: '3' }] });
    const e1 = await viaB.messages.create({ model: 'claude-3-5-sonnet', max_tokens: 20, messages: [{ role: 'user', content: '4' }] }).then(() => undefined, (e: unknown) => e);
    assert.ok(e1 instanceof Anthropic.RateLimitError);
    const e2 = await viaA.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: '5' }] }).then(() => undefined, (e: unknown) => e);
    assert.ok(e2 instanceof OpenAI.RateLimitError);
    // Someone else still has their own budget.
    const other = new OpenAI({ baseURL: b.openaiBase, apiKey: a.userKey, maxRetries: 0 });
    assert.ok((await other.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'fine' }] })).id);
  });
});

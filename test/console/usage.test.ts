import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './browser.ts';
import { clientFamily } from '../../src/analytics/client-family.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import { openApprovalRepo } from '../../src/store/approval-repo.ts';
import { finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * The usage dashboard in real Chromium with seeded traffic (issue #15): the numbers on the page equal the numbers
 * computed from the records, a number opens exactly the exchanges behind it, markup in recorded data stays inert,
 * and the page works at 1280×800 and in a narrow window, light and dark. Screenshots go to test-output/console/
 * for a person to look at; the assertions are on content, never on pixels.
 */
const SHOTS = join(import.meta.dirname, '../../test-output/console');

describe('usage dashboard (Chromium)', () => {
  let t: TestGateway;
  let browser: Browser;
  const MARKUP = '<img src=x onerror="window.__pwned=1">';

  before(async () => {
    t = await startTestGateway({ extraYaml: 'auth:\n  key_cache_ttl_ms: 0\n  roles: { admin: [portcullis-admins], auditor: [auditors], user: [eng] }\n' });
    browser = await launchChromium();
    mkdirSync(SHOTS, { recursive: true });
    // Seeded traffic: the user key (eng) three times, a person whose name is markup twice, one refused request.
    const marked = (await createApiKey(t.gw.store.apiKeys, { name: MARKUP, kind: 'user', groups: ['eng'], expiresAt: null, createdBy: 'test' }, Date.now())).secret;
    for (const [key, n] of [[t.userKey, 3], [marked, 2]] as const) {
      const client = new OpenAI({ baseURL: t.openaiBase, apiKey: key, maxRetries: 0 });
      for (let i = 0; i < n; i++) await client.chat.completions.create({ model: i % 2 ? 'gpt-4o-mini' : 'gpt-4o', messages: [{ role: 'user', content: `q${i}` }] });
    }
    const refused = await fetch(`${t.openaiBase}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${t.userKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'not-routed', messages: [] }) });
    await finishedExchange(t.gw, refused.headers.get('x-portcullis-exchange-id')!);
    // Two exchanges as the recorder keeps them, for what the SDK traffic lacks: an upstream error with an email found
    // in the request (curl, groups eng and finance), and a failure whose answer had a phone number (curl, finance).
    for (const [i, status, findings, answer] of [[0, 'upstream_error', [{ type: 'EMAIL_ADDRESS', action: 'mask' }], []], [1, 'failed', [], [{ type: 'PHONE_NUMBER', action: 'redact' }]]] as const) {
      const id = `ex_seeded_${i}`;
      const at = Date.now() - 60_000;
      await t.gw.store.exchanges.start({
        id, startedAt: at, subject: 'user:alice', principal: { kind: 'user', displayName: 'alice', groups: i === 0 ? ['eng', 'finance'] : ['finance'], authMethod: 'api_key', credentialId: 'k' },
        endpoint: 'openai.chat', method: 'POST', path: '/v1/chat/completions', model: 'gpt-4o', provider: 'openai', upstreamModel: null, stream: false,
        clientIp: null, userAgent: 'curl/8.5.0', decision: null, findings: [...findings], clientRequest: null, upstreamRequest: null,
      });
      await t.gw.store.exchanges.finish({
        id, finishedAt: at + 5, status, httpStatus: 502, errorCode: 'upstream_status_500', timings: { upstreamFirstByteMs: null, clientFirstByteMs: null, totalMs: 5 },
        usage: { inputTokens: null, outputTokens: null, totalTokens: null }, response: null, eventCount: 0, responseFindings: [...answer], forwarded: true,
      });
    }
    // Three approvals as the approval gate keeps them: one approved after 50 s, one denied after 20 s, one pending.
    const approvals = openApprovalRepo(t.gw.store);
    const now = Date.now();
    for (const [i, to, after] of [[0, 'approved', 50_000], [1, 'denied', 20_000], [2, null, 0]] as const) {
      const id = `apr_console_${i}`;
      const createdAt = now - 100_000;
      await approvals.create({
        id, state: 'pending', ruleId: 'r1', mode: 'hold', scope: 'request', requester: 'alice', requesterName: 'alice', requesterGroups: ['eng'], endpoint: 'openai.chat',
        model: 'gpt-4o', policyVersion: null, decisionId: null, exchangeId: `ex_${i}`, digest: `d${i}`, approverGroups: ['reviewers'], quorum: 1, eachGroup: false,
        windowMs: null, justification: null, breakGlass: false, findings: [], sealedRequest: null, createdAt, updatedAt: createdAt, expiresAt: now + 3_600_000,
        decidedAt: null, decidedBy: null, reason: null,
      }, { approvalId: id, at: createdAt, actor: 'alice', action: 'created', from: null, to: 'pending', reason: null });
      if (to) await approvals.transition({ id, from: ['pending'], to, at: createdAt + after, actor: 'reviewer', reason: null });
    }
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  async function dashboard(o: { width: number; height: number; dark?: boolean }): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: o.width, height: o.height }, colorScheme: o.dark ? 'dark' : 'light' });
    await page.goto(`${t.gw.url}/console/#/usage`);
    await page.fill('#token', t.adminKey);
    await page.click('button[type=submit]');
    await page.waitForSelector('#tile-requests');
    await page.waitForSelector('#usage-chart canvas');
    return page;
  }

  it('shows the numbers of the records, and each number opens the exchanges behind it', async () => {
    const records = (await (await fetch(`${t.gw.url}/admin/v1/exchanges?limit=100`, { headers: { authorization: `Bearer ${t.adminKey}` } })).json()) as { data: { id: string; status: string; error_code: string | null; model: string | null; subject: string | null; user_agent: string | null; principal: { kind: string; display_name: string; groups: string[] } | null; usage: { input_tokens: number | null; output_tokens: number | null } | null; findings: { type: string }[]; response_findings: { type: string }[] | null }[] };
    const page = await dashboard({ width: 1280, height: 800 });
    const fmt = (n: number) => new Intl.NumberFormat('en', { maximumFractionDigits: 0 }).format(n);
    const sum = (f: (r: (typeof records.data)[number]) => number) => records.data.reduce((n, r) => n + f(r), 0);
    assert.equal(await page.textContent('#tile-requests strong'), fmt(records.data.length));
    assert.equal(await page.textContent('#tile-refused strong'), fmt(records.data.filter((r) => r.status === 'rejected').length));
    assert.equal(await page.textContent('#tile-input strong'), fmt(sum((r) => r.usage?.input_tokens ?? 0)), 'tokens in, summed from the records');
    assert.equal(await page.textContent('#tile-output strong'), fmt(sum((r) => r.usage?.output_tokens ?? 0)), 'tokens out, summed from the records');
    assert.ok(sum((r) => r.usage?.input_tokens ?? 0) > 0, 'the seeded answers carried usage');
    assert.equal(await page.textContent('#tile-errors strong'), fmt(records.data.filter((r) => ['upstream_error', 'incomplete', 'failed', 'client_aborted'].includes(r.status)).length));
    // Each breakdown row: its requests equal the records of that user, group or client tool.
    const rowsOf = (id: string) => page.locator(`#${id} tbody tr`).evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? '')));
    const expect = (key: (r: (typeof records.data)[number]) => string[]) => {
      const m = new Map<string, number>();
      for (const r of records.data) for (const k of key(r)) m.set(k, (m.get(k) ?? 0) + 1);
      return [...m.entries()].map(([k, n]) => [k, fmt(n)]).sort();
    };
    // A requester of approvals without exchanges of that name is listed with 0 requests (docs/analytics.md#approvals).
    const withRequests = async (id: string) => (await rowsOf(id)).map((r) => [r[0], r[1]]).filter((r) => r[1] !== '0').sort();
    assert.deepEqual(await withRequests('by-user'), expect((r) => (r.subject && r.principal?.kind !== 'service' ? [r.subject] : [])), 'requests by user');
    assert.deepEqual(await withRequests('by-group'), expect((r) => r.principal?.groups ?? []), 'requests by group');
    assert.deepEqual((await rowsOf('by-client')).map((r) => [r[0], r[1]]).sort(), expect((r) => [clientFamily(r.user_agent)]), 'requests by client tool');
    assert.deepEqual((await rowsOf('by-refusal')).map((r) => [r[0], r[1]]).sort(), expect((r) => (r.status === 'rejected' ? [r.error_code ?? ''] : [])), 'refusals by reason');
    const approvals = (await (await fetch(`${t.gw.url}/admin/v1/approvals?limit=100`, { headers: { authorization: `Bearer ${t.adminKey}` } })).json()) as { data: { state: string; created_at: string; decided_at: string | null }[] };
    assert.equal(await page.textContent('#tile-approvals-requested strong'), String(approvals.data.length));
    assert.equal(await page.textContent('#tile-approvals-approved strong'), String(approvals.data.filter((a) => a.state === 'approved').length));
    assert.equal(await page.textContent('#tile-approvals-denied strong'), String(approvals.data.filter((a) => a.state === 'denied').length));
    const waits = approvals.data.filter((a) => a.decided_at).map((a) => Date.parse(a.decided_at!) - Date.parse(a.created_at));
    assert.equal(await page.textContent('#tile-approvals-avg strong'), `${waits.reduce((x, y) => x + y, 0) / waits.length / 1000} s`, 'the mean of 50 s and 20 s');
    assert.ok(Number(await page.getAttribute('#usage-chart', 'data-points')) >= 24, 'the chart has a point per hour of the range');
    const gpt4o = records.data.filter((r) => r.model === 'gpt-4o').length;
    const modelRow = page.locator('#by-model tr', { hasText: 'gpt-4o-mini' });
    assert.equal(await modelRow.locator('td').nth(1).textContent(), String(records.data.filter((r) => r.model === 'gpt-4o-mini').length));
    // Markup in recorded data is text: the name shows as typed, and nothing ran.
    assert.ok(await page.locator('#by-user td', { hasText: MARKUP }).count() === 1, 'the name with markup is listed as text');
    assert.equal(await page.locator('#by-user img').count(), 0, 'no element was made from data');
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    await page.screenshot({ path: join(SHOTS, 'usage-1280x800-light.png'), fullPage: true });

    // Drill down: the token count opens the exchanges it sums; the refused count the refused exchanges of the range;
    // a model's count that model's.
    await page.click('#tile-input a');
    await page.waitForSelector('#exchanges-range');
    assert.equal(await page.locator('main tbody tr').count(), records.data.length, 'the tokens tile opens the exchanges it sums');
    await page.goBack();
    await page.waitForSelector('#tile-refused a');
    await page.click('#tile-refused a');
    await page.waitForSelector('#exchanges-range');
    assert.equal(await page.locator('main tbody tr').count(), 1);
    assert.match(await page.textContent('main tbody tr') ?? '', /rejected/);
    await page.goBack();
    await page.waitForSelector('#by-model');
    await page.locator('#by-model tr').filter({ has: page.locator('td:first-child', { hasText: /^gpt-4o$/ }) }).locator('a').click();
    await page.waitForSelector('#exchanges-range');
    assert.equal(await page.locator('main tbody tr').count(), gpt4o);
    // A refusal reason's count opens the exchanges refused with that code.
    await page.goBack();
    await page.waitForSelector('#by-refusal a');
    await page.locator('#by-refusal tr', { hasText: 'unknown_model' }).locator('a').click();
    await page.waitForSelector('#exchanges-range');
    assert.match(await page.textContent('#exchanges-filter') ?? '', /refusal code unknown_model/);
    assert.equal(await page.locator('main tbody tr').count(), records.data.filter((r) => r.error_code === 'unknown_model').length);
    // The approval counts open the approvals behind them: the range's, by how they ended.
    for (const [tile, rows, state] of [['approved', 1, /approved/], ['denied', 1, /denied/], ['requested', 3, /pending/]] as const) {
      await page.goBack();
      await page.waitForSelector(`#tile-approvals-${tile} a`);
      await page.click(`#tile-approvals-${tile} a`);
      await page.waitForSelector('#approvals-scope');
      await page.waitForFunction((n) => document.querySelectorAll('main tbody tr').length === n, rows);
      assert.match(await page.textContent('main tbody') ?? '', state);
    }

    // The Errors tile and the group, client tool and finding type rows open exactly their exchanges; the list says
    // which filter is on, and clearing it shows the range's exchanges again.
    const ERRORS = ['upstream_error', 'incomplete', 'failed', 'client_aborted'];
    const typesOf = (r: (typeof records.data)[number]) => [...r.findings, ...(r.response_findings ?? [])].map((f) => f.type);
    const follow = async (open: () => Promise<void>, want: (r: (typeof records.data)[number]) => boolean, said: RegExp) => {
      await page.goto(`${t.gw.url}/console/#/usage`);
      await page.waitForSelector('#usage-chart canvas');
      await open();
      await page.waitForSelector('#exchanges-filter');
      assert.match(await page.textContent('#exchanges-filter') ?? '', said);
      const ids = await page.locator('main tbody tr td:first-child').evaluateAll((tds) => tds.map((td) => td.textContent ?? '').sort());
      const expected = records.data.filter(want).map((r) => r.id).sort();
      assert.ok(expected.length > 0, `${String(said)}: the seeded traffic has such exchanges`);
      assert.deepEqual(ids, expected, `${String(said)}: only the matching exchanges`);
    };
    const row = (id: string, value: string) => () => page.locator(`#${id} tr`).filter({ has: page.locator('td:first-child', { hasText: new RegExp(`^${value}$`) }) }).locator('a').click();
    await follow(() => page.click('#tile-errors a'), (r) => ERRORS.includes(r.status), /status upstream_error or incomplete or failed or client_aborted/);
    await follow(row('by-group', 'finance'), (r) => r.principal?.groups.includes('finance') ?? false, /group finance/);
    await follow(row('by-group', 'eng'), (r) => r.principal?.groups.includes('eng') ?? false, /group eng/);
    await follow(row('by-client', 'curl'), (r) => clientFamily(r.user_agent) === 'curl', /client tool curl/);
    await follow(row('by-client', 'openai-js'), (r) => clientFamily(r.user_agent) === 'openai-js', /client tool openai-js/);
    await follow(row('by-finding', 'EMAIL_ADDRESS'), (r) => typesOf(r).includes('EMAIL_ADDRESS'), /finding type EMAIL_ADDRESS/);
    await follow(row('by-finding', 'PHONE_NUMBER'), (r) => typesOf(r).includes('PHONE_NUMBER'), /finding type PHONE_NUMBER/);
    await page.screenshot({ path: join(SHOTS, 'exchanges-filtered-1280x800-light.png'), fullPage: true });
    await page.click('#exchanges-filter-clear');
    await page.waitForFunction(() => !document.querySelector('#exchanges-filter'));
    await page.waitForSelector('#exchanges-range');
    assert.equal(await page.locator('main tbody tr').count(), records.data.length, 'cleared: the range\'s exchanges');
    await page.close();
  });

  it('filters by group and works in a narrow window and in dark mode', async () => {
    const page = await dashboard({ width: 420, height: 800, dark: true });
    await page.fill('#usage-group', 'nobody-here');
    await page.click('form.filters button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#tile-requests strong')?.textContent === '0');
    await page.fill('#usage-group', 'eng');
    await page.click('form.filters button[type=submit]');
    const records = (await (await fetch(`${t.gw.url}/admin/v1/exchanges?limit=100`, { headers: { authorization: `Bearer ${t.adminKey}` } })).json()) as { data: { principal: { groups: string[] } | null }[] };
    const eng = String(records.data.filter((r) => r.principal?.groups.includes('eng')).length);
    await page.waitForFunction((n) => document.querySelector('#tile-requests strong')?.textContent === n, eng);
    const overflow = await page.evaluate(() => ({
      px: document.documentElement.scrollWidth - window.innerWidth,
      widest: Array.from(document.querySelectorAll('body *')).filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 3).map((e) => `${e.tagName}#${e.id}.${e.className}`),
    }));
    assert.ok(overflow.px <= 1, `no horizontal scrolling in a narrow window (overflow ${overflow.px}px: ${overflow.widest.join(', ')})`);
    await page.screenshot({ path: join(SHOTS, 'usage-420-dark.png'), fullPage: true });
    await page.close();
  });
});

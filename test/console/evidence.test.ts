import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './browser.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import { fakeCredential } from '../helpers/fake-credentials.ts';
import { finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * Readable evidence in real Chromium (issue #15 item 5), with a session of real traffic through the gateway from
 * the OpenAI and Anthropic SDKs (mock provider streaming with pauses between pieces): an exchange reads as a
 * conversation with its tool calls; findings are marked in place by type and action and their values are nowhere
 * in the page for an auditor (who gets them from the API); the diff shows the masked change; the decision names
 * its rule, linked to the policy version; the session replays at its recorded pace (order and recorded offsets,
 * pause holds it); markup in recorded data stays text; the list exports as CSV. Screenshots go to
 * test-output/console/; assertions are on content, never on pixels.
 */
const SHOTS = join(import.meta.dirname, '../../test-output/console');

const POLICY = `
version: 1
name: evidence
rules:
  - { id: eng-may-chat, effect: allow, subjects: { groups: [eng] } }
content:
  rules:
    - { id: mask-aws-keys, types: [SECRET_AWS_ACCESS_KEY], action: mask, direction: request }
    - { id: flag-emails, types: [EMAIL_ADDRESS], action: flag, direction: request }
`;

describe('readable evidence (Chromium)', () => {
  let t: TestGateway;
  let browser: Browser;
  let auditor: string;
  const AWS = fakeCredential.aws();
  const EMAIL = 'dana.secret@example.com';
  const MARKUP = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
  const ids: string[] = [];
  let policyVersion = '';
  const errors: string[] = [];

  const adminApi = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${t.gw.url}${path}`, { method, headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return (await r.json()) as Record<string, unknown>;
  };

  before(async () => {
    t = await startTestGateway({ mockChunks: 6, mockDelayMs: 40, extraYaml: 'auth:\n  key_cache_ttl_ms: 0\n  roles: { admin: [portcullis-admins], auditor: [auditors], user: [eng] }\n' });
    auditor = (await createApiKey(t.gw.store.apiKeys, { name: 'audrey', kind: 'user', groups: ['auditors'], expiresAt: null, createdBy: 'test' }, Date.now())).secret;
    const pushed = await adminApi('POST', '/admin/v1/policies', { source: POLICY });
    policyVersion = String(pushed.id);
    await adminApi('POST', `/admin/v1/policies/${policyVersion}/activate`, {});
    browser = await launchChromium();
    mkdirSync(SHOTS, { recursive: true });

    // One session (the client's own id): a streamed tool call, the tool's result and a streamed answer, then Anthropic.
    const session = { 'x-portcullis-session': 'trip-planning-1' };
    const openai = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0, defaultHeaders: session });
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const first = [
      { role: 'system' as const, content: 'You are a travel assistant. Be brief.' },
      { role: 'user' as const, content: `What is the weather in Paris? My AWS key is ${AWS}, write to ${EMAIL}. ${MARKUP}` },
    ];
    const s1 = await openai.chat.completions.create({ model: 'gpt-4o', stream: true, messages: first, tools }).withResponse();
    const call = { id: '', name: '', args: '' };
    for await (const chunk of s1.data) {
      const tc = chunk.choices[0]?.delta.tool_calls?.[0];
      if (tc?.id) call.id = tc.id;
      if (tc?.function?.name) call.name += tc.function.name;
      if (tc?.function?.arguments) call.args += tc.function.arguments;
    }
    ids.push(s1.response.headers.get('x-portcullis-exchange-id')!);
    const s2 = await openai.chat.completions.create({
      model: 'gpt-4o', stream: true, tools,
      messages: [...first, { role: 'assistant', content: null, tool_calls: [{ id: call.id, type: 'function', function: { name: call.name, arguments: call.args } }] },
        { role: 'tool', tool_call_id: call.id, content: '18 °C and sunny' }, { role: 'user', content: `Thanks! Please send it to ${EMAIL} as well.` }],
    }).withResponse();
    for await (const chunk of s2.data) void chunk;
    ids.push(s2.response.headers.get('x-portcullis-exchange-id')!);
    const anthropic = new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0, defaultHeaders: session });
    const s3 = anthropic.messages.stream({ model: 'claude-3-5-sonnet', max_tokens: 200, system: 'Answer with tools when you can.', messages: [{ role: 'user', content: 'And the weather in Rome?' }],
      tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }] });
    await s3.finalMessage();
    ids.push((await t.gw.store.exchanges.list({ limit: 10 })).find((x) => x.endpoint === 'anthropic.messages')!.id);
    // Outside the session: an OpenAI Responses call with instructions and a list of input items.
    const plain = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    const r4 = await plain.responses.create({ model: 'gpt-4o', instructions: 'Reply in French.', input: [{ role: 'user', content: 'Say hello to the team' }] }).withResponse();
    ids.push(r4.response.headers.get('x-portcullis-exchange-id')!);
    for (const id of ids) await finishedExchange(t.gw, id);
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  async function signedIn(o: { width?: number; height?: number; dark?: boolean } = {}): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: o.width ?? 1280, height: o.height ?? 800 }, colorScheme: o.dark ? 'dark' : 'light', acceptDownloads: true });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`${t.gw.url}/console/`);
    await page.fill('#token', auditor);
    await page.click('button[type=submit]');
    await page.waitForSelector('#whoami');
    return page;
  }

  /** Everything the page holds, markup and attributes included, not only what is visible. */
  const wholePage = (page: Page) => page.evaluate(() => document.documentElement.outerHTML);

  it('an exchange reads as a conversation: messages, the streamed tool call, findings by type and action — never their values', async () => {
    const api = (await (await fetch(`${t.gw.url}/admin/v1/exchanges/${ids[0]}`, { headers: { authorization: `Bearer ${auditor}` } })).json()) as { client_request: unknown };
    assert.ok(JSON.stringify(api.client_request).includes(AWS), 'the API gives this auditor the recorded value (so the page must be what hides it)');
    const page = await signedIn();
    await page.goto(`${t.gw.url}/console/#/exchanges/${ids[0]}`);
    await page.waitForSelector('#replay[data-state=done] .msg.assistant');
    assert.match(await page.textContent('.msg.system') ?? '', /You are a travel assistant\. Be brief\./);
    const user = page.locator('.msg.user').first();
    assert.match(await user.textContent() ?? '', /What is the weather in Paris\?/);
    assert.equal(await user.locator('mark.finding[data-type=SECRET_AWS_ACCESS_KEY]').textContent(), 'SECRET_AWS_ACCESS_KEY · masked');
    assert.equal(await user.locator('mark.finding[data-type=EMAIL_ADDRESS]').textContent(), 'EMAIL_ADDRESS · flagged');
    assert.match(await page.textContent('.tools') ?? '', /get_weather/);
    // The answer was streamed as a tool call: reassembled from its events, arguments and all.
    assert.equal(await page.textContent('.msg.assistant .tool-call .tool-name'), 'get_weather');
    assert.deepEqual(JSON.parse(await page.textContent('.msg.assistant .tool-call .args') ?? ''), { city: 'Paris', unit: 'celsius' });
    // Markup in the prompt is shown as the characters it is, and ran nothing.
    assert.ok((await user.textContent())!.includes(MARKUP));
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    await page.click('details.recorded summary');
    const html = await wholePage(page);
    assert.ok(!html.includes(AWS), 'the masked value is nowhere in the page');
    assert.ok(!html.includes(EMAIL), 'nor the flagged one');
    await page.screenshot({ path: join(SHOTS, 'exchange-1280x800-light.png'), fullPage: true });
    await page.close();
  });

  it('shows what the gateway changed as a diff, and the decision in words with its rules linked to the policy version', async () => {
    const page = await signedIn();
    await page.goto(`${t.gw.url}/console/#/exchanges/${ids[0]}`);
    await page.waitForSelector('#body-diff');
    // The client's line (the value as a mark) against the provider's (the mask the provider received).
    assert.equal(await page.locator('#body-diff .line.del del mark.finding').first().getAttribute('data-type'), 'SECRET_AWS_ACCESS_KEY');
    assert.match(await page.locator('#body-diff .line.ins ins').allTextContents().then((x) => x.join('')), /SECRET_AWS_ACCESS_KEY/);
    assert.equal(await page.locator('#body-diff .line.del', { hasText: 'What is the weather' }).count(), 1, 'the prompt\'s line is changed once');
    assert.equal(await page.locator('#body-diff .line.del mark.finding').count(), 2, 'the client\'s values show as marks');
    const decision = await page.textContent('#decision') ?? '';
    assert.match(decision, /Allowed: allowed by rule eng-may-chat\./);
    assert.match(decision, /SECRET_AWS_ACCESS_KEY in the request masked by rule mask-aws-keys/);
    assert.match(decision, /EMAIL_ADDRESS in the request flagged by rule flag-emails/);
    assert.equal(await page.getAttribute('#decision a.rule >> nth=0', 'href'), `#/policies/${policyVersion}?rule=eng-may-chat`);
    await page.click('#decision a.rule >> nth=0');
    await page.waitForSelector('#policy-source');
    assert.match(await page.textContent('main h1') ?? '', new RegExp(policyVersion));
    assert.match(await page.textContent('mark.rule-line') ?? '', /id: eng-may-chat/, 'the rule is marked in the version\'s YAML');
    await page.close();
  });

  it('an Anthropic exchange: system, user and the streamed tool_use block reassembled', async () => {
    const page = await signedIn();
    await page.goto(`${t.gw.url}/console/#/exchanges/${ids[2]}`);
    await page.waitForSelector('#replay[data-state=done] .msg.assistant');
    assert.match(await page.textContent('.msg.system') ?? '', /Answer with tools when you can\./);
    assert.equal(await page.textContent('.msg.assistant .tool-call .tool-name'), 'get_weather');
    assert.deepEqual(JSON.parse(await page.textContent('.msg.assistant .tool-call .args') ?? ''), { city: 'Rome', unit: 'celsius' });
    assert.equal(await page.textContent('#body-diff, .upstream-note'), 'The provider received the same bytes the client sent.');
    await page.close();
  });

  it('an OpenAI Responses exchange: instructions as the system message, input items, the output text', async () => {
    const page = await signedIn();
    await page.goto(`${t.gw.url}/console/#/exchanges/${ids[3]}`);
    await page.waitForSelector('#replay[data-state=done] .msg.assistant');
    assert.equal(await page.textContent('.msg.system .text'), 'Reply in French.');
    assert.equal(await page.textContent('.msg.user .text'), 'Say hello to the team');
    assert.match(await page.textContent('.msg.assistant .text') ?? '', /Say hello to the team/);
    await page.close();
  });

  it('replays the session at its recorded pace: in order, each piece no sooner than its recorded offset; pause holds it', async () => {
    const page = await signedIn({ width: 1280, height: 800 });
    const sessions = (await (await fetch(`${t.gw.url}/admin/v1/sessions`, { headers: { authorization: `Bearer ${auditor}` } })).json()) as { data: { id: string; exchange_count: number }[] };
    const session = sessions.data.find((s) => s.exchange_count === 3)!;
    await page.goto(`${t.gw.url}/console/#/sessions/${session.id}`);
    await page.waitForSelector('#replay[data-state=done]');
    assert.deepEqual(await page.locator('#replay-stage article').evaluateAll((a) => a.map((x) => x.getAttribute('data-exchange'))), ids.slice(0, 3), 'the exchanges in the order they happened');
    // The tool's result and the second user turn, as the client sent them.
    assert.match(await page.textContent('#replay-stage article:nth-child(2) .tool-result') ?? '', /18 °C and sunny/);
    // Watch every piece of answer as it is added: its recorded offset and when it appeared.
    await page.evaluate(() => {
      const seen: { t: number; at: number; text: string }[] = [];
      const w = window as unknown as { __seen: typeof seen; __observer: MutationObserver };
      w.__seen = seen;
      w.__observer = new MutationObserver((records) => {
        for (const r of records) for (const n of Array.from(r.addedNodes)) {
          if (!(n instanceof HTMLElement)) continue;
          for (const c of [n, ...Array.from(n.querySelectorAll<HTMLElement>('.chunk'))]) if (c.classList.contains('chunk')) seen.push({ t: Number(c.dataset.t), at: performance.now(), text: c.textContent ?? '' });
        }
      });
      w.__observer.observe(document.getElementById('replay-stage')!, { childList: true, subtree: true });
    });
    const speed = 2;
    await page.selectOption('#replay-speed', String(speed));
    await page.click('#replay-play');
    assert.equal(await page.getAttribute('#replay', 'data-state'), 'playing');
    await page.waitForSelector('#replay[data-state=done]', { timeout: 30_000 });
    const seen = await page.evaluate(() => (window as unknown as { __seen: { t: number; at: number; text: string }[] }).__seen);
    assert.ok(seen.length >= 6, `the streamed answers arrive in pieces (${seen.length}; ${await page.locator('#replay-stage .chunk').count()} on the page: ${errors.join('; ')})`);
    for (let i = 1; i < seen.length; i++) {
      assert.ok(seen[i]!.t >= seen[i - 1]!.t, `piece ${i} appeared after a piece recorded later (${seen[i - 1]!.t} ms, then ${seen[i]!.t} ms)`);
      // A timer never fires early: each piece appears no sooner than its recorded distance from the first, at this speed.
      assert.ok(seen[i]!.at - seen[0]!.at >= (seen[i]!.t - seen[0]!.t) / speed - 2, `piece ${i} came ahead of its recorded time`);
    }
    assert.ok(seen.at(-1)!.t - seen[0]!.t >= 200, 'the recorded pieces span the recorded pauses of the streams');
    // Each piece's time is a recorded one: the offset of its exchange in the session (recorded starts and durations,
    // a pause between exchanges shortened to 2 s) plus the offset its stream event was recorded at (events[].t_ms).
    const recorded = (await (await fetch(`${t.gw.url}/admin/v1/sessions/${session.id}`, { headers: { authorization: `Bearer ${auditor}` } })).json()) as { exchanges: { started_at: string; timings: { total_ms?: number } | null; events?: { t_ms: number }[] }[] };
    const recordedTimes = new Set<number>();
    let offset = 0;
    let prevEnd: number | undefined;
    for (const x of recorded.exchanges) {
      const started = Date.parse(x.started_at);
      if (prevEnd !== undefined) offset += Math.min(Math.max(started - prevEnd, 0), 2000);
      const last = Math.max(0, ...(x.events ?? []).map((e) => e.t_ms));
      for (const e of x.events ?? []) recordedTimes.add(offset + e.t_ms);
      const span = Math.max(x.timings?.total_ms ?? 0, last);
      offset += span;
      prevEnd = started + span;
    }
    for (const p of seen) assert.ok(recordedTimes.has(p.t), `piece at ${p.t} ms is not at a recorded event time (${[...recordedTimes].slice(0, 12).join(', ')}…)`);
    const played = await page.locator('#replay-stage').textContent();
    // The replay ends as the page began: the whole session.
    await page.click('#replay-all');
    assert.equal(await page.locator('#replay-stage').textContent(), played);

    // Pause holds the replay where it is; resume finishes it.
    await page.selectOption('#replay-speed', '0.5');
    await page.click('#replay-restart');
    await page.waitForFunction(() => document.querySelectorAll('#replay-stage .chunk').length >= 2);
    await page.click('#replay-play');
    assert.equal(await page.getAttribute('#replay', 'data-state'), 'paused');
    const held = await page.locator('#replay-stage .chunk').count();
    await page.waitForTimeout(600);
    assert.equal(await page.locator('#replay-stage .chunk').count(), held, 'nothing is added while paused');
    await page.click('#replay-play');
    await page.selectOption('#replay-speed', '10');
    await page.waitForSelector('#replay[data-state=done]', { timeout: 30_000 });
    const html = await wholePage(page);
    assert.ok(!html.includes(AWS) && !html.includes(EMAIL), 'no finding value in the replayed session');
    // The provider echoed the flagged address in a streamed answer, cut in pieces: no piece of it was ever shown.
    assert.equal(await page.locator('#replay-stage article:nth-child(2) .answer mark.finding[data-type=EMAIL_ADDRESS]').count(), 1);
    const pieces = seen.map((x) => x.text);
    for (const p of pieces) for (let n = 6; n < EMAIL.length; n++) for (let i = 0; i + n <= EMAIL.length; i++) assert.ok(!p.includes(EMAIL.slice(i, i + n)) || p === EMAIL, `a piece shows part of the address: ${p}`);
    await page.screenshot({ path: join(SHOTS, 'session-replay-1280x800-light.png'), fullPage: true });
    await page.close();
  });

  it('works in a narrow window in dark mode, by keyboard', async () => {
    const page = await signedIn({ width: 420, height: 800, dark: true });
    await page.goto(`${t.gw.url}/console/#/exchanges/${ids[1]}`);
    await page.waitForSelector('#replay[data-state=done] .msg.assistant');
    assert.match(await page.textContent('.msg.tool .tool-result') ?? '', /18 °C and sunny/);
    assert.equal(await page.locator('.msg.assistant.tool').count(), 0);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `no horizontal scrolling in a narrow window (${overflow}px)`);
    // The player's controls are reachable and usable from the keyboard.
    await page.focus('#replay-play');
    await page.keyboard.press('Enter');
    assert.equal(await page.getAttribute('#replay', 'data-state'), 'playing');
    assert.equal(await page.getAttribute('#replay-speed', 'id'), 'replay-speed');
    assert.match(await page.locator('label', { has: page.locator('#replay-speed') }).textContent() ?? '', /Speed/);
    await page.waitForSelector('#replay[data-state=done]', { timeout: 30_000 });
    await page.screenshot({ path: join(SHOTS, 'exchange-420-dark.png'), fullPage: true });
    await page.close();
  });

  it('exports the filtered list as CSV and as JSONL from the console', async () => {
    const page = await signedIn();
    await page.goto(`${t.gw.url}/console/#/exchanges?model=gpt-4o`);
    await page.waitForSelector('#export-csv');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
    assert.match(download.suggestedFilename(), /^exchanges-.*\.csv$/);
    const lines = readFileSync((await download.path()), 'utf8').trim().split('\r\n');
    assert.match(lines[0]!, /^id,started_at,/);
    assert.deepEqual(lines.slice(1).map((l) => l.split(',')[0]).sort(), [ids[0], ids[1], ids[3]].sort(), 'exactly the listed gpt-4o exchanges');
    assert.match(await page.textContent('#export-status') ?? '', /Exported/);
    // The same list as JSON Lines: one exchange summary per line, the same ids.
    const [jsonl] = await Promise.all([page.waitForEvent('download'), page.click('#export-jsonl')]);
    assert.match(jsonl.suggestedFilename(), /^exchanges-.*\.jsonl$/);
    const docs = readFileSync((await jsonl.path()), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; model: string });
    assert.deepEqual(docs.map((d) => d.id).sort(), [ids[0], ids[1], ids[3]].sort(), 'exactly the listed gpt-4o exchanges');
    assert.ok(docs.every((d) => d.model === 'gpt-4o'));
    await page.close();
  });
});

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import type { Browser } from 'playwright-core';
import { launchChromium } from './browser.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * The investigations page in real Chromium (issue #15 item 3): refusals open an investigation; the list and the
 * detail show what happened and link the exchanges behind it; markup in the data (a requested model, a note) stays
 * text; an admin notes, assigns, lifts the suspension (the caller is let through again) and closes it.
 * Screenshots to test-output/console/.
 */
const SHOTS = join(import.meta.dirname, '../../test-output/console');
const MARKUP = '<img src=x onerror="window.__pwned=1">';

/** A gateway whose one alert rule is `rule` (YAML flow mapping), evaluated and re-read fast. */
const gatewayWithRule = (rule: string) => startTestGateway({ extraYaml: `alerts:\n  eval_interval_ms: 100\n  suspension_refresh_ms: 200\n  rules:\n    - ${rule}\n` });

describe('investigations (Chromium)', () => {
  let t: TestGateway;
  let browser: Browser;

  before(async () => {
    t = await gatewayWithRule('{ id: refusal-burst, kind: refusals, threshold: 2, window_minutes: 5, severity: high, respond: suspend }');
    browser = await launchChromium();
    mkdirSync(SHOTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  const ask = (model: string) => new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 }).chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });

  it('lists the investigation, shows its exchanges as links and its data as text; note, assign, lift, close', async () => {
    for (let i = 0; i < 2; i++) await assert.rejects(ask(MARKUP));
    await eventually(async () => (await t.gw.alerts.suspensions.refresh(), t.gw.alerts.suspensions.list().length > 0 ? true : undefined), 10_000);
    await assert.rejects(ask('gpt-4o'), /suspended/);

    const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await p.goto(`${t.gw.url}/console/#/investigations`);
    await p.fill('#token', t.adminKey);
    await p.click('button[type=submit]');
    await p.waitForSelector('#investigations tbody tr');
    const row = (await p.textContent('#investigations tbody tr')) ?? '';
    assert.match(row, /high.*open.*refusal-burst.*2 refusals by user:alice within 5 min/);
    await p.screenshot({ path: join(SHOTS, 'investigations-1280x800.png'), fullPage: true });

    await p.click('#investigations tbody tr a');
    await p.waitForSelector('#inv-facts');
    assert.match((await p.textContent('#inv-suspended')) ?? '', /user:alice is suspended/);
    const links = await p.$$eval('#inv-exchanges a', (as) => as.map((a) => a.getAttribute('href')));
    assert.equal(links.length, 2);
    for (const l of links) assert.match(l ?? '', /^#\/exchanges\/ex_/);
    assert.match((await p.textContent('#inv-exchanges')) ?? '', /rejected.*unknown_model/);

    await p.fill('#inv-note', `checked ${MARKUP}`);
    await p.click('#inv-note-form button[type=submit]');
    await p.waitForSelector('#inv-notes td:has-text("checked")');
    assert.ok(((await p.textContent('#inv-notes')) ?? '').includes(MARKUP), 'the note is shown as the characters it is');
    assert.equal(await p.locator('#inv-notes img').count(), 0, 'no element was made from data');
    await p.click('#inv-assign');
    await p.waitForSelector('#inv-facts dd:has-text("assigned")');
    await p.screenshot({ path: join(SHOTS, 'investigation-1280x800.png'), fullPage: true });

    await p.click('#inv-lift');
    await p.waitForSelector('#inv-suspended', { state: 'detached' });
    await eventually(async () => ask('gpt-4o').then(() => true, () => undefined), 5000);

    await p.fill('#inv-resolution', 'a client misconfiguration');
    await p.click('#inv-close-form button[type=submit]');
    await p.waitForSelector('#inv-facts dd:has-text("a client misconfiguration")');
    assert.equal(await p.locator('#inv-close-form').count(), 0, 'a closed investigation offers no more changes');
    await p.setViewportSize({ width: 420, height: 800 });
    await p.screenshot({ path: join(SHOTS, 'investigation-420.png'), fullPage: true });
    assert.equal(await p.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined, 'nothing ran');
    await p.close();
  });
});

describe('investigations (Chromium): a hold for approval is not called a suspension', () => {
  let t: TestGateway;
  let browser: Browser;

  before(async () => {
    t = await gatewayWithRule('{ id: odd-models, kind: refusals, codes: [unknown_model], threshold: 2, window_minutes: 5, severity: medium, respond: require_approval, approvers: [sec] }');
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('words the response by its mode (held for approval by the approver groups) and lifts it', async () => {
    const ask = (model: string) => new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 }).chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
    for (let i = 0; i < 2; i++) await assert.rejects(ask('not-routed'));
    await eventually(async () => (await t.gw.alerts.suspensions.refresh(), t.gw.alerts.suspensions.list().length > 0 ? true : undefined), 10_000);

    const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await p.goto(`${t.gw.url}/console/#/investigations`);
    await p.fill('#token', t.adminKey);
    await p.click('button[type=submit]');
    await p.waitForSelector('#investigations tbody tr a');
    await p.click('#investigations tbody tr a');
    await p.waitForSelector('#inv-suspended');
    const said = (await p.textContent('#inv-suspended')) ?? '';
    assert.match(said, /user:alice is held for approval: each of its requests waits for an approver of sec/);
    assert.doesNotMatch(said, /suspended|refused/, 'a hold is not described as a suspension');
    assert.equal(await p.textContent('#inv-lift'), 'Lift approval requirement');
    await p.click('#inv-lift');
    await p.waitForSelector('#inv-suspended', { state: 'detached' });
    assert.equal(t.gw.alerts.suspensions.list().length, 0, 'lifted');
    await p.close();
  });
});

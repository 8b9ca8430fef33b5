import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import type { Browser, Page } from 'playwright-core';
import { APPROVAL_POLICY as POLICY, CONSOLE_AUTH_YAML } from './approval-policy.ts';
import { launchChromium } from './browser.ts';
import { eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * Every page of the console in real Chromium with seeded traffic (issue #15 item 6 and its Tests): each page renders
 * its data at 1280×800 in light mode and in a 420 px window in dark mode without horizontal scrolling; every control
 * has a label a screen reader announces; every link, button and field is reachable with the Tab key; a screenshot of
 * each page in both modes is written to test-output/console/page-*.png for a person to look at (the assertions are on
 * content, never on pixels).
 */
const SHOTS = join(import.meta.dirname, '../../test-output/console');


describe('every console page (Chromium): light and dark, 1280×800 and 420 px, labelled, by keyboard', () => {
  let t: TestGateway;
  let browser: Browser;
  const pages: [name: string, hash: string, ready: string][] = [];
  /** Pages walked with the Tab key (each press is a round trip to the browser); every page gets the static check. */
  const TAB_WALKED = new Set(['usage', 'investigation', 'approval', 'session', 'admin']);

  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${t.gw.url}${path}`, {
      method, headers: { authorization: `Bearer ${t.adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (await r.json()) as Record<string, unknown> & { data?: { id: string }[] };
  };

  before(async () => {
    t = await startTestGateway({
      extraYaml: `
${CONSOLE_AUTH_YAML}alerts:
  eval_interval_ms: 100
  rules:
    - { id: refusal-burst, kind: refusals, threshold: 2, window_minutes: 5, severity: high }
`,
    });
    const pushed = await api('POST', '/admin/v1/policies', { source: POLICY });
    await api('POST', `/admin/v1/policies/${String(pushed.id)}/activate`, {});
    // Seeded traffic: a conversation, a request held for approval, two refusals that open an investigation.
    const alice = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'plan the offsite' }];
    const first = await alice.chat.completions.create({ model: 'gpt-4o', messages });
    await alice.chat.completions.create({ model: 'gpt-4o', messages: [...messages, first.choices[0]!.message, { role: 'user', content: 'and the budget?' }] });
    await assert.rejects(alice.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'charge 4111 1111 1111 1111' }] }), /approval/);
    for (let i = 0; i < 2; i++) await assert.rejects(alice.chat.completions.create({ model: 'not-routed', messages: [{ role: 'user', content: 'hi' }] }));
    const investigation = await eventually(async () => (await api('GET', '/admin/v1/investigations')).data?.[0]?.id, 20_000);
    const approval = (await api('GET', '/admin/v1/approvals')).data![0]!.id;
    const exchange = (await api('GET', '/admin/v1/exchanges')).data![0]!.id;
    const session = (await api('GET', '/admin/v1/sessions')).data![0]!.id;
    pages.push(
      ['usage', '#/usage', '#usage-chart canvas'],
      ['investigations', '#/investigations', '#investigations tbody tr'],
      ['investigation', `#/investigations/${investigation}`, '#inv-facts'],
      ['approvals', '#/approvals?state=all', 'main tbody tr'],
      ['approval', `#/approvals/${approval}`, '#approval-state'],
      ['exchanges', '#/exchanges', 'main tbody tr'],
      ['exchange', `#/exchanges/${exchange}`, 'main h1 code'],
      ['sessions', '#/sessions', 'main tbody tr'],
      ['session', `#/sessions/${session}`, '#replay[data-state=done]'],
      ['policies', '#/policies', 'main tbody tr'],
      ['policy', `#/policies/${String(pushed.id)}`, 'main pre'],
      ['audit', '#/audit', 'main h1'],
      ['admin', '#/admin', '#keys tbody tr'],
    );
    browser = await launchChromium();
    mkdirSync(SHOTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  /** Controls without a name a screen reader could announce (a label, aria-label or aria-labelledby, or a button's text). */
  const unlabelled = (page: Page) => page.evaluate(() => Array.from(document.querySelectorAll<HTMLElement>('input, select, textarea, button'))
    .filter((e) => e.getClientRects().length > 0 && (e as HTMLInputElement).type !== 'hidden')
    .filter((e) => {
      const aria = e.getAttribute('aria-label')?.trim() || (e.getAttribute('aria-labelledby') && document.getElementById(e.getAttribute('aria-labelledby')!)?.textContent?.trim());
      if (aria) return false;
      if (e instanceof HTMLButtonElement) return !e.textContent?.trim();
      const labels = (e as HTMLInputElement).labels;
      return !labels || !Array.from(labels).some((l) => l.textContent?.trim());
    })
    .map((e) => `${e.tagName.toLowerCase()}#${e.id}[name=${e.getAttribute('name') ?? ''}]`));

  /** Controls removed from sequential focus (tabindex < 0), and click targets that are not controls (role=button on a span). */
  const outOfTabOrder = (page: Page) => page.evaluate(() => Array.from(document.querySelectorAll<HTMLElement>('a[href], button, input, select, textarea, [role=button], [onclick]'))
    .filter((e) => e.getClientRects().length > 0 && e.tabIndex < 0)
    .map((e) => `${e.tagName.toLowerCase()}#${e.id}`));

  /** Tabs through the page; returns the visible focusable elements of header and main that Tab never reached. */
  async function notReachedByTab(page: Page): Promise<string[]> {
    // A click on the header's empty corner puts the start of sequential focus navigation at the top of the page.
    await page.mouse.click(1, 1);
    await page.evaluate(() => {
      const w = window as unknown as { __focused: Set<Element> };
      w.__focused = new Set();
      document.addEventListener('focusin', (e) => w.__focused.add(e.target as Element));
    });
    const focusable = 'a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])';
    const n = await page.locator(`header :is(${focusable}), main :is(${focusable})`).count();
    for (let i = 0; i < n + 3; i++) await page.keyboard.press('Tab');
    return page.evaluate((sel) => {
      const focused = (window as unknown as { __focused: Set<Element> }).__focused;
      return Array.from(document.querySelectorAll(`header :is(${sel}), main :is(${sel})`))
        .filter((e) => e.getClientRects().length > 0 && !focused.has(e))
        .map((e) => `${e.tagName.toLowerCase()}#${e.id} "${(e.textContent ?? '').trim().slice(0, 30)}"`);
    }, focusable);
  }

  async function visit(mode: { width: number; dark: boolean }, check: (page: Page, name: string) => Promise<void>): Promise<void> {
    const page = await browser.newPage({ viewport: { width: mode.width, height: 800 }, colorScheme: mode.dark ? 'dark' : 'light' });
    page.on('dialog', (d) => void d.dismiss());
    await page.goto(`${t.gw.url}/console/`);
    await page.waitForSelector('#token');
    await page.screenshot({ path: join(SHOTS, `page-sign-in-${mode.width}-${mode.dark ? 'dark' : 'light'}.png`), fullPage: true });
    assert.deepEqual(await unlabelled(page), [], 'sign-in: every control is labelled');
    await page.fill('#token', t.adminKey);
    await page.click('button[type=submit]');
    await page.waitForSelector('#whoami');
    for (const [name, hash, ready] of pages) {
      await page.goto(`${t.gw.url}/console/${hash}`);
      await page.waitForSelector(ready, { timeout: 30_000 }).catch(async (err: unknown) => {
        throw new Error(`${name}: ${ready} never appeared; main: ${(await page.textContent('main'))?.slice(0, 300)}`, { cause: err });
      });
      // allTextContents does not wait for an element (textContent would wait 30 s for one that is not there).
      assert.deepEqual(await page.locator('main .error').allTextContents(), [], `${name}: no error shown`);
      assert.ok((await page.textContent('main h1'))?.trim(), `${name}: the page has a heading`);
      await check(page, name);
      await page.screenshot({ path: join(SHOTS, `page-${name}-${mode.width === 1280 ? '1280x800' : mode.width}-${mode.dark ? 'dark' : 'light'}.png`), fullPage: true });
    }
    await page.close();
  }

  /** The relative luminance (0 black … 1 white) of the page's text colour as the browser computed it. */
  const textLuminance = (page: Page) => page.evaluate(() => {
    const c = getComputedStyle(document.body).color.match(/\d+(\.\d+)?/g)!.map(Number);
    return (0.2126 * c[0]! + 0.7152 * c[1]! + 0.0722 * c[2]!) / 255;
  });

  it('at 1280×800 in light mode: every page shows its data, every control is labelled and reachable by Tab', { timeout: 900_000 }, async () => {
    await visit({ width: 1280, dark: false }, async (page, name) => {
      assert.ok(await textLuminance(page) < 0.5, `${name}: dark text (on the light canvas) in light mode`);
      assert.deepEqual(await unlabelled(page), [], `${name}: every control is labelled`);
      assert.deepEqual(await outOfTabOrder(page), [], `${name}: no link, button or field is taken out of the Tab order`);
      if (TAB_WALKED.has(name)) assert.deepEqual(await notReachedByTab(page), [], `${name}: every link, button and field is reached by Tab`);
    });
  });

  it('in a 420 px window in dark mode: every page without horizontal scrolling', { timeout: 900_000 }, async () => {
    await visit({ width: 420, dark: true }, async (page, name) => {
      assert.ok(await textLuminance(page) > 0.5, `${name}: light text (on the dark canvas) in dark mode`);
      const overflow = await page.evaluate(() => ({
        px: document.documentElement.scrollWidth - window.innerWidth,
        widest: Array.from(document.querySelectorAll('body *')).filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 3).map((e) => `${e.tagName}#${e.id}.${e.className}`),
      }));
      assert.ok(overflow.px <= 1, `${name}: no horizontal scrolling at 420 px (overflow ${overflow.px}px: ${overflow.widest.join(', ')})`);
    });
  });
});

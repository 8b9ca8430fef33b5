import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createApiKey } from '../../src/identity/key-service.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * The web console in real Chromium (Debian's, test/console/APT_PACKAGES) against a real gateway composed by
 * main.ts: an approver decides a held request in the browser and the requester's retry goes through; an auditor
 * reads exchanges and verifies the trail; the attacks that must fail (markup in a prompt, self-approval, a bad
 * credential, paths outside the console) fail. If Chromium is missing this suite fails — it is never skipped.
 */
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)) ?? '/usr/bin/chromium';

// Cards make a request confidential; confidential requests from eng wait for a decision by sec (deferred mode).
const POLICY = `
version: 1
name: console
sensitivity: { levels: [public, confidential], default: public, findings: { CREDIT_CARD: confidential } }
rules:
  - { id: eng, effect: allow, subjects: { groups: [eng] } }
  - { id: eng-confidential, effect: require_approval, subjects: { groups: [eng] }, sensitivity: [confidential], approval: { mode: deferred, approver_groups: [sec] } }
content:
  rules: [{ id: flag-cards, types: [CREDIT_CARD], action: flag }]
`;

describe('web console (Chromium)', () => {
  let t: TestGateway;
  let browser: Browser;
  let keys: { bob: string; auditor: string };
  const CARD = '4111 1111 1111 1111';
  // Markup a careless console would run: an attribute handler and a script, each setting a flag.
  const MARKUP = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';

  const api = async (key: string, method: string, path: string, body?: unknown) => {
    const r = await fetch(`${t.gw.url}${path}`, {
      method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };

  async function signedIn(key: string): Promise<Page> {
    const page = await browser.newPage();
    page.on('dialog', (d) => void d.dismiss());
    await page.goto(`${t.gw.url}/console/`);
    await page.fill('#token', key);
    await page.click('button[type=submit]');
    await page.waitForSelector('#whoami');
    return page;
  }

  before(async () => {
    t = await startTestGateway({
      extraYaml: `
auth:
  key_cache_ttl_ms: 0
  roles: { admin: [portcullis-admins], approver: [sec], auditor: [auditors], user: [eng, sec] }
approvals:
  poll_ms: 50
`,
    });
    const mk = async (name: string, groups: string[]) => (await createApiKey(t.gw.store.apiKeys, { name, kind: 'user', groups, expiresAt: null, createdBy: 'test' }, Date.now())).secret;
    keys = { bob: await mk('bob', ['sec']), auditor: await mk('audrey', ['auditors']) };
    const pushed = await api(t.adminKey, 'POST', '/admin/v1/policies', { source: POLICY });
    assert.equal(pushed.status, 201, JSON.stringify(pushed.json));
    assert.equal((await api(t.adminKey, 'POST', `/admin/v1/policies/${String(pushed.json.id)}/activate`, {})).status, 200);
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],  // a fresh temporary profile per launch (Playwright's own)
    });
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('an approver approves a held request in the browser: findings masked, markup inert; the requester\'s retry goes through', async () => {
    const alice = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    const ask = () => alice.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `charge ${CARD} for ${MARKUP}` }] });
    const refused = await ask().then(() => assert.fail('expected approval_required'), (err: { status: number; message: string }) => err);
    assert.equal(refused.status, 403);
    const id = /Approval (apr_[A-Za-z0-9_-]+)/.exec(refused.message)?.[1];
    assert.ok(id, refused.message);

    const page = await signedIn(keys.bob);
    assert.match(await page.textContent('#whoami') ?? '', /user:bob \(.*approver/);
    await page.click(`a[href="#/approvals/${id}"]`);
    await page.waitForSelector('#approval-state');
    const request = await page.textContent('pre') ?? '';
    assert.match(request, /\[CREDIT_CARD\]/, 'the finding is masked');
    assert.ok(!request.includes(CARD), 'the card number is not shown');
    assert.ok(request.includes('onerror=\\"window.__pwned=1\\"'), 'the markup is shown as text');
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined, 'no markup from the prompt ran');
    assert.equal(await page.locator('main img, main script').count(), 0, 'no element was made from the prompt');

    await page.fill('textarea[name=reason]', 'customer asked for it');
    await page.click('button.approve');
    await page.waitForFunction(() => document.getElementById('approval-state')?.textContent === 'approved');
    assert.match(await page.textContent('main') ?? '', /customer asked for it/, 'the vote and its reason are shown');
    const answer = await ask();
    assert.ok(answer.choices[0]?.message.content, 'the approved request went through');

    // The credential lives in this tab's sessionStorage only: never in localStorage, cookies or the URL.
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    assert.deepEqual(await page.context().cookies(), []);
    assert.ok(!page.url().includes(keys.bob.slice(-12)));
    await page.click('#who button');
    await page.waitForSelector('#token');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'signing out forgets the credential');
    await page.close();
  });

  it('attack: the requester cannot approve their own request from the console; a bad credential is refused', async () => {
    const alice = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    const refused = await alice.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `card ${CARD} again` }] })
      .then(() => assert.fail('expected approval_required'), (err: { message: string }) => err);
    const id = /Approval (apr_[A-Za-z0-9_-]+)/.exec(refused.message)![1]!;
    const page = await signedIn(t.userKey);
    await page.goto(`${t.gw.url}/console/#/approvals/${id}`);
    await page.waitForSelector('#approval-state');
    assert.equal(await page.locator('pre').count(), 0, 'the requester does not see the held prompt');
    await page.click('button.approve');
    await page.waitForSelector('.decide .error');
    assert.match(await page.textContent('.decide .error') ?? '', /self_approval|own request/i);
    assert.equal((await api(keys.bob, 'GET', `/admin/v1/approvals/${id}`)).json.state, 'pending', 'still pending');
    await page.close();

    const stranger = await browser.newPage();
    await stranger.goto(`${t.gw.url}/console/`);
    await stranger.fill('#token', 'pcl_aaaaaaaa_' + 'A'.repeat(43));
    await stranger.click('button[type=submit]');
    await stranger.waitForSelector('[role=status] .error');
    assert.equal(await stranger.locator('#nav').isHidden(), true);
    assert.equal(await stranger.evaluate(() => sessionStorage.length), 0, 'a refused credential is not kept');
    await stranger.close();
  });

  it('an auditor reads a recorded exchange and verifies the audit trail', async () => {
    const page = await signedIn(keys.auditor);
    await page.goto(`${t.gw.url}/console/#/exchanges?subject=user:alice`);
    await page.waitForSelector('main table a[href^="#/exchanges/"]');
    await page.click('main table a[href^="#/exchanges/"]');
    await page.waitForSelector('main h2');
    const detail = await page.textContent('main') ?? '';
    assert.match(detail, /client request/);
    assert.match(detail, /user:alice/);
    await page.goto(`${t.gw.url}/console/#/audit`);
    await page.click('#verify');
    await page.waitForSelector('#verify-result');
    assert.match(await page.textContent('#verify-result') ?? '', /^VERIFIED/);
    await page.close();
  });

  it('the console is served with a strict CSP, and only its own three files', async () => {
    const res = await fetch(`${t.gw.url}/console/`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy') ?? '';
    for (const d of ["script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "default-src 'none'"]) assert.ok(csp.includes(d), `CSP has ${d}`);
    assert.ok(!csp.includes('unsafe-inline'));
    for (const path of ['/console/..%2Fpackage.json', '/console/%2E%2E%2Fsrc%2Fmain.ts', '/console/routes.ts', '/console/index.html']) {
      assert.equal((await fetch(`${t.gw.url}${path}`)).status, 404, path);
    }
    assert.equal((await fetch(`${t.gw.url}/console/app.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
  });
});

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import type { Browser, Page } from 'playwright-core';
import { APPROVAL_POLICY as POLICY, CONSOLE_AUTH_YAML } from './approval-policy.ts';
import { launchChromium } from './browser.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import { finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestIdp, type TestIdp } from '../identity/oidc-idp.ts';

/**
 * The web console in real Chromium (Debian's, test/console/APT_PACKAGES) against a real gateway composed by
 * main.ts: an approver decides a held request in the browser and the requester's retry goes through; an auditor
 * reads exchanges and verifies the trail; the attacks that must fail (markup in a prompt, self-approval, a bad
 * credential, paths outside the console) fail. If Chromium is missing this suite fails — it is never skipped.
 */

/** A port nobody listens on now (the IdP must know the gateway's callback URL before the gateway starts). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}


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
${CONSOLE_AUTH_YAML}approvals:
  poll_ms: 50
`,
    });
    const mk = async (name: string, groups: string[]) => (await createApiKey(t.gw.store.apiKeys, { name, kind: 'user', groups, expiresAt: null, createdBy: 'test' }, Date.now())).secret;
    keys = { bob: await mk('bob', ['sec']), auditor: await mk('audrey', ['auditors']) };
    const pushed = await api(t.adminKey, 'POST', '/admin/v1/policies', { source: POLICY });
    assert.equal(pushed.status, 201, JSON.stringify(pushed.json));
    assert.equal((await api(t.adminKey, 'POST', `/admin/v1/policies/${String(pushed.json.id)}/activate`, {})).status, 200);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('an approver approves a held request in the browser: findings masked, markup inert; the requester\'s retry goes through', async () => {
    const alice = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    const ask = () => alice.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `charge ${CARD} for ${MARKUP}` }] });
    const refused = await ask().then(() => assert.fail('expected approval_required'), (err: { status: number; message: string }) => err);
    assert.equal(refused.status, 400);
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

  it('an auditor reads a recorded exchange, lists what policy refused, and verifies the audit trail', async () => {
    const alice = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    const refused = await alice.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `pay with ${CARD}` }] }).withResponse()
      .then(() => assert.fail('expected approval_required'), (err: { headers: Headers }) => err);
    const refusedId = refused.headers.get('x-portcullis-exchange-id')!;
    await finishedExchange(t.gw, refusedId);
    const page = await signedIn(keys.auditor);
    await page.goto(`${t.gw.url}/console/#/exchanges?status=rejected`);
    await page.waitForSelector(`main table a[href="#/exchanges/${refusedId}"]`);
    assert.match(await page.textContent('main table') ?? '', /approval_required/);
    assert.equal(await page.inputValue('select[name=status]'), 'rejected');
    // A refused request was never sent: the page says so and shows no upstream body (issue #11 item 11).
    await page.goto(`${t.gw.url}/console/#/exchanges/${refusedId}`);
    await page.waitForSelector('main .upstream-note');
    assert.match(await page.textContent('main .upstream-note') ?? '', /Not sent to the provider/);
    assert.doesNotMatch(await page.textContent('main') ?? '', /provider received the same/i);
    await page.goto(`${t.gw.url}/console/#/exchanges?subject=user:alice`);
    await page.waitForSelector('main table a[href^="#/exchanges/"]');
    await page.click('main table a[href^="#/exchanges/"]');
    await page.waitForSelector('main h2');
    const detail = await page.textContent('main') ?? '';
    // The exchange reads as evidence (test/console/evidence.test.ts covers it in depth): decision, conversation, bodies.
    assert.match(detail, /Conversation/);
    assert.match(detail, /What the client sent/);
    assert.match(detail, /user:alice/);
    await page.goto(`${t.gw.url}/console/#/audit`);
    await page.click('#verify');
    await page.waitForSelector('#verify-result');
    assert.match(await page.textContent('#verify-result') ?? '', /^VERIFIED/);
    await page.close();
  });

  it('a policy administrator reviews the active version: source, diff and a simulation on recorded traffic', async () => {
    const alice = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    const { response } = await alice.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'plain question' }] }).withResponse();
    await finishedExchange(t.gw, response.headers.get('x-portcullis-exchange-id')!);
    const page = await signedIn(t.adminKey);
    await page.goto(`${t.gw.url}/console/#/policies`);
    await page.waitForSelector('main table a[href^="#/policies/pv_"]');
    assert.match(await page.textContent('main') ?? '', /active/);
    await page.click('main table a[href^="#/policies/pv_"]');
    await page.waitForSelector('#simulate');
    assert.match(await page.textContent('main pre') ?? '', /eng-confidential/, 'the YAML source is shown');
    await page.click('#diff');
    await page.waitForFunction(() => document.querySelector('main h2')?.textContent?.startsWith('Diff'));
    await page.click('#simulate');
    await page.waitForSelector('#simulation');
    // The exchanges above were decided by this very version: replayed, nothing changes.
    assert.match(await page.textContent('#simulation') ?? '', /[1-9]\d* recorded decisions evaluated, [1-9]\d* unchanged/);
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

describe('web console: single sign-on (Chromium, real OpenID Provider)', () => {
  let t: TestGateway;
  let idp: TestIdp;
  let browser: Browser;

  before(async () => {
    const port = await freePort();
    idp = await startTestIdp({ redirectUris: [`http://127.0.0.1:${port}/auth/oidc/corp/callback`] });
    idp.accounts.set('bob', { email: 'bob@corp.example', groups: ['sec'] });
    t = await startTestGateway({
      listen: `127.0.0.1:${port}`,
      extraYaml: `
auth:
  roles: { approver: [sec], user: ["*"] }
identity:
  oidc:
    - name: corp
      issuer: ${idp.issuer}
      client_id: portcullis
      client_secret: portcullis-secret
      scopes: [openid, email, groups]
      subject_claim: email
      groups: { claim: groups }
`,
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    await idp?.close();
  });

  it('an approver signs in through the IdP, lands on the page asked for, and signing out revokes the session token', async () => {
    const page = await browser.newPage();
    await page.goto(`${t.gw.url}/console/#/approvals?state=all`);
    await page.click('button.sso-login');
    // The OpenID Provider's own login and consent pages.
    await page.waitForSelector('input[name=login]');
    await page.fill('input[name=login]', 'bob');
    await page.fill('input[name=password]', 'any');
    await page.click('button[type=submit]');
    // Then the provider's consent page (first sign-in of this account) or straight back to the console.
    await page.waitForSelector('input[name=prompt][value=consent], #whoami', { state: 'attached' });
    if (await page.locator('input[name=prompt][value=consent]').count()) await page.click('button[type=submit]');
    await page.waitForSelector('#whoami');
    assert.match(await page.textContent('#whoami') ?? '', /^user:bob@corp\.example \(.*approver/);
    assert.equal(new URL(page.url()).search, '', 'the one-time code is gone from the address bar');
    assert.equal(new URL(page.url()).hash, '#/approvals?state=all', 'back on the page asked for');
    const token = await page.evaluate(() => sessionStorage.getItem('portcullis.console.token'));
    assert.match(token ?? '', /^pct_/);
    const whoami = (tok: string) => fetch(`${t.gw.url}/admin/v1/whoami`, { headers: { authorization: `Bearer ${tok}` } });
    assert.equal((await whoami(token!)).status, 200);

    await page.click('#who button');
    await page.waitForSelector('#token');
    for (let i = 0; i < 50 && (await whoami(token!)).status !== 401; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await whoami(token!)).status, 401, 'the session token is revoked on sign-out');
    await page.close();
  });

  it('attack: a sign-in this tab did not start (login CSRF) is never redeemed', async () => {
    const page = await browser.newPage();
    // A code and state minted for someone else's flow, pushed into the victim's console.
    await page.goto(`${t.gw.url}/console/?code=stolen-or-planted&state=attacker`);
    await page.waitForSelector('#token');
    assert.match(await page.textContent('main') ?? '', /not started here/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('portcullis.console.token')), null);
    assert.equal(new URL(page.url()).search, '', 'the planted code is dropped from the address bar');
    await page.close();
  });
});

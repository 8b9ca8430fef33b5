import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './browser.ts';
import { createApiKey } from '../../src/identity/key-service.ts';
import { clientFamily } from '../../src/analytics/client-family.ts';
import { DEFAULT_ROUTES_YAML, eventually, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * Administration in real Chromium (issue #15): an admin creates a key (shown once, never again), the key works; a
 * rotation gives a new working key and the old one is refused; a revoked key is refused; no provider key and no key
 * hash reaches the page; people, service accounts and groups are listed as the records show them (last seen, client
 * tools); the routes are those configured; a non-admin gets the API's refusal. Screenshots to test-output/console/.
 */
const SHOTS = join(import.meta.dirname, '../../test-output/console');

describe('administration (Chromium)', () => {
  let t: TestGateway;
  let browser: Browser;

  before(async () => {
    // Two SIEM sinks: a file that takes every event, and a collector nobody listens at (its header value a secret).
    t = await startTestGateway({ extraYaml: `auth:
  key_cache_ttl_ms: 0
  roles: { admin: [portcullis-admins], user: [eng] }
events:
  health: { max_lag_ms: 1000 }
  sinks:
    - { name: audit-file, type: file, path: events.jsonl }
    - { name: dead-siem, type: http, url: "http://127.0.0.1:1/ingest", auth_header: { name: X-Api-Key, value: "env:OPENAI_KEY" } }
` });
    browser = await launchChromium();
    mkdirSync(SHOTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  async function page(key: string): Promise<Page> {
    const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    p.on('dialog', (d) => void d.accept());
    await p.goto(`${t.gw.url}/console/#/admin`);
    await p.fill('#token', key);
    await p.click('button[type=submit]');
    await p.waitForSelector('#whoami');
    return p;
  }
  const works = async (key: string): Promise<boolean> => {
    try {
      await new OpenAI({ baseURL: t.openaiBase, apiKey: key, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
      return true;
    } catch (err) {
      assert.equal((err as { status?: number }).status, 401, String(err));
      return false;
    }
  };

  it('creates a key shown once, rotates it, revokes it — each change takes effect at once', async () => {
    const p = await page(t.adminKey);
    await p.waitForSelector('#create-key');
    await p.fill('#key-name', 'dana');
    await p.fill('#key-groups', 'eng, ml');
    await p.click('#create-key button[type=submit]');
    const first = await p.inputValue('#new-key');
    assert.match(first, /^pcl_/);
    assert.ok(await works(first), 'the new key is accepted by the gateway');
    const id = first.split('_')[1]!;
    const row = p.locator('#keys tr', { hasText: id });
    assert.match(await row.textContent() ?? '', /dana.*user.*eng, ml.*active/);
    // A service account's key, the same way.
    await p.fill('#key-name', 'etl-bot');
    await p.selectOption('#key-kind', 'service');
    await p.click('#create-key button[type=submit]');
    await p.waitForFunction((old) => document.querySelector<HTMLInputElement>('#new-key')?.value !== old, first);
    const service = await p.inputValue('#new-key');
    assert.match(await p.locator('#keys tr', { hasText: service.split('_')[1]! }).textContent() ?? '', /service:etl-bot.*service.*active/);
    assert.ok(await works(service), 'the service account key is accepted by the gateway');
    await p.screenshot({ path: join(SHOTS, 'admin-1280x800.png'), fullPage: true });

    // Shown once: after a reload the secret is nowhere on the page.
    await p.reload();
    await p.waitForSelector('#keys');
    assert.equal(await p.locator('#new-key').count(), 0);
    assert.ok(!(await p.content()).includes(first), 'the secret is not on the page after a reload');

    await p.click(`button[aria-label="rotate key ${id}"]`);
    await p.waitForSelector('#new-key');
    const second = await p.inputValue('#new-key');
    assert.notEqual(second, first);
    assert.ok(await works(second), 'the rotated key works');
    assert.equal(await works(first), false, 'the old key is refused after the rotation');

    const id2 = second.split('_')[1]!;
    await p.click(`button[aria-label="revoke key ${id2}"]`);
    await p.waitForSelector(`#admin-status :text("Key ${id2} revoked.")`);
    assert.equal(await works(second), false, 'a revoked key is refused');
    assert.match(await p.locator('#keys tr', { hasText: id2 }).textContent() ?? '', /revoked/);

    // Nothing secret reaches the page: no provider key, no key hash.
    const html = await p.content();
    for (const secret of ['sk-provider-openai', 'sk-ant-provider']) assert.ok(!html.includes(secret), `${secret} is not on the page`);
    const stored = await t.gw.store.apiKeys.get(id2);
    assert.ok(stored && !html.includes(stored.hash), 'no key hash on the page');
    await p.close();
  });

  it('lists people, service accounts and groups as the records show them (last seen, client tools), and the routes', async () => {
    // Traffic: alice (eng) with the OpenAI SDK, a service account (ml, batch) with the Anthropic SDK.
    const svc = (await createApiKey(t.gw.store.apiKeys, { name: 'nightly-etl', kind: 'service', groups: ['ml', 'batch'], expiresAt: null, createdBy: 'test' }, Date.now())).secret;
    for (let i = 0; i < 2; i++) await new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    await new Anthropic({ baseURL: t.anthropicBase, apiKey: svc, maxRetries: 0 }).messages.create({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    const p = await page(t.adminKey);
    await p.waitForSelector('#seen-identities tbody tr');
    // What the page must say, recomputed from the records.
    const records = (await (await fetch(`${t.gw.url}/admin/v1/exchanges?limit=1000`, { headers: { authorization: `Bearer ${t.adminKey}` } })).json()) as { data: { subject: string | null; started_at: string; user_agent: string | null; principal: { kind: string; groups: string[] } | null }[] };
    const bySubject = new Map<string, typeof records.data>();
    for (const r of records.data) if (r.subject) bySubject.set(r.subject, [...(bySubject.get(r.subject) ?? []), r]);
    assert.ok(bySubject.size >= 2, 'alice and the service account have exchanges');
    const rows = await p.locator('#seen-identities tbody tr').evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? '')));
    assert.equal(rows.length, bySubject.size, 'one row per identity the records hold');
    for (const [subject, xs] of bySubject) {
      const row = rows.find((r) => r[0] === subject);
      assert.ok(row, `${subject} is listed`);
      const latest = xs.reduce((a, b) => (a.started_at > b.started_at ? a : b));
      assert.equal(row[1], latest.principal?.kind === 'service' ? 'service account' : latest.principal?.kind);
      assert.equal(row[3], (latest.principal?.groups ?? []).join(', '));
      assert.equal(row[4], latest.started_at, `${subject} last seen at its latest exchange`);
      assert.deepEqual(row[5]!.split(', ').sort(), [...new Set(xs.map((x) => clientFamily(x.user_agent)))].sort(), `${subject}'s client tools`);
      assert.equal(row[6], String(xs.length));
    }
    assert.match(rows.find((r) => r[0] === 'service:nightly-etl')?.[5] ?? '', /anthropic-js/);
    const groups = await p.locator('#seen-groups tbody tr').evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? '')));
    for (const g of ['eng', 'ml', 'batch']) {
      const members = [...bySubject.values()].filter((xs) => xs.some((x) => x.principal?.groups.includes(g)));
      const row = groups.find((r) => r[0] === g);
      assert.ok(row, `group ${g} is listed`);
      assert.equal(row[1], String(members.length), `${g}'s members`);
      assert.equal(row[4], String(members.reduce((n, xs) => n + xs.length, 0)), `${g}'s requests`);
    }
    // The identity links to its exchanges.
    await p.locator('#seen-identities a', { hasText: 'service:nightly-etl' }).click();
    // The exchange list's own control: `main tbody tr` alone matched the administration page's rows before it was replaced.
    await p.waitForSelector('#export-csv');
    await p.waitForSelector('main tbody tr');
    assert.equal(await p.locator('main tbody tr').count(), 1);
    await p.goBack();
    // Routes as configured, in order; nothing about where a provider is or its key.
    await p.waitForSelector('#routes tbody tr');
    const routes = await p.locator('#routes tbody tr').evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? '')));
    const configured = [...DEFAULT_ROUTES_YAML.matchAll(/model: "?([^"\n]+)"?\n\s+provider: (\w+)(?:\n\s+upstream_model: (\S+))?/g)].map((m) => [m[1]!, m[2]!, m[3] ?? '(as asked)']);
    assert.deepEqual(routes, configured);
    const html = await p.content();
    assert.ok(!html.includes(t.mock.url), 'no upstream address on the page');
    for (const secret of ['sk-provider-openai', 'sk-ant-provider', t.userKey, svc]) assert.ok(!html.includes(secret), 'no secret on the page');
    // SIEM delivery health: the file sink keeps up; the collector nobody listens at is reported with its error.
    const sinkRow = async (name: string) => (await p.locator('#siem-sinks tbody tr', { hasText: name }).textContent()) ?? '';
    await eventually(async () => {
      await p.reload();
      await p.waitForSelector('#siem-sinks tbody tr');
      return /failing|behind/.test(await sinkRow('dead-siem')) ? true : undefined;
    }, 60_000);
    assert.match(await sinkRow('audit-file'), /audit-file\s*0.*ok/);
    assert.doesNotMatch(await sinkRow('dead-siem'), /ok/);
    assert.ok(!(await p.content()).includes('sk-provider-openai'), 'the collector\'s header value is not on the page');
    await p.screenshot({ path: join(SHOTS, 'admin-seen-1280x800.png'), fullPage: true });
    await p.close();
  });

  it('a person without the admin role sees the refusal of the API instead of the page', async () => {
    const p = await page(t.userKey);
    await p.waitForSelector('main .error', { timeout: 15_000 }).catch(async (err: unknown) => {
      throw new Error(`no refusal shown; main: ${await p.textContent('main')}`, { cause: err });
    });
    assert.match(await p.textContent('main .error') ?? '', /forbidden|roles/i);
    await p.close();
  });
});

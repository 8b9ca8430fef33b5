import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { runCli } from '../../src/cli/main.ts';
import { eventually, finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { DENY_MINI_POLICY } from '../helpers/policies.ts';
import { readJsonLines } from '../helpers/jsonl.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * Issue #11 item 11: a refused exchange must never look forwarded. Every view of the record — admin API, CLI show,
 * session replay, the export bundle, the exchange export, the SIEM event — says it was not sent to the provider; an
 * exchange forwarded unchanged still says the provider received the same bytes. (The console's rendering is checked
 * in test/console/console.test.ts.)
 */
describe('a refused exchange is recorded and shown as never sent to the provider', () => {
  let t: TestGateway;
  const MASTER = Buffer.alloc(32, 7).toString('base64');
  let refusedId: string;
  let forwardedId: string;

  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${t.gw.url}${path}`, {
      method, headers: { authorization: `Bearer ${t.adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, json: (await r.json()) as Json };
  };
  const cli = async (...args: string[]): Promise<{ code: number; out: string }> => {
    const out: Buffer[] = [];
    const stdout = new PassThrough().on('data', (c: Buffer) => out.push(c));
    const code = await runCli([...args, '--config', join(t.dir, 'cli.yaml')], { stdin: new PassThrough(), stdout, stderr: stdout, env: { PCL_TEST_MASTER: MASTER }, cwd: t.dir });
    return { code, out: Buffer.concat(out).toString() };
  };

  before(async () => {
    t = await startTestGateway({
      masterKey: MASTER,
      extraYaml: 'auth:\n  roles: { admin: [portcullis-admins], auditor: [portcullis-admins], user: [eng] }\n'
        + 'events:\n  sinks: [{ name: siem, type: file, path: events.jsonl, batch_size: 1 }]\n',
    });
    const pushed = await api('POST', '/admin/v1/policies', { source: DENY_MINI_POLICY, message: 'refusals' });
    assert.equal(pushed.status, 201, JSON.stringify(pushed.json));
    assert.equal((await api('POST', `/admin/v1/policies/${String(pushed.json.id)}/activate`, {})).status, 200);
    await writeFile(join(t.dir, 'cli.yaml'), `store:\n  url: sqlite:${join(t.dir, 'portcullis.db')}\nmaster_key: env:PCL_TEST_MASTER\nproviders: [{ name: m, type: mock }]\nroutes: [{ model: "*", provider: m }]\n`);

    const alice = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    const upstreamBefore = t.mock.received.length;
    const { response } = await alice.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'forward me' }] }).withResponse();
    forwardedId = response.headers.get('x-portcullis-exchange-id')!;
    const refused = await alice.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'refuse me' }] })
      .then(() => assert.fail('expected a policy refusal'), (err: { status: number; headers: Headers }) => err);
    assert.equal(refused.status, 400, "a policy refusal on an OpenAI path is 400 (docs/api.md#refusals-and-client-retries)");
    refusedId = refused.headers.get('x-portcullis-exchange-id')!;
    assert.equal(t.mock.received.length, upstreamBefore + 1, 'only the allowed request reached the provider');
    await finishedExchange(t.gw, forwardedId);
    await finishedExchange(t.gw, refusedId);
  });
  after(() => t.close());

  it('admin API: the refused exchange has forwarded=false and no upstream body; the forwarded one the client body', async () => {
    const refused = await api('GET', `/admin/v1/exchanges/${refusedId}`);
    assert.equal(refused.status, 200, JSON.stringify(refused.json));
    assert.equal(refused.json.status, 'rejected');
    assert.equal(refused.json.forwarded, false);
    assert.equal(refused.json.upstream_request, null, 'a refused exchange never shows an upstream body');
    assert.equal(refused.json.upstream_request_modified, false);
    assert.equal(refused.json.client_request.messages[0].content, 'refuse me', 'what the client sent is still recorded');

    const sent = await api('GET', `/admin/v1/exchanges/${forwardedId}`);
    assert.equal(sent.json.forwarded, true);
    assert.equal(sent.json.upstream_request_modified, false);
    assert.deepEqual(sent.json.upstream_request, sent.json.client_request, 'forwarded unchanged: the provider received the client body');
    assert.deepEqual(t.mock.received.find((r) => JSON.stringify(r.body).includes('forward me'))?.body, sent.json.client_request);

    const list = await api('GET', '/admin/v1/exchanges?limit=10');
    const byId = new Map((list.json.data as Json[]).map((x) => [x.id, x.forwarded]));
    assert.equal(byId.get(refusedId), false);
    assert.equal(byId.get(forwardedId), true);
  });

  it('CLI exchanges show says "not sent to the provider" for the refusal and "the same bytes" for the forwarded one', async () => {
    const refused = await cli('exchanges', 'show', refusedId);
    assert.equal(refused.code, 0, refused.out);
    assert.match(refused.out, /^upstream_request \(provider received: nothing \(not sent to the provider\)\)$/m);
    assert.match(refused.out, /^forwarded\s+false$/m);
    assert.doesNotMatch(refused.out, /the same/);
    const sent = await cli('exchanges', 'show', forwardedId);
    assert.match(sent.out, /^upstream_request \(provider received: the same bytes\)$/m);
    const json = await cli('exchanges', 'show', refusedId, '--json');
    const d = JSON.parse(json.out) as Json;
    assert.equal(d.forwarded, false);
    assert.equal(d.upstream_request, null);
  });

  it('sessions replay: the refusal reads "provider received: nothing", the forwarded one "the same bytes"', async () => {
    const sessions = await api('GET', '/admin/v1/sessions?limit=10');
    const id = String((sessions.json.data as Json[])[0]?.id);
    const r = await cli('sessions', 'replay', id, '--no-wait');
    assert.equal(r.code, 0, r.out);
    const blocks = r.out.split('━━ ').slice(1);
    const refused = blocks.find((b) => b.startsWith(refusedId));
    const sent = blocks.find((b) => b.startsWith(forwardedId));
    assert.ok(refused && sent, r.out);
    assert.match(refused, />> provider received: nothing \(not sent to the provider\)/);
    assert.doesNotMatch(refused, /provider received: the same/);
    assert.match(sent, />> provider received: the same bytes/);
    const api1 = await api('GET', `/admin/v1/sessions/${id}`);
    const rec = (api1.json.exchanges as Json[]).find((x) => x.id === refusedId);
    assert.equal(rec?.forwarded, false);
    assert.equal(rec?.upstream_request, null);
  });

  it('the exchange export (CSV and JSONL) and the SIEM event say forwarded=false for the refusal, true for the forwarded one', async () => {
    const csv = await (await fetch(`${t.gw.url}/admin/v1/exchanges/export?format=csv`, { headers: { authorization: `Bearer ${t.adminKey}` } })).text();
    const [head, ...rows] = csv.trim().split('\r\n').map((l) => l.split(','));
    const col = head!.indexOf('forwarded');
    assert.ok(col >= 0);
    assert.equal(rows.find((r) => r[0] === refusedId)?.[col], 'false');
    assert.equal(rows.find((r) => r[0] === forwardedId)?.[col], 'true');
    const jsonl = await (await fetch(`${t.gw.url}/admin/v1/exchanges/export?format=jsonl`, { headers: { authorization: `Bearer ${t.adminKey}` } })).text();
    const lines = jsonl.trim().split('\n').map((l) => JSON.parse(l) as Json);
    assert.equal(lines.find((x) => x.id === refusedId)?.forwarded, false);
    assert.equal(lines.find((x) => x.id === forwardedId)?.forwarded, true);
    const events = await eventually(async () => {
      const all = await readJsonLines<Json>(join(t.dir, 'events.jsonl'));
      const of = (id: string) => all.find((e) => e.unmapped?.portcullis?.exchange_id === id);
      return of(refusedId) && of(forwardedId) ? { refused: of(refusedId)!, forwarded: of(forwardedId)! } : undefined;
    }, 20_000);
    assert.equal(events.refused.unmapped.portcullis.forwarded, false);
    assert.equal(events.forwarded.unmapped.portcullis.forwarded, true);
  });

  it('the export bundle chains forwarded=false for the refusal (tamper-evident), true for the forwarded one', async () => {
    const out = join(t.dir, 'bundle.json');
    const r = await cli('audit', 'export', '--out', out);
    assert.equal(r.code, 0, r.out);
    const bundle = JSON.parse(await readFile(out, 'utf8')) as { entries: Json[] };
    const finished = (id: string) => bundle.entries.find((e) => e.kind === 'exchange.finished' && e.ref_id === id);
    assert.equal(finished(refusedId)?.payload.forwarded, false);
    assert.equal(finished(forwardedId)?.payload.forwarded, true);
    const started = bundle.entries.find((e) => e.kind === 'exchange.started' && e.ref_id === refusedId);
    assert.equal(started?.payload.bodies.upstream_request, null);
  });
});

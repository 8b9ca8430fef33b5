import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { eventually, finishedExchange, PROVIDER_KEY_ANTHROPIC, PROVIDER_KEY_OPENAI, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { parseApiKey } from '../../src/crypto/api-keys.ts';
import { exchangeDetail } from '../../src/audit/exchange-view.ts';

/** Every bad input and upstream failure ends in a clear error in the caller's protocol and a correct record. */
describe('failures, bad input and secrecy', () => {
  let t: TestGateway;
  let openai: OpenAI;
  const seen: string[] = [];
  before(async () => {
    t = await startTestGateway({ mockChunks: 6, mockDelayMs: 5 });
    openai = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
  });
  after(async () => {
    await t.close();
    const all = seen.join('\n');
    for (const secret of [PROVIDER_KEY_OPENAI, PROVIDER_KEY_ANTHROPIC, t.userKey, t.adminKey]) {
      assert.ok(!all.includes(secret), 'no key appears in any response body or error seen by clients');
    }
  });

  const post = async (path: string, body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${t.gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.userKey}`, ...headers }, body });
    const text = await res.text();
    res.headers.forEach((value, name) => seen.push(`${name}: ${value}`));
    seen.push(text);
    return { res, text, json: () => JSON.parse(text) as Record<string, { message: string; code: string; type: string }> };
  };

  it('upstream 4xx/5xx pass through with status and provider body', async () => {
    for (const status of [400, 429, 500, 503]) {
      await assert.rejects(
        openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-mock-fail': `status:${status}` } }),
        (err: InstanceType<typeof OpenAI.APIError>) => {
          seen.push(err.message);
          assert.equal(err.status, status);
          return true;
        },
      );
    }
    const rows = await t.gw.store.exchanges.list({ subject: 'user:alice', limit: 1 });
    const row = await finishedExchange(t.gw, rows[0]!.id);
    assert.equal(row.status, 'upstream_error');
    assert.equal(row.httpStatus, 503);
  });

  it('connection reset before the answer -> 502 in OpenAI shape, recorded failed', async () => {
    const r = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }), { 'x-mock-fail': 'reset' });
    assert.equal(r.res.status, 502);
    assert.equal(r.json().error!.code, 'upstream_unavailable');
    const row = await finishedExchange(t.gw, r.res.headers.get('x-portcullis-exchange-id')!);
    assert.equal(row.status, 'failed');
  });

  it('upstream reset mid-stream -> protocol error event for the SDK, partial exchange recorded incomplete', async () => {
    const { data: stream, response } = await openai.chat.completions
      .create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'abcdefghijklmnopqrstuvwxyz' }] }, { headers: { 'x-mock-fail': 'midstream-reset' } })
      .withResponse();
    let received = 0;
    await assert.rejects(async () => {
      for await (const _c of stream) received++;
    }, (err: Error) => (seen.push(err.message), /could not be reached|closed the connection/.test(err.message)));
    const row = await finishedExchange(t.gw, response.headers.get('x-portcullis-exchange-id')!);
    assert.equal(row.status, 'incomplete');
    assert.equal(row.errorCode, 'upstream_unavailable');
    const detail = await exchangeDetail(t.gw.store, t.gw.keyring, row.id);
    assert.ok((detail!.events as unknown[]).length >= received, 'what reached the client is in the record');
  });

  it('garbage SSE from upstream -> Anthropic error event, recorded incomplete', async () => {
    const client = new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0 });
    const stream = client.messages.stream({ model: 'claude-mock-1', max_tokens: 32, messages: [{ role: 'user', content: 'garbage please' }] }, { headers: { 'x-mock-fail': 'garbage-sse' } });
    await assert.rejects(stream.finalMessage(), (err: Error) => (seen.push(err.message), /malformed|not valid JSON/.test(err.message)));
    const rows = await t.gw.store.exchanges.list({ subject: 'user:alice', limit: 1 });
    const row = await finishedExchange(t.gw, rows[0]!.id);
    assert.equal(row.status, 'incomplete');
    assert.equal(row.errorCode, 'upstream_protocol_error');
  });

  it('client abort mid-stream aborts the upstream request and records client_aborted', async () => {
    const slow = await startTestGateway({ mockChunks: 50, mockDelayMs: 40 });
    try {
      const c = new OpenAI({ baseURL: slow.openaiBase, apiKey: slow.userKey, maxRetries: 0 });
      const ac = new AbortController();
      const { data: stream, response } = await c.chat.completions
        .create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'a long answer '.repeat(5) }] }, { signal: ac.signal })
        .withResponse();
      let n = 0;
      try {
        // The SDK may end the iteration quietly or throw an abort error; either way the client is gone.
        for await (const _c of stream) if (++n === 3) ac.abort();
      } catch (err) {
        assert.match((err as Error).name, /Abort/);
      }
      assert.equal(n, 3, 'no chunk arrives after the abort');
      const row = await finishedExchange(slow.gw, response.headers.get('x-portcullis-exchange-id')!);
      assert.equal(row.status, 'client_aborted');
      await eventually(async () => (slow.mock.received.at(-1)!.aborted ? true : undefined));
    } finally {
      await slow.close();
    }
  });

  it('unknown fields pass through untouched, both ways', async () => {
    const r = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], x_unknown_field: { nested: [1, 'two'] } }));
    assert.equal(r.res.status, 200);
    assert.deepEqual((t.mock.received.at(-1)!.body as { x_unknown_field: unknown }).x_unknown_field, { nested: [1, 'two'] });
    assert.deepEqual((JSON.parse(r.text) as { x_unknown_echo: unknown }).x_unknown_echo, { nested: [1, 'two'] });
  });

  it('bad input: malformed JSON, wrong types, unknown model, huge body — OpenAI and Anthropic shapes', async () => {
    const bad = await post('/v1/chat/completions', '{"model": "gpt-4o", "messages": [sk-secret-in-broken-json');
    assert.equal(bad.res.status, 400);
    assert.equal(bad.json().error!.code, 'invalid_json');
    assert.ok(!bad.text.includes('sk-secret-in-broken-json'), 'the body is never echoed');
    const types = await post('/v1/chat/completions', JSON.stringify({ model: 42, messages: [] }));
    assert.equal(types.res.status, 400);
    assert.equal(types.json().error!.code, 'invalid_request');
    const stream = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o', stream: 'yes', messages: [] }));
    assert.equal(stream.res.status, 400);
    const unknown = await post('/v1/messages', JSON.stringify({ model: 'nope-model', max_tokens: 5, messages: [] }));
    assert.equal(unknown.res.status, 404);
    assert.equal(unknown.json().type, 'error');
    assert.equal(unknown.json().error!.type, 'not_found_error');
    const huge = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(70_000) }] }));
    assert.equal(huge.res.status, 413);
    const row = await finishedExchange(t.gw, unknown.res.headers.get('x-portcullis-exchange-id')!);
    assert.equal(row.status, 'rejected');
    assert.equal(row.errorCode, 'unknown_model');
  });

  it('credentials: missing, malformed, unknown, revoked and expired keys get 401 in the caller protocol', async () => {
    const none = await fetch(`${t.gw.url}/v1/messages`, { method: 'POST', body: '{}' });
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { type: string }).type, 'error');
    const wrong = await post('/v1/chat/completions', '{}', { authorization: `Bearer ${t.userKey.slice(0, -2)}xx` });
    assert.equal(wrong.res.status, 401);
    assert.equal(wrong.json().error!.type, 'authentication_error');
    const providerKey = await post('/v1/chat/completions', '{}', { authorization: `Bearer ${PROVIDER_KEY_OPENAI}` });
    assert.equal(providerKey.res.status, 401, 'a provider key is not a Portcullis credential');
    const created = await fetch(`${t.gw.url}/admin/v1/keys`, { method: 'POST', headers: { authorization: `Bearer ${t.adminKey}` }, body: JSON.stringify({ name: 'bob', groups: ['eng'] }) });
    const { key, id } = (await created.json()) as { key: string; id: string };
    const ok = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }), { authorization: `Bearer ${key}` });
    assert.equal(ok.res.status, 200);
    const del = await fetch(`${t.gw.url}/admin/v1/keys/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${t.adminKey}` } });
    assert.equal(del.status, 200);
    const revoked = await post('/v1/chat/completions', '{}', { authorization: `Bearer ${key}` });
    assert.equal(revoked.res.status, 401, 'revocation applies to the next request');
    await t.gw.store.apiKeys.create({ ...(await t.gw.store.apiKeys.get(id))!, id: 'expired1', expiresAt: Date.now() - 1000, revokedAt: null });
    const expired = await post('/v1/chat/completions', '{}', { authorization: `Bearer pcl_expired1_${parseApiKey(key)!.secretPart}` });
    assert.equal(expired.res.status, 401);
  });

  it('admin API denies a user key (no self-escalation) and never returns a provider key', async () => {
    const r = await fetch(`${t.gw.url}/admin/v1/keys`, { method: 'POST', headers: { authorization: `Bearer ${t.userKey}` }, body: JSON.stringify({ name: 'mallory', groups: ['portcullis-admins'] }) });
    assert.equal(r.status, 403);
    const put = await fetch(`${t.gw.url}/admin/v1/providers/openai/credential`, { method: 'PUT', headers: { authorization: `Bearer ${t.adminKey}` }, body: JSON.stringify({ api_key: 'sk-rotated-provider-key-000000' }) });
    const putText = await put.text();
    seen.push(putText);
    assert.equal(put.status, 200);
    assert.ok(!putText.includes('sk-rotated'));
    await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'after rotation' }] });
    assert.equal(t.mock.received.at(-1)!.headers.authorization, 'Bearer sk-rotated-provider-key-000000', 'rotation applies without touching clients');
    const list = await (await fetch(`${t.gw.url}/admin/v1/providers`, { headers: { authorization: `Bearer ${t.adminKey}` } })).text();
    seen.push(list);
    assert.ok(!list.includes('sk-rotated'));
  });

  it('slow client: a body that never completes gets 408 and the socket is closed', async () => {
    const status = await new Promise<string>((resolve) => {
      const s = connect(t.gw.port, '127.0.0.1', () => {
        s.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.userKey}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"model":`);
      });
      let buf = '';
      s.on('data', (d) => (buf += d.toString()));
      s.on('close', () => resolve(buf.split('\r\n')[0] ?? ''));
    });
    assert.match(status, /408/);
  });

  it('header flood: too many headers gets 431, huge header block too', async () => {
    const headers: Record<string, string> = { authorization: `Bearer ${t.userKey}` };
    for (let i = 0; i < 150; i++) headers[`x-flood-${i}`] = 'v';
    const many = await fetch(`${t.gw.url}/v1/chat/completions`, { method: 'POST', headers, body: '{}' });
    assert.equal(many.status, 431);
    const big = await fetch(`${t.gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'x-big': 'v'.repeat(20_000) }, body: '{}' }).catch(() => undefined);
    assert.ok(!big || big.status === 431);
  });

  it('fail closed: when the exchange cannot be recorded, nothing goes upstream', async () => {
    const g = await startTestGateway();
    try {
      const before = g.mock.received.length;
      const exchanges = g.gw.store.exchanges as { start: (...a: unknown[]) => Promise<void> };
      exchanges.start = () => Promise.reject(new Error('disk full'));
      const r = await fetch(`${g.openaiBase}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${g.userKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }) });
      const body = (await r.json()) as { error: { code: string; message: string } };
      seen.push(JSON.stringify(body));
      assert.equal(r.status, 503);
      assert.equal(body.error.code, 'recording_failed');
      assert.ok(!body.error.message.includes('disk full'), 'internal detail is not exposed');
      assert.equal(g.mock.received.length, before, 'the upstream saw no request');
    } finally {
      await g.close();
    }
  });
});

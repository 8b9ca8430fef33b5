import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { MOCK_KEY_HINT } from '../../src/mock/faults.ts';
import { eventually, finishedExchange, PROVIDER_KEY_ANTHROPIC, PROVIDER_KEY_OPENAI, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { readJsonLines } from '../helpers/jsonl.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * What the gateway makes of upstream answers that are not a success: a 200 that is not the JSON document the
 * endpoint promises is a protocol error, and a provider refusing the gateway's own credential is the operator's
 * problem — never the caller's "invalid API key", never the provider's body.
 */
describe('upstream answers that are not what they claim', () => {
  let t: TestGateway;
  let openai: OpenAI;
  let anthropic: Anthropic;
  before(async () => {
    t = await startTestGateway({ extraYaml: 'events:\n  sinks: [{ name: siem, type: file, path: events.jsonl, batch_size: 10 }]\n' });
    openai = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0 });
  });
  after(() => t.close());

  const post = async (path: string, body: unknown, fault: string) => {
    const res = await fetch(`${t.gw.url}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.userKey}`, 'x-mock-fail': fault }, body: JSON.stringify(body),
    });
    return { res, text: await res.text() };
  };
  const chat = { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] };
  const messages = { model: 'claude-mock-1', max_tokens: 16, messages: [{ role: 'user', content: 'x' }] };

  for (const fault of ['truncated-json', 'html']) {
    it(`a 200 answer that is ${fault} becomes 502 upstream_protocol_error, recorded failed (OpenAI and Anthropic, every JSON endpoint)`, async () => {
      const o = await post('/v1/chat/completions', chat, fault);
      assert.equal(o.res.status, 502);
      assert.equal((JSON.parse(o.text) as Json).error.code, 'upstream_protocol_error');
      assert.ok(!o.text.includes('chatcmpl-cut') && !o.text.includes('<html>'), 'the malformed body is not passed on');
      const row = await finishedExchange(t.gw, o.res.headers.get('x-portcullis-exchange-id')!);
      assert.equal(row.status, 'failed');
      assert.equal(row.errorCode, 'upstream_protocol_error');
      assert.equal(row.httpStatus, 502);

      const a = await post('/v1/messages', messages, fault);
      assert.equal(a.res.status, 502);
      const body = JSON.parse(a.text) as Json;
      assert.equal(body.type, 'error');
      assert.equal(body.error.portcullis_code, 'upstream_protocol_error');
      assert.equal((await finishedExchange(t.gw, a.res.headers.get('x-portcullis-exchange-id')!)).status, 'failed');

      await assert.rejects(openai.chat.completions.create(chat as never, { headers: { 'x-mock-fail': fault } }), (err: InstanceType<typeof OpenAI.APIError>) => {
        assert.equal(err.status, 502);
        return true;
      });
      // Every endpoint whose answer is JSON, not only chat and messages.
      for (const [path, body] of [
        ['/v1/embeddings', { model: 'text-embedding-3-small', input: 'x' }], ['/v1/completions', { model: 'gpt-4o', prompt: 'x' }],
        ['/v1/responses', { model: 'gpt-4o', input: 'x' }], ['/v1/messages/count_tokens', { model: 'claude-mock-1', messages: messages.messages }],
      ] as const) {
        const r = await post(path, body, fault);
        assert.equal(r.res.status, 502, `${path}: ${r.text}`);
        assert.match(r.text, /upstream_protocol_error/, path);
      }
    });
  }

  for (const status of [401, 403]) {
    it(`provider ${status} to the gateway's key is 502 upstream_auth_failed, not the caller's invalid key; body withheld; operator alerted`, async () => {
      const seen: string[] = [];
      const firstMinute = Math.floor(Date.now() / 60_000);
      await assert.rejects(openai.chat.completions.create(chat as never, { headers: { 'x-mock-fail': `status:${status}` } }), (err: InstanceType<typeof OpenAI.APIError>) => {
        seen.push(JSON.stringify(err.error), err.message);
        assert.equal(err.status, 502);
        assert.equal(err.code, 'upstream_auth_failed');
        assert.ok(!(err instanceof OpenAI.AuthenticationError), 'the SDK must not report the caller\'s key as wrong');
        return true;
      });
      await assert.rejects(anthropic.messages.create(messages as never, { headers: { 'x-mock-fail': `status:${status}` } }), (err: InstanceType<typeof Anthropic.APIError>) => {
        seen.push(JSON.stringify(err.error), err.message);
        assert.equal(err.status, 502);
        assert.ok(!(err instanceof Anthropic.AuthenticationError));
        assert.equal((err.error as Json).error.portcullis_code, 'upstream_auth_failed');
        return true;
      });
      const raw = await post('/v1/chat/completions', chat, `status:${status}`);
      seen.push(raw.text);
      assert.equal(raw.res.headers.get('x-should-retry'), 'false', 'retrying cannot help: the SDKs are told not to');
      const before = t.mock.received.length;
      const retrying = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 2 });
      await assert.rejects(retrying.chat.completions.create(chat as never, { headers: { 'x-mock-fail': `status:${status}` } }));
      assert.equal(t.mock.received.length, before + 1, 'the SDK did not retry');
      const all = seen.join('\n');
      for (const leak of [MOCK_KEY_HINT, 'mock upstream error', 'invalid_api_key', PROVIDER_KEY_OPENAI, PROVIDER_KEY_ANTHROPIC]) assert.ok(!all.includes(leak), `the caller never sees ${leak}`);
      const row = await finishedExchange(t.gw, raw.res.headers.get('x-portcullis-exchange-id')!);
      assert.equal(row.status, 'upstream_error');
      assert.equal(row.errorCode, 'upstream_auth_failed');
      assert.equal(row.httpStatus, 502);

      // The last exchange's own event is queued after every alert before it: once it is delivered, all are.
      const delivered = await eventually(async () => {
        const all = await readJsonLines<Json>(join(t.dir, 'events.jsonl'));
        return all.some((e) => e.metadata.correlation_uid === row.id) ? all : undefined;
      }, 15_000);
      const alerts = delivered.filter((e) => e.metadata.event_code === 'credential.refused' && e.unmapped.portcullis.upstream_status === status);
      // One alert per provider, status and minute — not one per request (openai was refused three times).
      const minutes = Math.floor(Date.now() / 60_000) - firstMinute + 1;
      for (const provider of ['openai', 'anthropic']) {
        const n = alerts.filter((e) => e.entity.uid === provider).length;
        assert.ok(n >= 1 && n <= minutes, `${provider}: ${n} alerts over ${minutes} minute window(s)`);
      }
      assert.equal(alerts[0]?.status, 'Failure');
      const text = JSON.stringify(alerts);
      for (const leak of [MOCK_KEY_HINT, PROVIDER_KEY_OPENAI, PROVIDER_KEY_ANTHROPIC]) assert.ok(!text.includes(leak));
    });
  }
});

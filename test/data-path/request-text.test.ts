import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * Request text the scanners, the record and the provider must read alike: invalid UTF-8 is refused rather than
 * forwarded raw or repaired, and identifiers (model, session ids, x-portcullis-* names) hide no control or
 * invisible formatting characters. Every refusal is a 400 in the caller's protocol and nothing goes upstream.
 */
describe('request text: UTF-8 and identifiers', () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway();
  });
  after(() => t.close());

  const send = async (path: string, body: Buffer | string, headers: Record<string, string> = {}, key = t.userKey) => {
    const res = await fetch(`${t.gw.url}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers }, body: typeof body === 'string' ? body : new Uint8Array(body),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };
  /** A chat body whose user text is `before`, the raw bytes, then `after`. */
  const withBytes = (shape: 'openai' | 'anthropic', bytes: number[], stream: boolean): Buffer => {
    const [head, tail] = (shape === 'openai'
      ? JSON.stringify({ model: 'gpt-4o', stream, messages: [{ role: 'user', content: 'a|b' }] })
      : JSON.stringify({ model: 'claude-mock-1', max_tokens: 8, stream, messages: [{ role: 'user', content: 'a|b' }] })).split('|') as [string, string];
    return Buffer.concat([Buffer.from(head), Buffer.from(bytes), Buffer.from(tail)]);
  };
  const INVALID: Record<string, number[]> = {
    'a lone continuation byte': [0x80],
    'a truncated sequence': [0xe2, 0x82],
    'an overlong encoding of "/"': [0xc0, 0xaf],
    'a UTF-8-encoded surrogate': [0xed, 0xa0, 0x80],
    'bytes above U+10FFFF': [0xf4, 0x90, 0x80, 0x80],
    '0xFF': [0xff],
  };

  it('invalid UTF-8 inside a string is refused with 400 in both protocols, streamed or not; nothing goes upstream', async () => {
    const before = t.mock.received.length;
    for (const [name, bytes] of Object.entries(INVALID)) {
      for (const stream of [false, true]) {
        const o = await send('/v1/chat/completions', withBytes('openai', bytes, stream));
        assert.equal(o.status, 400, `${name} (stream ${stream})`);
        assert.equal(o.body.error.code, 'invalid_json');
        assert.match(o.body.error.message, /UTF-8/);
        const a = await send('/v1/messages', withBytes('anthropic', bytes, stream));
        assert.equal(a.status, 400, `${name} (stream ${stream})`);
        assert.equal(a.body.type, 'error');
        assert.equal(a.body.error.type, 'invalid_request_error');
        assert.equal(a.body.error.portcullis_code, 'invalid_json');
      }
    }
    assert.equal(t.mock.received.length, before, 'the provider saw none of them');
  });

  it('valid multi-byte UTF-8 reaches the provider byte for byte', async () => {
    const text = 'é 漢字 😀 \u{10FFFF}';
    const body = Buffer.from(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: text }] }));
    const o = await send('/v1/chat/completions', body);
    assert.equal(o.status, 200);
    assert.equal(t.mock.received.at(-1)!.rawBody, body.toString('utf8'));
  });

  it('the admin API refuses invalid UTF-8 too (400, not a repaired name)', async () => {
    const r = await send('/admin/v1/keys', Buffer.concat([Buffer.from('{"name":"x'), Buffer.from([0xff]), Buffer.from('","kind":"user","groups":["eng"]}')]), {}, t.adminKey);
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'invalid_json');
  });

  const CONTROLS: Record<string, string> = {
    NUL: '\u0000', ESC: '\u001b[2J', DEL: '\u007f', 'C1 NEL': '\u0085', 'C1 CSI': '\u009b',
    'right-to-left override': '\u202e', 'first-strong isolate': '\u2068', 'zero-width space': '\u200b', BOM: '\ufeff', 'line separator': '\u2028',
  };

  it('a model name with control or invisible formatting characters does not match a route: 400 naming `model`', async () => {
    const before = t.mock.received.length;
    const openai = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    const anthropic = new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0 });
    for (const [name, c] of Object.entries(CONTROLS)) {
      await assert.rejects(openai.chat.completions.create({ model: `gpt-4o${c}`, messages: [{ role: 'user', content: 'x' }] }), (err: InstanceType<typeof OpenAI.APIError>) => {
        assert.equal(err.status, 400, name);
        assert.equal(err.code, 'invalid_request');
        assert.deepEqual((err.error as Json).portcullis, { param: 'model' });
        assert.ok(!err.message.includes(c), 'the value is not echoed');
        return true;
      });
      await assert.rejects(anthropic.messages.create({ model: `claude-${c}mock`, max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }), (err: InstanceType<typeof Anthropic.APIError>) => {
        assert.equal(err.status, 400, name);
        assert.equal((err.error as Json).error.portcullis_code, 'invalid_request');
        return true;
      });
    }
    assert.equal(t.mock.received.length, before, 'nothing was forwarded');
  });

  it('session, conversation and user ids in the body, and x-portcullis-* identifier headers, are held to the same rule', async () => {
    const before = t.mock.received.length;
    const base = { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] };
    const bodies: [string, Json][] = [
      ['user', { ...base, user: 'alice\u001b]0;pwned\u0007' }],
      ['metadata.session_id', { ...base, metadata: { session_id: 's\u202e1' } }],
      ['metadata.user_id', { ...base, metadata: { user_id: 'u\u0000' } }],
      ['conversation.id', { ...base, conversation: { id: 'conv\u0085' } }],
    ];
    for (const [param, body] of bodies) {
      const r = await send('/v1/chat/completions', JSON.stringify(body));
      assert.equal(r.status, 400, param);
      assert.deepEqual(r.body.error.portcullis, { param });
    }
    // Node refuses C0 in field values itself; C1 arrives as ISO-8859-1 obs-text and is the gateway's to refuse.
    for (const header of ['x-portcullis-session', 'x-portcullis-conversation', 'x-portcullis-template', 'x-portcullis-approval-id']) {
      const r = await send('/v1/chat/completions', JSON.stringify(base), { [header]: 'abc\u009b2J' });
      assert.equal(r.status, 400, header);
      assert.deepEqual(r.body.error.portcullis, { param: header });
    }
    assert.equal(t.mock.received.length, before);
    // Ordinary identifiers and free text with Latin-1 letters still pass.
    const ok = await send('/v1/chat/completions', JSON.stringify({ ...base, user: 'alice@example.com', metadata: { session_id: 'sess-1' } }), { 'x-portcullis-session': 'run-42', 'x-portcullis-justification': 'Prüfung' });
    assert.equal(ok.status, 200);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { systemClock } from '../../src/core/clock.ts';
import { standInScanner } from '../../src/detect/stream/testing.ts';
import type { Action } from '../../src/detect/types.ts';
import { createGovernedGuard } from '../../src/governance/guard.ts';
import { SealedTokenVault } from '../../src/governance/token-vault.ts';
import { exchangeDetail } from '../../src/audit/exchange-view.ts';
import { finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * Content controls through the real pipeline with the official SDKs: masking before the provider sees it,
 * reversible tokenization restored in streamed answers, blocking with a native error that never echoes a value.
 * (A stand-in scanner stands for the built-in detectors here; their quality is tested in src/detect.)
 */
const EMAIL = 'jane.doe@example.com';
const CARD = '4242 4242 4242 4242';
const KEY = 'sk-proj-' + 'Zx9'.repeat(10);

describe('content protection in the data path', () => {
  let t: TestGateway;
  let openai: OpenAI;
  const use = (actions: Partial<Record<string, Action>>, direction: 'request' | 'response' | 'both' = 'request') => {
    const scanner = standInScanner();
    t.gw.setGuard(createGovernedGuard({
      content: {
        scanners: { request: direction !== 'response' ? scanner : undefined, response: direction !== 'request' ? scanner : undefined },
        actionFor: (f) => (actions[f.type] ? { action: actions[f.type]!, rule: `rule-${f.type.toLowerCase()}` } : undefined),
        tokenizes: Object.values(actions).includes('tokenize'),
      },
      decider: undefined,
      vault: new SealedTokenVault({ repo: t.gw.store.tokenVault, keyring: t.gw.keyring, clock: systemClock, ttlMs: 60_000 }),
    }));
  };
  before(async () => {
    t = await startTestGateway({ mockChunks: 7 });
    openai = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
  });
  after(() => t.close());
  const upstreamText = () => JSON.stringify(t.mock.received.at(-1)!.body);

  it('mask: the provider never sees the email; the record says what was found, not the value', async () => {
    use({ EMAIL_ADDRESS: 'mask' });
    const { data, response } = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `write to ${EMAIL} today` }] }).withResponse();
    assert.ok(!upstreamText().includes(EMAIL));
    assert.match(upstreamText(), /\[EMAIL_ADDRESS\]/);
    assert.match(data.choices[0]!.message.content!, /\[EMAIL_ADDRESS\]/);
    const row = await finishedExchange(t.gw, response.headers.get('x-portcullis-exchange-id')!);
    assert.equal(row.findings[0]!.type, 'EMAIL_ADDRESS');
    assert.equal(row.findings[0]!.action, 'mask');
    assert.ok(!JSON.stringify(row).includes(EMAIL), 'metadata never holds the value');
    const detail = await exchangeDetail(t.gw.store, t.gw.keyring, row.id);
    assert.equal(detail!.upstream_request_modified, true);
    assert.ok(JSON.stringify(detail!.client_request).includes(EMAIL), 'what the client sent is kept (encrypted) for audit');
    assert.ok(!JSON.stringify(detail!.upstream_request).includes(EMAIL), 'what the provider received is recorded as sent');
  });

  it('tokenize: placeholders upstream, originals restored in the streamed answer (chat, responses, anthropic)', async () => {
    use({ CREDIT_CARD: 'tokenize', EMAIL_ADDRESS: 'tokenize' });
    const prompt = `card ${CARD} belongs to ${EMAIL}`;
    const stream = await openai.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: prompt }] });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    assert.ok(!upstreamText().includes(CARD) && !upstreamText().includes(EMAIL));
    assert.match(upstreamText(), /⟦CREDIT_CARD_1⟧/);
    assert.equal(text, `echo: ${prompt}`, 'restored exactly, across chunk boundaries');

    const rs = openai.responses.stream({ model: 'gpt-4o', input: prompt });
    const final = await rs.finalResponse();
    assert.equal(final.output_text, `echo: ${prompt}`);

    const anthropic = new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0 });
    const msg = await anthropic.messages.stream({ model: 'claude-mock-1', max_tokens: 64, messages: [{ role: 'user', content: prompt }] }).finalMessage();
    assert.equal((msg.content[0] as { text: string }).text, `echo: ${prompt}`);
    assert.ok(!upstreamText().includes(CARD));
  });

  it('tokenize with a conversation id: the same value keeps its placeholder across turns; another caller cannot restore it', async () => {
    use({ EMAIL_ADDRESS: 'tokenize' });
    const headers = { 'x-portcullis-conversation': 'conv-42' };
    await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `first ${EMAIL}` }] }, { headers });
    const first = upstreamText();
    await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `other a@b.example and ${EMAIL}` }] }, { headers });
    const second = upstreamText();
    const placeholder = /⟦EMAIL_ADDRESS_\d+⟧/.exec(first)![0];
    assert.ok(second.includes(placeholder), 'same value, same placeholder within the conversation');
    const created = await fetch(`${t.gw.url}/admin/v1/keys`, { method: 'POST', headers: { authorization: `Bearer ${t.adminKey}` }, body: JSON.stringify({ name: 'eve' }) });
    const eve = new OpenAI({ baseURL: t.openaiBase, apiKey: ((await created.json()) as { key: string }).key, maxRetries: 0 });
    const r = await eve.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `what is ${placeholder}?` }] }, { headers });
    assert.ok(!r.choices[0]!.message.content!.includes(EMAIL), "another caller's conversation scope does not restore alice's value");
  });

  it('block: a secret in the prompt is refused in the caller protocol, naming the type and rule, never the value', async () => {
    use({ SECRET_OPENAI_KEY: 'block' });
    const before = t.mock.received.length;
    await assert.rejects(openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `my key is ${KEY}` }] }), (err: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(err.status, 400);
      assert.match(err.message, /SECRET_OPENAI_KEY/);
      assert.ok(!err.message.includes(KEY));
      return true;
    });
    assert.equal(t.mock.received.length, before, 'nothing went upstream');
    const anthropic = new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0 });
    await assert.rejects(anthropic.messages.create({ model: 'claude-mock-1', max_tokens: 8, messages: [{ role: 'user', content: KEY }] }), (err: InstanceType<typeof Anthropic.APIError>) => err.status === 451);
    const rows = await t.gw.store.exchanges.list({ subject: 'user:alice', limit: 1 });
    assert.equal(rows[0]!.status, 'rejected');
    assert.equal(rows[0]!.errorCode, 'content_blocked');
  });

  it('response side: an email produced by the model is masked inside the stream before the client sees it', async () => {
    use({ EMAIL_ADDRESS: 'mask' }, 'response');
    const stream = await openai.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: `reply with ${EMAIL}` }] });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    assert.ok(upstreamText().includes(EMAIL), 'request side untouched in this policy');
    assert.equal(text, 'echo: reply with [EMAIL_ADDRESS]');
  });

  it('fail closed: a detector that crashes refuses the request', async () => {
    const broken = standInScanner({ throwAfter: 0 });
    t.gw.setGuard(createGovernedGuard({
      content: { scanners: { request: broken }, actionFor: () => ({ action: 'mask', rule: 'r' }), tokenizes: false },
      decider: undefined,
      vault: new SealedTokenVault({ repo: t.gw.store.tokenVault, keyring: t.gw.keyring, clock: systemClock, ttlMs: 1000 }),
    }));
    const before = t.mock.received.length;
    await assert.rejects(openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] }), (err: InstanceType<typeof OpenAI.APIError>) => err.status === 503);
    assert.equal(t.mock.received.length, before);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { systemClock } from '../../src/core/clock.ts';
import { compileContentPolicy, type ContentSection } from '../../src/detect/policy-content.ts';
import { createGovernedGuard } from '../../src/governance/guard.ts';
import { SealedTokenVault } from '../../src/governance/token-vault.ts';
import { finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { fakeCredential } from '../helpers/fake-credentials.ts';

/**
 * The real built-in detectors and a policy `content` section, compiled as the gateway compiles it, through the
 * real pipeline with the official SDKs. The mock upstream echoes the prompt in many small chunks, so every value
 * below is split across stream events.
 */
const EMAIL = 'jane.doe@example.com';
const CARD = '4111-1111-1111-1111';
const IBAN = 'gb82 west 1234 5698 7654 32';
const GITHUB = fakeCredential.github();
const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----';

describe('content protection with the built-in detectors, through the gateway', () => {
  let t: TestGateway;
  let openai: OpenAI;
  const use = (section: ContentSection) => {
    t.gw.setGuard(createGovernedGuard({
      content: compileContentPolicy(section),
      decider: undefined,
      vault: new SealedTokenVault({ repo: t.gw.store.tokenVault, keyring: t.gw.keyring, clock: systemClock, ttlMs: 60_000 }),
    }));
  };
  const upstreamText = () => JSON.stringify(t.mock.received.at(-1)!.body);
  const chatStream = async (content: string, headers?: Record<string, string>) => {
    const stream = await openai.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content }] }, headers ? { headers } : {});
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    return text;
  };

  before(async () => {
    t = await startTestGateway({ mockChunks: 41 });
    openai = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
  });
  after(() => t.close());

  it('mask: email, card with separators, lowercase spaced IBAN and a zero-width-split card never reach the provider', async () => {
    use({ rules: [{ id: 'pii-mask', types: ['EMAIL_ADDRESS', 'CREDIT_CARD', 'IBAN_CODE'], direction: 'request', action: 'mask' }] });
    const zw = '4111\u200b1111\u200b1111\u200b1111';
    const prompt = `mail ${EMAIL}, card ${CARD}, iban ${IBAN}, hidden ${zw}`;
    const { response } = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: prompt }] }).withResponse();
    const sent = upstreamText();
    for (const v of [EMAIL, CARD, IBAN, zw, '4111111111111111']) assert.ok(!sent.includes(v), `upstream saw ${v}`);
    assert.match(sent, /mail \[EMAIL_ADDRESS\], card \[CREDIT_CARD\], iban \[IBAN_CODE\], hidden \[CREDIT_CARD\]/);
    const row = await finishedExchange(t.gw, response.headers.get('x-portcullis-exchange-id')!);
    assert.deepEqual(row.findings.map((f) => [f.type, f.action, f.rule]), [
      ['EMAIL_ADDRESS', 'mask', 'pii-mask'], ['CREDIT_CARD', 'mask', 'pii-mask'], ['IBAN_CODE', 'mask', 'pii-mask'], ['CREDIT_CARD', 'mask', 'pii-mask'],
    ]);
    assert.ok(!JSON.stringify(row).includes(EMAIL));
  });

  it('tokenize: placeholders upstream, originals restored exactly in streamed answers split into 41 chunks (chat, Responses, Anthropic)', async () => {
    use({ rules: [{ id: 'pii-tok', types: ['EMAIL_ADDRESS', 'CREDIT_CARD', 'IBAN_CODE'], action: 'tokenize' }] });
    const prompt = `card ${CARD} belongs to ${EMAIL}, iban ${IBAN}`;
    assert.equal(await chatStream(prompt), `echo: ${prompt}`);
    const sent = upstreamText();
    assert.ok(!sent.includes(CARD) && !sent.includes(EMAIL) && !sent.includes(IBAN));
    assert.match(sent, /⟦CREDIT_CARD_1⟧ belongs to ⟦EMAIL_ADDRESS_1⟧, iban ⟦IBAN_CODE_1⟧/);
    const final = await openai.responses.stream({ model: 'gpt-4o', input: prompt }).finalResponse();
    assert.equal(final.output_text, `echo: ${prompt}`);
    const anthropic = new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0 });
    const msg = await anthropic.messages.stream({ model: 'claude-mock-1', max_tokens: 64, messages: [{ role: 'user', content: prompt }] }).finalMessage();
    assert.equal((msg.content[0] as { text: string }).text, `echo: ${prompt}`);
  });

  it('block: a secret is refused with the native error naming type and rule, never the value; nothing goes upstream', async () => {
    use({ rules: [{ id: 'no-secrets', types: ['SECRET_*'], action: 'block' }] });
    const before = t.mock.received.length;
    for (const secret of [GITHUB, PEM, Buffer.from(`token=${GITHUB}`).toString('base64')]) {
      await assert.rejects(openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `here: ${secret}` }] }), (err: InstanceType<typeof OpenAI.APIError>) => {
        assert.equal(err.status, 400);
        assert.match(err.message, /no-secrets/);
        assert.match(err.message, /SECRET_(GITHUB_TOKEN|PRIVATE_KEY)/);
        assert.ok(!err.message.includes(secret) && !err.message.includes(GITHUB));
        return true;
      });
    }
    const anthropic = new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0 });
    await assert.rejects(anthropic.messages.create({ model: 'claude-mock-1', max_tokens: 8, messages: [{ role: 'user', content: [{ type: 'text', text: `use ${GITHUB}` }] }] }), (err: InstanceType<typeof Anthropic.APIError>) => {
      assert.equal(err.status, 451);
      assert.ok(!JSON.stringify(err.error).includes(GITHUB));
      return true;
    });
    assert.equal(t.mock.received.length, before);
    // Token ids cannot be inspected: refused (400, naming the field) instead of forwarded unchecked; text still works.
    await assert.rejects(openai.embeddings.create({ model: 'text-embedding-3-small', input: [[1734, 8143, 374]] }), (err: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(err.status, 400);
      assert.match(err.message, /token ids \(input\[0\]\)/);
      return true;
    });
    assert.equal(t.mock.received.length, before);
    await openai.embeddings.create({ model: 'text-embedding-3-small', input: ['plain text'] });
    assert.equal(t.mock.received.length, before + 1);
  });

  it('response side: values split across 41 stream chunks are masked before the client sees them (chat and Responses)', async () => {
    use({ rules: [{ id: 'answers', types: ['EMAIL_ADDRESS', 'CREDIT_CARD', 'IBAN_CODE', 'SECRET_*'], direction: 'response', action: 'mask' }] });
    const prompt = `a ${EMAIL} b ${CARD} c ${IBAN} d ${GITHUB} e ${PEM} f`;
    const text = await chatStream(prompt);
    assert.ok(upstreamText().includes(EMAIL), 'no request rule: the provider got the prompt as sent');
    assert.equal(text, 'echo: a [EMAIL_ADDRESS] b [CREDIT_CARD] c [IBAN_CODE] d [SECRET_GITHUB_TOKEN] e [SECRET_PRIVATE_KEY] f');
    const final = await openai.responses.stream({ model: 'gpt-4o', input: prompt }).finalResponse();
    assert.equal(final.output_text, text);
  });

  it('a user-supplied ReDoS pattern cannot stall the gateway: the request completes', async () => {
    use({
      custom: [{ id: 'evil', type: 'EVIL', pattern: '(a+)+$', max_length: 64 }, { id: 'evil2', type: 'EVIL_TWO', pattern: '(x+x+)+y' }],
      rules: [{ id: 'evil', types: ['EVIL', 'EVIL_TWO'], action: 'block' }],
    });
    const r = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'a'.repeat(20_000) + '!' + 'x'.repeat(20_000) }] });
    assert.equal(r.choices[0]!.finish_reason, 'stop');
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { APICallError, generateText } from 'ai';
import AnthropicV0 from 'anthropic-sdk-v0';
import OpenAI from 'openai';
import OpenAIv6 from 'openai-v6';
import { GatewayError, type ErrorCode } from '../../src/core/errors.ts';
import { budgetError } from '../../src/policy/budgets/index.ts';
import { hookGuard } from '../budgets/harness.ts';
import { finishedExchange, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

/**
 * Issue #11 item 7: a policy refusal reaches the gateway once from every common client with its default retry
 * settings, and the client surfaces the refusal's message and code. The counter sits in the guard, so it counts
 * requests that reached the gateway's decision (what a retry would repeat).
 */
const REFUSALS: { code: ErrorCode; message: string }[] = [
  { code: 'policy_denied', message: 'Denied by rule "no-prod" (policy version v3).' },
  { code: 'content_blocked', message: 'The request was blocked by rule no-codenames: it contains CODENAME.' },
  { code: 'model_not_allowed', message: 'No policy rule allows you to use model "gpt-4o" on openai.chat (policy version v3).' },
  { code: 'approval_required', message: 'This request needs approval (rule "prod-data", policy version v3).' },
  { code: 'approval_denied', message: 'The request was denied: not for prod data.' },
];

describe('policy refusals are shown once, never retried (issue #11 item 7)', () => {
  let t: TestGateway;
  let reached = 0;
  let refusal: () => GatewayError = () => new GatewayError('policy_denied', 'x');
  before(async () => {
    t = await startTestGateway();
    t.gw.setGuard(hookGuard(() => {
      reached++;
      return Promise.reject(refusal());
    }));
  });
  after(() => t.close());

  /** Runs `call` against a refusal with `code`; returns the error the client surfaced and how often it asked. */
  async function refusedOnce(code: ErrorCode, call: () => Promise<unknown>): Promise<{ err: unknown; message: string }> {
    const r = REFUSALS.find((x) => x.code === code)!;
    refusal = () => new GatewayError(r.code, r.message);
    reached = 0;
    const err = await call().then(() => assert.fail('expected a refusal'), (e: unknown) => e);
    assert.equal(reached, 1, `${code}: the client asked ${reached} times`);
    return { err, message: r.message };
  }

  for (const { code } of REFUSALS) {
    it(`${code}: openai v7 and v6 (chat, chat stream, responses) get a 400 BadRequestError with the message and code`, async () => {
      const v7 = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey });
      const v6 = new OpenAIv6({ baseURL: t.openaiBase, apiKey: t.userKey });
      const calls: [string, () => Promise<unknown>][] = [
        ['v7 chat', () => v7.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] })],
        ['v7 chat stream', () => v7.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] })],
        ['v7 responses', () => v7.responses.create({ model: 'gpt-4o', input: 'hi' })],
        ['v6 chat', () => v6.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] })],
      ];
      for (const [name, call] of calls) {
        const { err, message } = await refusedOnce(code, call);
        assert.ok(err instanceof OpenAI.BadRequestError || err instanceof OpenAIv6.BadRequestError, `${name}: ${String(err)}`);
        const e = err as InstanceType<typeof OpenAI.APIError>;
        assert.equal(e.status, 400, name);
        assert.equal(e.code, code, name);
        assert.equal(e.type, 'invalid_request_error', name);
        assert.ok(e.message.includes(message), `${name}: ${e.message}`);
        assert.equal(e.headers?.get('x-should-retry'), 'false');
      }
    });

    it(`${code}: @anthropic-ai/sdk v1 and v0 (plain and streamed) get a 451 permission_error, not an auth error`, async () => {
      const clients = [new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey }), new AnthropicV0({ baseURL: t.anthropicBase, apiKey: t.userKey })];
      for (const [i, c] of clients.entries()) {
        for (const stream of [false, true]) {
          const { err, message } = await refusedOnce(code, () => (c as Anthropic).messages.create({ model: 'claude-mock-1', max_tokens: 8, stream, messages: [{ role: 'user', content: 'hi' }] }));
          const name = `${i === 0 ? 'v1' : 'v0'}${stream ? ' stream' : ''}`;
          assert.ok(err instanceof Anthropic.APIError || err instanceof AnthropicV0.APIError, `${name}: ${String(err)}`);
          assert.ok(!(err instanceof Anthropic.AuthenticationError) && !(err instanceof Anthropic.PermissionDeniedError), name);
          const e = err as InstanceType<typeof Anthropic.APIError>;
          assert.equal(e.status, 451, name);
          const body = (e.error as { error?: { type?: string; message?: string; portcullis_code?: string } }).error;
          assert.equal(body?.type, 'permission_error', name);
          assert.equal(body?.portcullis_code, code, name);
          assert.equal(body?.message, message, name);
          assert.ok(e.message.includes(JSON.stringify(message)), `${name}: the SDK's message carries it: ${e.message}`);
        }
      }
    });

    it(`${code}: Vercel AI SDK and LangChain (default retries) surface it once`, async () => {
      const provider = createOpenAI({ baseURL: t.openaiBase, apiKey: t.userKey });
      const vercel = await refusedOnce(code, () => generateText({ model: provider('gpt-4o'), prompt: 'hi' }));
      assert.ok(APICallError.isInstance(vercel.err), String(vercel.err));
      assert.equal(vercel.err.statusCode, 400);
      assert.equal(vercel.err.isRetryable, false);
      assert.ok(vercel.err.message.includes(vercel.message), vercel.err.message);
      assert.match(vercel.err.responseBody ?? '', new RegExp(`"code":"${code}"`));

      const llm = new ChatOpenAI({ model: 'gpt-4o', apiKey: t.userKey, configuration: { baseURL: t.openaiBase } });
      const lc = await refusedOnce(code, () => llm.invoke('hi'));
      const e = lc.err as { status?: number; code?: string; message: string };
      assert.equal(e.status, 400);
      assert.equal(e.code, code);
      assert.ok(e.message.includes(lc.message), e.message);
    });
  }

  it('the record holds the status the client was sent, per protocol', async () => {
    refusal = () => new GatewayError('content_blocked', 'blocked');
    const oa = await new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 }).chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).then(() => undefined, (e: InstanceType<typeof OpenAI.APIError>) => e);
    const an = await new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0 }).messages
      .create({ model: 'claude-mock-1', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }).then(() => undefined, (e: InstanceType<typeof Anthropic.APIError>) => e);
    const rowOf = (e: { headers?: Headers } | undefined) => finishedExchange(t.gw, e!.headers!.get('x-portcullis-exchange-id')!);
    assert.equal((await rowOf(oa)).httpStatus, 400);
    assert.equal((await rowOf(an)).httpStatus, 451);
  });

  it('a budget refusal stays 429 with retry-after on both protocols; a gateway failure stays a retried 5xx', async () => {
    refusal = () => budgetError({ ok: false, limitId: 'user-rpm', metric: 'requests_per_minute', scope: 'user:alice', retryAfterSeconds: 17 });
    const oa = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    const e1 = await oa.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).then(() => undefined, (e: unknown) => e);
    assert.ok(e1 instanceof OpenAI.RateLimitError);
    assert.equal(e1.headers.get('retry-after'), '17');
    assert.equal(e1.headers.get('x-should-retry'), null, 'a budget refusal may be retried after retry-after');
    const an = new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0 });
    const e2 = await an.messages.create({ model: 'claude-mock-1', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }).then(() => undefined, (e: unknown) => e);
    assert.ok(e2 instanceof Anthropic.RateLimitError);
    assert.equal(e2.headers.get('retry-after'), '17');

    refusal = () => new GatewayError('evaluation_error', 'The policy could not be evaluated.');
    reached = 0;
    const e3 = await new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 1 }).chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).then(() => undefined, (e: unknown) => e);
    assert.ok(e3 instanceof OpenAI.InternalServerError);
    assert.equal(e3.status, 503);
    assert.equal(reached, 2, 'the gateway\'s own failure is worth a retry');
  });
});

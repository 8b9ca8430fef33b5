import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import AnthropicV0 from 'anthropic-sdk-v0';
import { finishedExchange, PROVIDER_KEY_ANTHROPIC, startTestGateway, type TestGateway } from '../helpers/gateway.ts';

describe('Anthropic wire compatibility through the gateway', () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway();
  });
  after(() => t.close());
  const lastUpstream = () => t.mock.received[t.mock.received.length - 1]!;

  it('messages (JSON) with the key as x-api-key (SDK 0.x style) and as Bearer (SDK 1.x authToken)', async () => {
    const v0 = new AnthropicV0({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0 });
    const m0 = await v0.messages.create({ model: 'claude-mock-1', max_tokens: 64, messages: [{ role: 'user', content: 'hi from v0' }] });
    assert.match((m0.content[0] as { text: string }).text, /hi from v0/);
    assert.equal(lastUpstream().headers['x-api-key'], PROVIDER_KEY_ANTHROPIC);
    const v1 = new Anthropic({ baseURL: t.anthropicBase, apiKey: null, authToken: t.userKey, maxRetries: 0 });
    const { data, response } = await v1.messages.create({ model: 'claude-mock-1', max_tokens: 64, messages: [{ role: 'user', content: 'hi from v1' }] }).withResponse();
    assert.match((data.content[0] as { text: string }).text, /hi from v1/);
    const up = lastUpstream();
    assert.equal(up.headers['x-api-key'], PROVIDER_KEY_ANTHROPIC);
    assert.equal(up.headers.authorization, undefined, 'the client bearer is stripped');
    const row = await finishedExchange(t.gw, response.headers.get('x-portcullis-exchange-id')!);
    assert.equal(row.endpoint, 'anthropic.messages');
    assert.equal(row.usage?.outputTokens, data.usage.output_tokens);
  });

  it('messages (SSE): text deltas, finalMessage, usage recorded', async () => {
    const client = new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0 });
    const stream = client.messages.stream({ model: 'claude-mock-2', max_tokens: 64, messages: [{ role: 'user', content: 'stream anthropic' }] });
    const types: string[] = [];
    for await (const ev of stream) types.push(ev.type);
    const final = await stream.finalMessage();
    assert.match((final.content[0] as { text: string }).text, /stream anthropic/);
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assert.ok(types.includes('content_block_delta'));
  });

  it('streams tool_use with input_json_delta', async () => {
    const client = new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0 });
    const stream = client.messages.stream({
      model: 'claude-mock-1', max_tokens: 64,
      tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      messages: [{ role: 'user', content: 'weather in Rome?' }],
    });
    const final = await stream.finalMessage();
    const tool = final.content.find((b) => b.type === 'tool_use');
    assert.ok(tool && tool.type === 'tool_use');
    assert.equal(tool.name, 'get_weather');
    assert.equal(typeof tool.input, 'object');
  });

  it('count_tokens', async () => {
    const client = new Anthropic({ baseURL: t.anthropicBase, apiKey: t.userKey, maxRetries: 0 });
    const r = await client.messages.countTokens({ model: 'claude-mock-1', messages: [{ role: 'user', content: 'count these tokens please' }] });
    assert.ok(r.input_tokens > 0);
  });
});

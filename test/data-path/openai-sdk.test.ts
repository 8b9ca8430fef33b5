import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import OpenAIv6 from 'openai-v6';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText } from 'ai';
import { ChatOpenAI } from '@langchain/openai';
import { finishedExchange, PROVIDER_KEY_OPENAI, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { exchangeDetail } from '../../src/audit/exchange-view.ts';

/** The official OpenAI-side clients, unchanged, against the gateway: only base URL and key differ. */
describe('OpenAI wire compatibility through the gateway', () => {
  let t: TestGateway;
  let client: OpenAI;
  before(async () => {
    t = await startTestGateway();
    client = new OpenAI({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
  });
  after(() => t.close());

  const lastUpstream = () => t.mock.received[t.mock.received.length - 1]!;

  it('chat completions (JSON): answer, provider key injected, client key stripped, exchange recorded', async () => {
    const { data, response } = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello there' }] }).withResponse();
    assert.match(data.choices[0]!.message.content!, /hello there/);
    const up = lastUpstream();
    assert.equal(up.headers.authorization, `Bearer ${PROVIDER_KEY_OPENAI}`);
    assert.ok(!JSON.stringify(up.headers).includes(t.userKey), 'the Portcullis key never reaches the provider');
    const id = response.headers.get('x-portcullis-exchange-id')!;
    const row = await finishedExchange(t.gw, id);
    assert.equal(row.status, 'completed');
    assert.equal(row.subject, 'user:alice');
    assert.equal(row.endpoint, 'openai.chat');
    assert.equal(row.usage?.totalTokens, data.usage?.total_tokens);
    assert.ok(row.timings!.upstreamFirstByteMs! >= 0 && row.timings!.totalMs! >= row.timings!.upstreamFirstByteMs!);
    const detail = await exchangeDetail(t.gw.store, t.gw.keyring, id);
    assert.deepEqual((detail!.client_request as { messages: unknown }).messages, [{ role: 'user', content: 'hello there' }]);
    assert.equal((detail!.response as { id: string }).id, data.id);
  });

  it('chat completions (SSE) with include_usage: every chunk forwarded and recorded with timing', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'stream me please' }] })
      .withResponse();
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const c of stream) {
      chunks++;
      text += c.choices[0]?.delta.content ?? '';
      if (c.usage) usage = c.usage;
    }
    assert.match(text, /stream me please/);
    assert.ok(usage && usage.total_tokens > 0);
    const row = await finishedExchange(t.gw, response.headers.get('x-portcullis-exchange-id')!);
    assert.equal(row.status, 'completed');
    assert.equal(row.stream, true);
    assert.equal(row.usage?.totalTokens, usage.total_tokens);
    const detail = await exchangeDetail(t.gw.store, t.gw.keyring, row.id);
    const events = detail!.events as { t_ms: number; data: string }[];
    assert.equal(events.length, chunks + 1, 'every chunk plus [DONE] recorded');
    assert.equal(events.at(-1)!.data, '[DONE]');
    assert.ok(events.every((e, i) => i === 0 || e.t_ms >= events[i - 1]!.t_ms), 'relative times are monotonic');
  });

  it('chat completions (SSE) without include_usage: the gateway counts tokens anyway, the client sees exactly what it asked for', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'count me' }] })
      .withResponse();
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    assert.ok(chunks.length > 1);
    assert.ok(chunks.every((c) => c.choices.length > 0 && !c.usage), 'no usage-only chunk reaches a client that did not ask for it');
    assert.deepEqual((lastUpstream().body as { stream_options: unknown }).stream_options, { include_usage: true });
    const row = await finishedExchange(t.gw, response.headers.get('x-portcullis-exchange-id')!);
    assert.ok((row.usage?.totalTokens ?? 0) > 0, 'usage recorded for budgets');
    const detail = await exchangeDetail(t.gw.store, t.gw.keyring, row.id);
    assert.equal((detail!.events as unknown[]).length, chunks.length + 2, 'the usage chunk and [DONE] are still in the record');
  });

  it('streams tool calls with arguments split across chunks', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o', stream: true,
      messages: [{ role: 'user', content: 'what is the weather in Paris?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    });
    let args = '';
    let name = '';
    let finish: string | null = null;
    for await (const c of stream) {
      const tc = c.choices[0]?.delta.tool_calls?.[0];
      if (tc?.function?.name) name = tc.function.name;
      args += tc?.function?.arguments ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(name, 'get_weather');
    assert.equal(finish, 'tool_calls');
    assert.equal(typeof JSON.parse(args), 'object');
  });

  it('Responses API: JSON and the SSE event stream', async () => {
    const r = await client.responses.create({ model: 'gpt-4o', input: 'responses json' });
    assert.match(r.output_text, /responses json/);
    const stream = client.responses.stream({ model: 'gpt-4o', input: 'responses stream' });
    const types = new Set<string>();
    for await (const ev of stream) types.add(ev.type);
    const final = await stream.finalResponse();
    assert.match(final.output_text, /responses stream/);
    for (const t of ['response.created', 'response.output_text.delta', 'response.completed']) assert.ok(types.has(t), t);
  });

  it('embeddings (SDK default base64 encoding) and legacy completions', async () => {
    const e = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
    assert.equal(e.data.length, 2);
    assert.ok(e.data[0]!.embedding.length > 0 && typeof e.data[0]!.embedding[0] === 'number');
    const c = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'legacy prompt' });
    assert.match(c.choices[0]!.text, /legacy prompt/);
    const s = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'legacy stream', stream: true });
    let text = '';
    for await (const ch of s) text += ch.choices[0]?.text ?? '';
    assert.match(text, /legacy stream/);
  });

  it('/v1/models lists the exact routed models', async () => {
    const models = [];
    for await (const m of client.models.list()) models.push(m.id);
    assert.deepEqual(models.sort(), ['renamed-model', 'text-embedding-3-small']);
  });

  it('renames the model upstream when the route says so', async () => {
    await client.chat.completions.create({ model: 'renamed-model', messages: [{ role: 'user', content: 'x' }] });
    assert.equal((lastUpstream().body as { model: string }).model, 'gpt-4o-upstream');
  });

  it('openai SDK v6 works unchanged', async () => {
    const v6 = new OpenAIv6({ baseURL: t.openaiBase, apiKey: t.userKey, maxRetries: 0 });
    const r = await v6.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'from v6' }] });
    assert.match(r.choices[0]!.message.content!, /from v6/);
  });

  it('Vercel AI SDK (default provider calls /v1/responses): generateText and streamText', async () => {
    const openai = createOpenAI({ baseURL: t.openaiBase, apiKey: t.userKey });
    const before = t.mock.received.length;
    const g = await generateText({ model: openai('gpt-4o'), prompt: 'vercel generate', maxRetries: 0 });
    assert.match(g.text, /vercel generate/);
    assert.equal(t.mock.received[before]!.path, '/v1/responses');
    const s = streamText({ model: openai('gpt-4o'), prompt: 'vercel stream', maxRetries: 0 });
    let text = '';
    for await (const part of s.textStream) text += part;
    assert.match(text, /vercel stream/);
  });

  it('LangChain ChatOpenAI: invoke and stream', async () => {
    const llm = new ChatOpenAI({ model: 'gpt-4o', apiKey: t.userKey, configuration: { baseURL: t.openaiBase }, maxRetries: 0 });
    const r = await llm.invoke('langchain invoke');
    assert.match(JSON.stringify(r.content), /langchain invoke/);
    let text = '';
    for await (const chunk of await llm.stream('langchain stream')) text += typeof chunk.content === 'string' ? chunk.content : JSON.stringify(chunk.content);
    assert.match(text, /langchain stream/);
  });
});

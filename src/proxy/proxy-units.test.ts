import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ENDPOINTS } from './endpoints.ts';
import { clientResponseHeaders, presentedCredential, upstreamRequestHeaders } from './headers.ts';
import { ProviderRuntime } from './providers.ts';
import { RouteTable } from './routes.ts';
import { encodeSse, SseDecoder } from './sse.ts';

const ep = (id: string) => ENDPOINTS.find((e) => e.id === id)!;
const timeouts = { connectMs: 1000, firstByteMs: 1000, idleMs: 1000 };

describe('routes', () => {
  const table = new RouteTable(
    [
      { model: 'gpt-4o', provider: 'azure', upstream_model: 'prod-gpt4o' },
      { model: 'gpt-*', provider: 'openai' },
      { model: 'claude-?-*', provider: 'anthropic' },
      { model: '*', provider: 'mock' },
    ],
    [
      { name: 'azure', type: 'azure-openai' },
      { name: 'openai', type: 'openai' },
      { name: 'anthropic', type: 'anthropic' },
      { name: 'mock', type: 'mock' },
    ],
  );
  it('first match wins; exact before later globs; renames', () => {
    assert.deepEqual(table.resolve('gpt-4o', 'openai'), { pattern: 'gpt-4o', provider: 'azure', upstreamModel: 'prod-gpt4o' });
    assert.equal(table.resolve('gpt-4o-mini', 'openai')?.provider, 'openai');
    assert.equal(table.resolve('gpt-4o-mini', 'openai')?.upstreamModel, 'gpt-4o-mini');
  });
  it('families: an Anthropic path never routes to an OpenAI-only provider', () => {
    assert.equal(table.resolve('claude-3-opus', 'anthropic')?.provider, 'anthropic');
    assert.equal(table.resolve('gpt-4o', 'anthropic')?.provider, 'mock', 'falls through to the provider that speaks both');
    assert.equal(table.resolve('claude-3-opus', 'openai')?.provider, 'mock');
  });
  it('glob metacharacters in model names are literal', () => {
    const t = new RouteTable([{ model: 'a.b*', provider: 'p' }], [{ name: 'p', type: 'openai' }]);
    assert.equal(t.resolve('aXb-1', 'openai'), undefined);
    assert.ok(t.resolve('a.b-1', 'openai'));
  });
});

describe('headers', () => {
  it('strips client credentials, hop-by-hop and Connection-listed headers; injects the provider key', () => {
    const out = upstreamRequestHeaders(
      { authorization: 'Bearer pcl_x', 'x-api-key': 'k', 'api-key': 'k', cookie: 'c', connection: 'keep-alive, x-secret-hop', 'x-secret-hop': '1', 'x-portcullis-conversation': 'c1', 'user-agent': 'sdk', 'anthropic-version': '2023-06-01', 'openai-organization': 'org' },
      { 'x-api-key': 'sk-provider' },
      42,
    );
    assert.deepEqual(out, { 'user-agent': 'sdk', 'anthropic-version': '2023-06-01', 'accept-encoding': 'identity', 'content-length': '42', 'x-api-key': 'sk-provider' });
  });
  it('response: drops hop-by-hop, length, encoding and cookies, keeps provider ids', () => {
    assert.deepEqual(clientResponseHeaders({ 'content-type': 'application/json', 'set-cookie': 'a', 'transfer-encoding': 'chunked', 'x-request-id': 'r1', 'content-length': '5' }), { 'content-type': 'application/json', 'x-request-id': 'r1' });
  });
  it('accepts Bearer, x-api-key and api-key credentials', () => {
    assert.equal(presentedCredential({ authorization: 'Bearer abc' }), 'abc');
    assert.equal(presentedCredential({ authorization: 'bearer  abc ' }), 'abc');
    assert.equal(presentedCredential({ 'x-api-key': 'def' }), 'def');
    assert.equal(presentedCredential({ authorization: 'Basic xyz' }), undefined);
  });
});

describe('provider targets', () => {
  const make = (type: 'openai' | 'anthropic' | 'azure-openai' | 'openai-compatible', baseUrl: string, apiVersion?: string) =>
    new ProviderRuntime({ config: { name: 'p', type, api_version: apiVersion }, baseUrl, apiKey: 'KEY', timeouts, connections: 1 });
  it('builds each provider type’s URL and auth header', async () => {
    const openai = make('openai', 'https://api.openai.com/v1');
    assert.equal(openai.target(ep('openai.chat'), 'gpt').path, '/v1/chat/completions');
    assert.deepEqual(openai.target(ep('openai.chat'), 'gpt').authHeaders, { authorization: 'Bearer KEY' });
    const anthropic = make('anthropic', 'https://api.anthropic.com');
    assert.equal(anthropic.target(ep('anthropic.messages'), 'c').path, '/v1/messages');
    assert.deepEqual(anthropic.target(ep('anthropic.messages'), 'c').authHeaders, { 'x-api-key': 'KEY' });
    const azure = make('azure-openai', 'https://res.openai.azure.com/openai', '2024-10-21');
    assert.equal(azure.target(ep('openai.chat'), 'my deploy').path, '/openai/deployments/my%20deploy/chat/completions?api-version=2024-10-21');
    assert.deepEqual(azure.target(ep('openai.chat'), 'x').authHeaders, { 'api-key': 'KEY' });
    const azureV1 = make('azure-openai', 'https://res.openai.azure.com/openai/v1');
    assert.equal(azureV1.target(ep('openai.responses'), 'x').path, '/openai/v1/responses');
    const ollama = make('openai-compatible', 'http://localhost:11434/v1/');
    assert.equal(ollama.target(ep('openai.embeddings'), 'x').path, '/v1/embeddings');
    for (const p of [openai, anthropic, azure, azureV1, ollama]) await p.close();
  });
});

describe('SSE', () => {
  it('decodes events split anywhere, including inside a multi-byte character, and re-encodes them', () => {
    const text = 'event: a\ndata: {"t":"é😀"}\n\ndata: line1\ndata: line2\n\n: comment\n\ndata: [DONE]\n\n';
    const bytes = Buffer.from(text);
    for (let cut = 1; cut < bytes.length; cut++) {
      const d = new SseDecoder();
      const events = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
      assert.deepEqual(events.map((e) => [e.event, e.data]), [['a', '{"t":"é😀"}'], [undefined, 'line1\nline2'], [undefined, '[DONE]']], `cut at ${cut}`);
    }
    assert.equal(encodeSse({ event: undefined, id: undefined, data: 'line1\nline2' }), 'data: line1\ndata: line2\n\n');
  });
  it('refuses an unbounded line (bounded buffer)', () => {
    const d = new SseDecoder(1024);
    assert.throws(() => d.push(Buffer.from('data: ' + 'x'.repeat(5000))));
  });
});

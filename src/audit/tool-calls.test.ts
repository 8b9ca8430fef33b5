import assert from 'node:assert/strict';
import { createSecretKey, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { argumentsDigest, argumentsTextDigest, namesTool, StreamToolCalls, toolCallsInJson, type ModelToolCall } from './tool-calls.ts';

const streamed = (endpoint: string, events: unknown[]): ModelToolCall[] => {
  const out: ModelToolCall[] = [];
  const s = new StreamToolCalls(endpoint, (c) => out.push(c));
  for (const e of events) s.event(typeof e === 'string' ? e : JSON.stringify(e));
  s.end();
  return out;
};

describe('tool calls in model answers', () => {
  it('whole answers: chat tool_calls, Responses function_call (with a namespace), Anthropic tool_use', () => {
    assert.deepEqual(toolCallsInJson('openai.chat', { choices: [{ message: { tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] } }] }),
      [{ id: 'call_1', name: 'get_weather', argumentsText: '{"city":"Paris"}' }]);
    assert.deepEqual(toolCallsInJson('openai.responses', { output: [{ type: 'message' }, { type: 'function_call', call_id: 'call_2', name: 'get_weather', namespace: 'mcp__dev', arguments: '{}' }] }),
      [{ id: 'call_2', name: 'mcp__dev__get_weather', argumentsText: '{}' }]);
    assert.deepEqual(toolCallsInJson('anthropic.messages', { content: [{ type: 'text', text: 'x' }, { type: 'tool_use', id: 'toolu_1', name: 'mcp__dev__get_weather', input: { city: 'Rome' } }] }),
      [{ id: 'toolu_1', name: 'mcp__dev__get_weather', argumentsText: '{"city":"Rome"}' }]);
    assert.deepEqual(toolCallsInJson('openai.embeddings', { choices: [] }), []);
    assert.deepEqual(toolCallsInJson('openai.chat', 'not an object'), []);
  });

  it('a chat stream: pieces assembled per choice and index, handed over at the finish reason', () => {
    const chunk = (delta: unknown, finish: string | null = null) => ({ choices: [{ index: 0, delta, finish_reason: finish }] });
    const calls = streamed('openai.chat', [
      chunk({ role: 'assistant', tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'a', arguments: '' } }, { index: 1, id: 'call_b', function: { name: 'b', arguments: '{' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"x":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }, { index: 1, function: { arguments: '}' } }] }),
      chunk({}, 'tool_calls'),
      '[DONE]',
    ]);
    assert.deepEqual(calls, [{ id: 'call_a', name: 'a', argumentsText: '{"x":1}' }, { id: 'call_b', name: 'b', argumentsText: '{}' }]);
    assert.deepEqual(streamed('openai.chat', [chunk({ content: 'hello' }), chunk({}, 'stop')]), [], 'a text answer has none');
  });

  it('a Responses stream: each function_call at its output_item.done', () => {
    const item = { type: 'function_call', id: 'fc_1', call_id: 'call_r', name: 'get_weather', namespace: 'mcp__dev', arguments: '{"city":"Paris"}' };
    assert.deepEqual(streamed('openai.responses', [
      { type: 'response.output_item.added', item: { ...item, arguments: '' } },
      { type: 'response.function_call_arguments.delta', delta: '{"city"' },
      { type: 'response.output_item.done', item },
    ]), [{ id: 'call_r', name: 'mcp__dev__get_weather', argumentsText: '{"city":"Paris"}' }]);
  });

  it('an Anthropic stream: input_json_delta pieces closed by content_block_stop; an empty input is {}', () => {
    assert.deepEqual(streamed('anthropic.messages', [
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_x', name: 'mcp__dev__get_weather', input: {} } },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city": "Ro' } },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: 'me"}' } },
      { type: 'content_block_stop', index: 1 },
      { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_y', name: 'now', input: {} } },
      { type: 'content_block_stop', index: 2 },
    ]), [{ id: 'toolu_x', name: 'mcp__dev__get_weather', argumentsText: '{"city": "Rome"}' }, { id: 'toolu_y', name: 'now', argumentsText: '{}' }]);
  });

  it('the argument digest is keyed and canonical: key order and spacing do not count, values and keys do', () => {
    const k = createSecretKey(randomBytes(32));
    const d = argumentsDigest(k, { city: 'Paris', unit: 'celsius' });
    assert.equal(argumentsTextDigest(k, '{ "unit": "celsius",\n "city": "Paris" }'), d);
    assert.notEqual(argumentsDigest(k, { city: 'Paris', unit: 'fahrenheit' }), d);
    assert.notEqual(argumentsDigest(createSecretKey(randomBytes(32)), { city: 'Paris', unit: 'celsius' }), d, 'another key, another digest');
    assert.equal(argumentsTextDigest(k, 'not json'), undefined);
    assert.equal(argumentsDigest(k, ['a']), undefined);
  });

  it('names: bare, Claude Code mcp__<server>__<tool>, Codex namespace, aggregated <server>__<tool>; never another server', () => {
    for (const n of ['get_weather', 'mcp__dev__get_weather', 'dev__get_weather', 'mcp__portcullis__dev__get_weather']) assert.equal(namesTool(n, 'dev', 'get_weather'), true, n);
    for (const n of ['mcp__prod__get_weather', 'get_weather2', 'xdev__get_weather', 'mcp__dev__get_weather_x']) assert.equal(namesTool(n, 'dev', 'get_weather'), false, n);
  });
});

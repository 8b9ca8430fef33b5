import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { isGatewayError } from '../../core/errors.ts';
import { ConversationTokenizer } from '../tokenize/tokenizer.ts';
import { resolver, standInScanner } from '../stream/testing.ts';
import { createRequestTransform, createResponseTransform, type ContentOptions } from './index.ts';
import type { Action } from '../types.ts';

const E = 'jane@example.com';
const M = '[EMAIL_ADDRESS]';

function opts(action: Action = 'mask', tokenizer?: ConversationTokenizer): ContentOptions {
  return { scanners: { request: standInScanner(), response: standInScanner() }, actionFor: resolver(action), tokenizer };
}

function check(api: Parameters<typeof createRequestTransform>[0], body: unknown, paths: string[], untouched = 0) {
  const before = structuredClone(body);
  const r = createRequestTransform(api, opts())(body);
  assert.deepEqual(body, before, 'input not mutated');
  // Only the deliberately untouched places (unknown fields, signed reasoning) still hold the value.
  assert.equal(JSON.stringify(r.body).split(E).length - 1, untouched, JSON.stringify(r.body));
  assert.deepEqual(r.findings.map((f) => f.path).sort(), [...paths].sort());
  assert.ok(r.findings.every((f) => f.direction === 'request' && f.action === 'mask'));
  return r;
}

test('openai.chat: every text-bearing part, unknown fields untouched', () => {
  const body = {
    model: 'gpt-4o',
    x_unknown: { keep: E },
    messages: [
      { role: 'system', content: `sys ${E}` },
      { role: 'developer', content: [{ type: 'text', text: `dev ${E}` }] },
      { role: 'user', content: [{ type: 'text', text: `hi ${E}` }, { type: 'image_url', image_url: { url: 'https://x/y.png' } }] },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'send', arguments: JSON.stringify({ to: E, n: 1 }) } }],
      },
      { role: 'tool', tool_call_id: 'c1', content: `sent to ${E}` },
    ],
    tools: [
      { type: 'function', function: { name: 'send', description: `mail ${E}`, parameters: { type: 'object', properties: { to: { type: 'string', description: `e.g. ${E}` } } } } },
    ],
  };
  const r = check('openai.chat', body, [
    'messages[0].content',
    'messages[1].content[0].text',
    'messages[2].content[0].text',
    'messages[3].tool_calls[0].function.arguments#/to',
    'messages[4].content',
    'tools[0].function.description',
    'tools[0].function.parameters.properties.to.description',
  ], 1);
  const b = r.body as typeof body;
  assert.equal(b.x_unknown, body.x_unknown);
  assert.equal((b.messages[2]!.content as unknown[])[1], (body.messages[2]!.content as unknown[])[1]);
  assert.deepEqual(JSON.parse(b.messages[3]!.tool_calls![0]!.function.arguments), { to: M, n: 1 });
  assert.equal(b.messages[0]!.content, `sys ${M}`);
});

test('openai.responses: instructions, input items, tool outputs, tools', () => {
  check(
    'openai.responses',
    {
      model: 'gpt-4.1',
      instructions: `be nice to ${E}`,
      input: [
        { role: 'user', content: `hi ${E}` },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: `again ${E}` }] },
        { type: 'function_call', call_id: 'c', name: 'f', arguments: `{"to":"${E}"}` },
        { type: 'function_call_output', call_id: 'c', output: `ok ${E}` },
        { type: 'reasoning', summary: [{ type: 'summary_text', text: E }], encrypted_content: 'x' },
      ],
      tools: [{ type: 'function', name: 'f', description: `to ${E}`, parameters: {} }],
    },
    ['instructions', 'input[0].content', 'input[1].content[0].text', 'input[2].arguments#/to', 'input[3].output', 'tools[0].description'],
    1,
  );
  check('openai.responses', { input: `plain ${E}` }, ['input']);
});

test('openai.embeddings and completions: strings scanned, token arrays reported unscanned', () => {
  check('openai.embeddings', { input: `x ${E}` }, ['input']);
  const r = check('openai.embeddings', { input: [`a ${E}`, 'b', [1, 2, 3]] }, ['input[0]']);
  assert.deepEqual(r.unscanned, ['input[2]']);
  check('openai.completions', { prompt: [`p ${E}`], suffix: `s ${E}` }, ['prompt[0]', 'suffix']);
  assert.deepEqual(createRequestTransform('openai.completions', opts())({ prompt: [1, 2] }).unscanned, ['prompt']);
});

test('anthropic.messages: system, text, tool_use input leaves, tool_result, documents; thinking untouched', () => {
  const thinking = { type: 'thinking', thinking: E, signature: 'sig' };
  const r = check(
    'anthropic.messages',
    {
      system: [{ type: 'text', text: `sys ${E}` }],
      messages: [
        { role: 'user', content: `hi ${E}` },
        { role: 'assistant', content: [thinking, { type: 'tool_use', id: 't', name: 'send', input: { to: [E], meta: { cc: E } } }] },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 't', content: [{ type: 'text', text: `done ${E}` }] },
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: `doc ${E}` } },
          ],
        },
      ],
      tools: [{ name: 'send', description: `send ${E}`, input_schema: { type: 'object' } }],
    },
    [
      'system[0].text',
      'messages[0].content',
      'messages[1].content[1].input#/to/0',
      'messages[1].content[1].input#/meta/cc',
      'messages[2].content[0].content[0].text',
      'messages[2].content[1].source.data',
      'tools[0].description',
    ],
    1,
  );
  void r;
  assert.equal(check('anthropic.messages', { system: `s ${E}`, messages: [] }, ['system']).changed, true);
});

test('no findings → the same body object', () => {
  const body = { messages: [{ role: 'user', content: 'hello' }] };
  const r = createRequestTransform('openai.chat', opts())(body);
  assert.equal(r.body, body);
  assert.equal(r.changed, false);
});

test('block is returned as a value naming types and rules, with every finding recorded', () => {
  const r = createRequestTransform('openai.chat', opts('block'))({ messages: [{ role: 'user', content: `a ${E} 4242424242424242` }] });
  assert.ok(r.blocked && isGatewayError(r.blocked));
  assert.equal(r.blocked.code, 'content_blocked');
  assert.deepEqual(r.blocked.details, {
    direction: 'request',
    types: ['CREDIT_CARD', 'EMAIL_ADDRESS'],
    rules: ['r-credit_card', 'r-email_address'],
    path: 'messages[0].content',
  });
  assert.equal(r.findings.length, 2);
});

test('a scanner that throws fails closed with evaluation_error', () => {
  const o: ContentOptions = { scanners: { request: standInScanner({ throwAfter: 0 }) }, actionFor: resolver('mask') };
  assert.throws(
    () => createRequestTransform('openai.chat', o)({ messages: [{ role: 'user', content: 'x' }] }),
    (e: unknown) => isGatewayError(e) && e.code === 'evaluation_error',
  );
});

test('tokenize round trip: request placeholders, non-streamed answers restored per API', () => {
  const tok = new ConversationTokenizer();
  const req = createRequestTransform('openai.chat', opts('tokenize', tok))({ messages: [{ role: 'user', content: `mail ${E}` }] });
  const sent = JSON.stringify(req.body);
  assert.ok(sent.includes('\u27e6EMAIL_ADDRESS_1\u27e7') && !sent.includes(E));
  const p = '\u27e6EMAIL_ADDRESS_1\u27e7';
  const res = createResponseTransform('openai.chat', opts('tokenize', tok));
  const chat = res({
    choices: [{ index: 0, message: { role: 'assistant', content: `Sure, ${p}.`, tool_calls: [{ function: { arguments: `{"to":"${p}"}` } }] } }],
  });
  assert.equal((chat.body as { choices: { message: { content: string } }[] }).choices[0]!.message.content, `Sure, ${E}.`);
  assert.ok(JSON.stringify(chat.body).includes(`{\\"to\\":\\"${E}\\"}`));
  const anth = createResponseTransform('anthropic.messages', opts('tokenize', tok))({
    content: [{ type: 'text', text: p }, { type: 'tool_use', input: { to: p } }],
  });
  assert.deepEqual(anth.body, { content: [{ type: 'text', text: E }, { type: 'tool_use', input: { to: E } }] });
  const resp = createResponseTransform('openai.responses', opts('tokenize', tok))({
    output: [{ type: 'message', content: [{ type: 'output_text', text: p, logprobs: [] }] }, { type: 'function_call', arguments: `{"a":"${p}"}` }],
  });
  assert.ok(JSON.stringify(resp.body).includes(E));
  assert.ok(!JSON.stringify(resp.body).includes('\u27e6'));
});

test('non-streamed answers: new findings masked, logprobs dropped where text changed', () => {
  const r = createResponseTransform('openai.chat', opts('mask'))({
    choices: [{ index: 0, message: { content: `x ${E}` }, logprobs: { content: [{ token: E }] } }, { index: 1, message: { content: 'ok' }, logprobs: { content: [] } }],
  });
  const b = r.body as { choices: { message: { content: string }; logprobs: unknown }[] };
  assert.equal(b.choices[0]!.message.content, `x ${M}`);
  assert.equal(b.choices[0]!.logprobs, null);
  assert.deepEqual(b.choices[1]!.logprobs, { content: [] });
  assert.equal(r.findings[0]!.path, 'choices[0].message.content');
  const c = createResponseTransform('openai.completions', opts('mask'))({ choices: [{ text: E }] });
  assert.deepEqual(c.body, { choices: [{ text: M }] });
});

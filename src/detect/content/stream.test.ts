import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { isGatewayError } from '../../core/errors.ts';
import { resolver, standInScanner } from '../stream/testing.ts';
import { createStreamRewriter, type ContentOptions, type StreamEvent } from './index.ts';
import { pipe } from './testing.ts';

const E = 'jane@example.com';
const opts = (action: 'mask' | 'block' = 'mask'): ContentOptions => ({ scanners: { response: standInScanner() }, actionFor: resolver(action) });
const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): StreamEvent => ({ data: { id: 'c1', model: 'm', choices, ...extra } });

test('chat: several choices keep their own channels; finish flushes into the finishing chunk', () => {
  const out = pipe(createStreamRewriter('openai.chat', opts()), [
    chunk([{ index: 0, delta: { content: `a ${E.slice(0, 6)}` } }, { index: 1, delta: { content: `b ${E}` } }]),
    chunk([{ index: 0, delta: { content: E.slice(6) }, finish_reason: 'stop' }]),
    chunk([{ index: 1, delta: {}, finish_reason: 'length' }]),
    { data: '[DONE]' },
  ]);
  const text = (i: number) =>
    out
      .flatMap((e) => ((e.data as { choices?: { index: number; delta?: { content?: string } }[] }).choices ?? []))
      .filter((c) => c.index === i)
      .map((c) => c.delta?.content ?? '')
      .join('');
  assert.equal(text(0), 'a [EMAIL_ADDRESS]');
  assert.equal(text(1), 'b [EMAIL_ADDRESS]');
  // choice 1 is flushed in a chunk inserted before its finish chunk, with the same envelope.
  const i = out.findIndex((e) => JSON.stringify(e.data).includes('"length"'));
  assert.deepEqual(out[i - 1]!.data, { id: 'c1', model: 'm', choices: [{ index: 1, delta: { content: 'b [EMAIL_ADDRESS]' }, finish_reason: null }] });
  assert.equal(out.at(-1)!.data, '[DONE]');
});

test('chat: logprobs are nulled while scanning (they repeat raw tokens)', () => {
  const out = pipe(createStreamRewriter('openai.chat', opts()), [chunk([{ index: 0, delta: { content: E }, logprobs: { content: [{ token: E }] }, finish_reason: 'stop' }])]);
  assert.ok(!JSON.stringify(out).includes(E));
});

test('chat: a stream without finish_reason is flushed at [DONE], or at end()', () => {
  const a = pipe(createStreamRewriter('openai.chat', opts()), [chunk([{ index: 0, delta: { content: `x ${E}` } }]), { data: '[DONE]' }]);
  assert.equal(a.length, 3);
  assert.deepEqual((a[1]!.data as { choices: unknown[] }).choices, [{ index: 0, delta: { content: 'x [EMAIL_ADDRESS]' }, finish_reason: null }]);
  const b = pipe(createStreamRewriter('openai.chat', opts()), [chunk([{ index: 0, delta: { content: `x ${E}` } }])]);
  assert.equal(b.length, 2);
});

test('legacy completions stream choices[].text', () => {
  const out = pipe(createStreamRewriter('openai.completions', opts()), [
    chunk([{ index: 0, text: E.slice(0, 3) }]),
    chunk([{ index: 0, text: E.slice(3), finish_reason: 'stop' }]),
    { data: '[DONE]' },
  ]);
  assert.equal(out.map((e) => (e.data as { choices?: { text?: string }[] }).choices?.[0]?.text ?? '').join(''), '[EMAIL_ADDRESS]');
});

test('block in a stream throws content_blocked; the value was never emitted', () => {
  const rw = createStreamRewriter('anthropic.messages', opts('block'));
  const emitted: StreamEvent[] = [];
  assert.throws(
    () => {
      for (const t of ['mail ', E.slice(0, 5), E.slice(5), ' ok']) {
        emitted.push(...rw.onEvent({ event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } } }));
      }
      emitted.push(...rw.onEvent({ event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } }));
    },
    (err: unknown) => isGatewayError(err) && err.code === 'content_blocked' && !err.message.includes(E),
  );
  assert.ok(!JSON.stringify(emitted).includes('jane'));
  assert.equal(rw.findings[0]!.action, 'block');
  assert.equal(rw.findings[0]!.path, 'content[0].text');
});

test('responses: a .done text that did not stream through deltas is scanned whole', () => {
  const rw = createStreamRewriter('openai.responses', opts());
  const out = pipe(rw, [
    { event: 'response.output_text.done', data: { type: 'response.output_text.done', output_index: 0, content_index: 0, text: `x ${E}`, sequence_number: 5 } },
  ]);
  assert.deepEqual(out[0]!.data, { type: 'response.output_text.done', output_index: 0, content_index: 0, text: 'x [EMAIL_ADDRESS]', sequence_number: 5 });
  assert.equal(rw.findings[0]!.path, 'output[0].content[0].text');
});

test('unknown events and fields pass through unchanged', () => {
  const ev: StreamEvent = { event: 'ping', data: { type: 'ping', extra: E } };
  assert.equal(createStreamRewriter('anthropic.messages', opts()).onEvent(ev)[0], ev);
  const e2: StreamEvent = { data: { error: { message: 'x' } } };
  assert.equal(createStreamRewriter('openai.chat', opts()).onEvent(e2)[0], e2);
  assert.throws(() => createStreamRewriter('openai.embeddings', opts()), TypeError);
});

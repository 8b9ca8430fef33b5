/**
 * The official SDKs' stream accumulators accept what the rewriters emit (inserted flush deltas, dropped empty
 * deltas, renumbered sequence numbers, rewritten `.done` texts) and assemble the masked answer.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { MessageStream } from '@anthropic-ai/sdk/lib/MessageStream';
import { ChatCompletionStream } from 'openai/lib/ChatCompletionStream';
import { ResponseStream } from 'openai/lib/responses/ResponseStream';
import { resolver, standInScanner } from '../stream/testing.ts';
import { createStreamRewriter } from './index.ts';
import { pipe, upstream, type Piece, type StreamApi } from './testing.ts';

const PAD = 'Some words before the value, long enough to stream. '.repeat(8);
const E = 'jane.doe@example.com';
const pieces: Piece[] = [
  { ch: 'c', text: `${PAD}mail ${E.slice(0, 7)}` },
  { ch: 't', text: `{"to":"${E.slice(0, 3)}` },
  { ch: 'c', text: `${E.slice(7)} now` },
  { ch: 't', text: `${E.slice(3)}"}` },
];
const want = `${PAD}mail [EMAIL_ADDRESS] now`;
const wantArgs = '{"to":"[EMAIL_ADDRESS]"}';

/** The rewritten events as the SDKs' `fromReadableStream` reads them: one JSON value per line. */
function readable(api: StreamApi): ReadableStream {
  const rw = createStreamRewriter(api, { scanners: { response: standInScanner() }, actionFor: resolver('mask') });
  const lines = pipe(rw, upstream(api, pieces))
    .filter((e) => e.data !== '[DONE]')
    .map((e) => `${JSON.stringify(e.data)}\n`)
    .join('');
  return new Blob([lines]).stream();
}

test('openai ChatCompletionStream assembles the masked content and tool arguments', async () => {
  const done = await ChatCompletionStream.fromReadableStream(readable('openai.chat')).finalChatCompletion();
  const msg = done.choices[0]!.message;
  assert.equal(msg.content, want);
  const call = msg.tool_calls![0]!;
  assert.equal(call.type === 'function' ? call.function.arguments : undefined, wantArgs);
});

test('openai ResponseStream assembles the masked output', async () => {
  const res = await ResponseStream.fromReadableStream(readable('openai.responses')).finalResponse();
  assert.equal(res.output_text, want);
  const fc = res.output.find((o) => o.type === 'function_call');
  assert.equal(fc?.type === 'function_call' ? fc.arguments : undefined, wantArgs);
});

test('anthropic MessageStream assembles the masked text and tool input', async () => {
  const msg = await MessageStream.fromReadableStream(readable('anthropic.messages')).finalMessage();
  const [text, tool] = msg.content;
  assert.equal(text?.type === 'text' ? text.text : undefined, want);
  assert.deepEqual(tool?.type === 'tool_use' ? tool.input : undefined, { to: '[EMAIL_ADDRESS]' });
});

import type { ServerResponse } from 'node:http';
import { echoExtras, lastUserText, wantsTool } from './content.ts';
import type { MockReply } from './openai.ts';
import { split, SseWriter, tokens } from './sse.ts';

/** Anthropic Messages API: the message object and its SSE sequence message_start … message_stop. */
type Obj = Record<string, unknown>;
const TOOL_JSON = '{"city": "Rome", "unit": "celsius"}';

export function anthropicJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'request-id': 'req_mock' });
  res.end(text);
}

export async function messages(r: MockReply): Promise<void> {
  const input = lastUserText(r.body);
  const text = `echo: ${input}`;
  const tool = wantsTool(r.body, input);
  const inputTokens = tokens(JSON.stringify(r.body.messages ?? '') + JSON.stringify(r.body.system ?? ''));
  const outputTokens = tokens(tool ? TOOL_JSON : text);
  const message = (content: Obj[], stop: string | null, output: number): Obj => ({
    id: `msg_mock${r.seq}`, type: 'message', role: 'assistant', model: String(r.body.model), content, stop_reason: stop, stop_sequence: null,
    usage: { input_tokens: inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: output }, ...echoExtras(r.body),
  });
  const block = tool ? { type: 'tool_use', id: `toolu_mock${r.seq}`, name: tool.name, input: JSON.parse(TOOL_JSON) as Obj } : { type: 'text', text };
  if (r.body.stream !== true) return anthropicJson(r.res, 200, message([block], tool ? 'tool_use' : 'end_turn', outputTokens));

  const w = new SseWriter(r.res, r.delayMs, r.hold);
  const send = (type: string, fields: Obj): Promise<boolean> => w.send({ type, ...fields }, type);
  if (!(await send('message_start', { message: message([], null, 1) }))) return;
  const start = tool ? { ...block, input: {} } : { type: 'text', text: '' };
  if (!(await send('content_block_start', { index: 0, content_block: start }))) return;
  if (!(await send('ping', {}))) return;
  for (const piece of split(tool ? TOOL_JSON : text, r.chunks)) {
    const delta = tool ? { type: 'input_json_delta', partial_json: piece } : { type: 'text_delta', text: piece };
    if (!(await send('content_block_delta', { index: 0, delta }))) return;
  }
  if (!(await send('content_block_stop', { index: 0 }))) return;
  if (!(await send('message_delta', { delta: { stop_reason: tool ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: outputTokens } }))) return;
  await send('message_stop', {});
  w.end();
}

export function countTokens(r: MockReply): void {
  anthropicJson(r.res, 200, { input_tokens: tokens(JSON.stringify(r.body.messages ?? '') + JSON.stringify(r.body.system ?? '')) });
}

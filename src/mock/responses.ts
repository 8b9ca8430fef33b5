import { echoExtras, lastUserText, wantsTool } from './content.ts';
import { json, type MockReply } from './openai.ts';
import { split, SseWriter, tokens } from './sse.ts';

/** OpenAI Responses API: the Response object and its typed SSE event sequence (each with `sequence_number`). */
type Obj = Record<string, unknown>;
const TOOL_ARGS = '{"city": "Paris"}';

function responseObject(r: MockReply, status: string, output: Obj[], usage: Obj | null): Obj {
  return {
    id: `resp_mock${r.seq}`, object: 'response', created_at: Math.floor(Date.now() / 1000), status, error: null, incomplete_details: null,
    instructions: r.body.instructions ?? null, max_output_tokens: null, model: String(r.body.model), output, parallel_tool_calls: true,
    previous_response_id: null, reasoning: { effort: null, summary: null }, store: true, temperature: 1, text: { format: { type: 'text' } },
    tool_choice: 'auto', tools: r.body.tools ?? [], top_p: 1, truncation: 'disabled', usage, user: null, metadata: {}, ...echoExtras(r.body),
  };
}

export async function responses(r: MockReply): Promise<void> {
  const input = lastUserText(r.body);
  const text = `echo: ${input}`;
  const tool = wantsTool(r.body, input);
  const msgId = `msg_mock${r.seq}`;
  const out = tool ? TOOL_ARGS : text;
  const usage = { input_tokens: tokens(JSON.stringify(r.body.input ?? '')), input_tokens_details: { cached_tokens: 0 }, output_tokens: tokens(out), output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 0 };
  usage.total_tokens = usage.input_tokens + usage.output_tokens;
  const doneItem: Obj = tool
    ? { type: 'function_call', id: `fc_mock${r.seq}`, call_id: `call_mock${r.seq}`, name: tool.name, ...(tool.namespace ? { namespace: tool.namespace } : {}), arguments: TOOL_ARGS, status: 'completed' }
    : { type: 'message', id: msgId, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [], logprobs: [] }] };
  if (r.body.stream !== true) return json(r.res, 200, responseObject(r, 'completed', [doneItem], usage));

  const w = new SseWriter(r.res, r.delayMs, r.hold);
  let seq = 0;
  const send = (type: string, fields: Obj): Promise<boolean> => w.send({ type, sequence_number: seq++, ...fields }, type);
  if (!(await send('response.created', { response: responseObject(r, 'in_progress', [], null) }))) return;
  if (!(await send('response.in_progress', { response: responseObject(r, 'in_progress', [], null) }))) return;
  if (tool) {
    const item = { ...doneItem, arguments: '', status: 'in_progress' };
    const itemId = String(doneItem.id);
    if (!(await send('response.output_item.added', { output_index: 0, item }))) return;
    for (const delta of split(TOOL_ARGS, r.chunks)) if (!(await send('response.function_call_arguments.delta', { item_id: itemId, output_index: 0, delta }))) return;
    if (!(await send('response.function_call_arguments.done', { item_id: itemId, output_index: 0, arguments: TOOL_ARGS }))) return;
  } else {
    const ids = { item_id: msgId, output_index: 0, content_index: 0 };
    if (!(await send('response.output_item.added', { output_index: 0, item: { type: 'message', id: msgId, status: 'in_progress', role: 'assistant', content: [] } }))) return;
    if (!(await send('response.content_part.added', { ...ids, part: { type: 'output_text', text: '', annotations: [] } }))) return;
    for (const delta of split(text, r.chunks)) if (!(await send('response.output_text.delta', { ...ids, delta, logprobs: [] }))) return;
    if (!(await send('response.output_text.done', { ...ids, text, logprobs: [] }))) return;
    if (!(await send('response.content_part.done', { ...ids, part: { type: 'output_text', text, annotations: [] } }))) return;
  }
  if (!(await send('response.output_item.done', { output_index: 0, item: doneItem }))) return;
  await send('response.completed', { response: responseObject(r, 'completed', [doneItem], usage) });
  w.end();
}

import type { ServerResponse } from 'node:http';
import { echoExtras, lastUserText, wantsTool } from './content.ts';
import { split, SseWriter, tokens, type StreamHold } from './sse.ts';

/**
 * OpenAI wire format (Chat Completions, Responses, Embeddings, legacy Completions, Models), JSON and SSE, shaped
 * like the real API so the official SDKs parse it unchanged.
 */
type Obj = Record<string, unknown>;
export interface MockReply {
  res: ServerResponse;
  body: Obj;
  chunks: number;
  delayMs: number;
  hold?: StreamHold;
  seq: number;
}

const now = (): number => Math.floor(Date.now() / 1000);
const json = (res: ServerResponse, status: number, value: unknown): void => {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-request-id': 'req_mock' });
  res.end(text);
};

const TOOL_ARGS = '{"city": "Paris", "unit": "celsius"}';

export async function chat(r: MockReply): Promise<void> {
  const text = `echo: ${lastUserText(r.body)}`;
  const model = String(r.body.model);
  const tool = wantsTool(r.body, lastUserText(r.body));
  const id = `chatcmpl-mock${r.seq}`;
  const usage = { prompt_tokens: tokens(JSON.stringify(r.body.messages ?? '')), completion_tokens: tokens(tool ? TOOL_ARGS : text), total_tokens: 0 };
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  if (r.body.stream !== true) {
    const message = tool
      ? { role: 'assistant', content: null, refusal: null, tool_calls: [{ id: `call_mock${r.seq}`, type: 'function', function: { name: tool.name, arguments: TOOL_ARGS } }] }
      : { role: 'assistant', content: text, refusal: null };
    return json(r.res, 200, {
      id, object: 'chat.completion', created: now(), model, system_fingerprint: 'fp_mock',
      choices: [{ index: 0, message, logprobs: null, finish_reason: tool ? 'tool_calls' : 'stop' }], usage, ...echoExtras(r.body),
    });
  }
  const w = new SseWriter(r.res, r.delayMs, r.hold);
  const chunk = (delta: Obj, finish: string | null): Obj => ({
    id, object: 'chat.completion.chunk', created: now(), model, system_fingerprint: 'fp_mock',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...echoExtras(r.body),
  });
  if (tool) {
    if (!(await w.send(chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: `call_mock${r.seq}`, type: 'function', function: { name: tool.name, arguments: '' } }] }, null)))) return;
    for (const piece of split(TOOL_ARGS, r.chunks)) if (!(await w.send(chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }, null)))) return;
  } else {
    if (!(await w.send(chunk({ role: 'assistant', content: '', refusal: null }, null)))) return;
    for (const piece of split(text, r.chunks)) if (!(await w.send(chunk({ content: piece }, null)))) return;
  }
  if (!(await w.send(chunk({}, tool ? 'tool_calls' : 'stop')))) return;
  const so = r.body.stream_options as Obj | undefined;
  if (so?.include_usage === true) await w.send({ id, object: 'chat.completion.chunk', created: now(), model, choices: [], usage });
  await w.send('[DONE]');
  w.end();
}

export async function completions(r: MockReply): Promise<void> {
  const text = `echo: ${lastUserText(r.body)}`;
  const model = String(r.body.model);
  const id = `cmpl-mock${r.seq}`;
  const usage = { prompt_tokens: tokens(JSON.stringify(r.body.prompt ?? '')), completion_tokens: tokens(text), total_tokens: 0 };
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  const base = { id, object: 'text_completion', created: now(), model };
  if (r.body.stream !== true) return json(r.res, 200, { ...base, choices: [{ text, index: 0, logprobs: null, finish_reason: 'stop' }], usage, ...echoExtras(r.body) });
  const w = new SseWriter(r.res, r.delayMs, r.hold);
  const pieces = split(text, r.chunks);
  for (let i = 0; i < pieces.length; i++) {
    if (!(await w.send({ ...base, choices: [{ text: pieces[i], index: 0, logprobs: null, finish_reason: i === pieces.length - 1 ? 'stop' : null }] }))) return;
  }
  await w.send('[DONE]');
  w.end();
}

export function embeddings(r: MockReply): void {
  const inputs = Array.isArray(r.body.input) ? (r.body.input as unknown[]) : [r.body.input];
  const base64 = r.body.encoding_format === 'base64';
  const data = inputs.map((input, index) => {
    const seed = JSON.stringify(input).length;
    const vec = Float32Array.from({ length: 8 }, (_v, i) => Math.sin(seed + i));
    return { object: 'embedding', index, embedding: base64 ? Buffer.from(vec.buffer).toString('base64') : Array.from(vec) };
  });
  const n = tokens(JSON.stringify(inputs));
  json(r.res, 200, { object: 'list', data, model: String(r.body.model), usage: { prompt_tokens: n, total_tokens: n }, ...echoExtras(r.body) });
}

export function models(res: ServerResponse): void {
  const created = now();
  json(res, 200, { object: 'list', data: ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small'].map((id) => ({ id, object: 'model', created, owned_by: 'mock' })) });
}

export { json };

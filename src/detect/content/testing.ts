/**
 * Test support only: upstream event sequences in each provider's streaming shape, built from text chunks, and
 * a client-side reassembly of what the rewritten stream delivers (with shape checks), so tests can split texts
 * anywhere and compare what the client ends up with.
 */
import { strict as assert } from 'node:assert';
import type { StreamEvent, StreamRewriter } from './types.ts';

/** One delta: `c` = answer text, `t` = tool-call arguments (raw JSON text). */
export interface Piece {
  readonly ch: 'c' | 't';
  readonly text: string;
}

export interface Assembled {
  readonly content: string;
  readonly args: string;
  readonly events: readonly StreamEvent[];
}

export type StreamApi = 'openai.chat' | 'openai.responses' | 'anthropic.messages';

export function upstream(api: StreamApi, pieces: readonly Piece[]): StreamEvent[] {
  if (api === 'openai.chat') return chatEvents(pieces);
  if (api === 'openai.responses') return responsesEvents(pieces);
  return anthropicEvents(pieces);
}

function chatEvents(pieces: readonly Piece[]): StreamEvent[] {
  const env = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm' };
  const ev = (delta: unknown, finish: string | null = null): StreamEvent => ({ data: { ...env, choices: [{ index: 0, delta, finish_reason: finish }] } });
  const out: StreamEvent[] = [ev({ role: 'assistant', content: '' })];
  let started = false;
  for (const p of pieces) {
    if (p.ch === 'c') out.push(ev({ content: p.text }));
    else if (!started) {
      started = true;
      out.push(ev({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: p.text } }] }));
    } else out.push(ev({ tool_calls: [{ index: 0, function: { arguments: p.text } }] }));
  }
  out.push(ev({}, 'stop'), { data: { ...env, choices: [], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } } }, { data: '[DONE]' });
  return out;
}

function responsesEvents(pieces: readonly Piece[]): StreamEvent[] {
  const c = pieces.filter((p) => p.ch === 'c').map((p) => p.text).join('');
  const t = pieces.filter((p) => p.ch === 't').map((p) => p.text).join('');
  const msg = (text: string) => ({ id: 'msg_1', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] });
  const fc = (args: string) => ({ id: 'fc_1', type: 'function_call', call_id: 'call_1', name: 'f', arguments: args });
  const raw: Record<string, unknown>[] = [
    { type: 'response.created', response: { id: 'resp_1', output: [] } },
    { type: 'response.output_item.added', output_index: 0, item: { ...msg(''), content: [] } },
    { type: 'response.content_part.added', item_id: 'msg_1', output_index: 0, content_index: 0, part: { type: 'output_text', text: '' } },
    { type: 'response.output_item.added', output_index: 1, item: fc('') },
  ];
  for (const p of pieces) {
    if (p.ch === 'c') raw.push({ type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta: p.text, logprobs: [] });
    else raw.push({ type: 'response.function_call_arguments.delta', item_id: 'fc_1', output_index: 1, delta: p.text });
  }
  raw.push(
    { type: 'response.output_text.done', item_id: 'msg_1', output_index: 0, content_index: 0, text: c, logprobs: [] },
    { type: 'response.content_part.done', item_id: 'msg_1', output_index: 0, content_index: 0, part: { type: 'output_text', text: c } },
    { type: 'response.output_item.done', output_index: 0, item: msg(c) },
    { type: 'response.function_call_arguments.done', item_id: 'fc_1', output_index: 1, arguments: t },
    { type: 'response.output_item.done', output_index: 1, item: fc(t) },
    { type: 'response.completed', response: { id: 'resp_1', output: [msg(c), fc(t)], usage: { total_tokens: 3 } } },
  );
  return raw.map((d, i) => ({ event: d.type as string, data: { ...d, sequence_number: i } }));
}

function anthropicEvents(pieces: readonly Piece[]): StreamEvent[] {
  const e = (data: Record<string, unknown>): StreamEvent => ({ event: data.type as string, data });
  const out: StreamEvent[] = [
    e({ type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], usage: { input_tokens: 1 } } }),
    e({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    e({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} } }),
  ];
  for (const p of pieces) {
    const delta = p.ch === 'c' ? { type: 'text_delta', text: p.text } : { type: 'input_json_delta', partial_json: p.text };
    out.push(e({ type: 'content_block_delta', index: p.ch === 'c' ? 0 : 1, delta }));
  }
  out.push(
    e({ type: 'content_block_stop', index: 0 }),
    e({ type: 'content_block_stop', index: 1 }),
    e({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } }),
    e({ type: 'message_stop' }),
  );
  return out;
}

/** Run events through a rewriter (round-tripping each through JSON, as on the wire). */
export function pipe(rw: StreamRewriter, events: readonly StreamEvent[]): StreamEvent[] {
  const out: StreamEvent[] = [];
  for (const ev of events) out.push(...rw.onEvent(ev));
  out.push(...rw.end());
  return out.map((e) => ({ ...(e.event === undefined ? {} : { event: e.event }), data: e.data === '[DONE]' ? e.data : (JSON.parse(JSON.stringify(e.data)) as unknown) }));
}

/** What a client reassembles from the rewritten stream; asserts the protocol's framing invariants. */
export function assemble(api: StreamApi, events: readonly StreamEvent[]): Assembled {
  if (api === 'openai.chat') return assembleChat(events);
  if (api === 'openai.responses') return assembleResponses(events);
  return assembleAnthropic(events);
}

/** `v.a.b[0]…` or undefined. */
function at(v: unknown, ...path: (string | number)[]): unknown {
  let cur = v;
  for (const k of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? (v as unknown[]) : [];
}

function assembleChat(events: readonly StreamEvent[]): Assembled {
  let content = '';
  let args = '';
  let finished = false;
  assert.equal(events.at(-1)?.data, '[DONE]');
  for (const ev of events.slice(0, -1)) {
    assert.equal(at(ev.data, 'id'), 'chatcmpl-1');
    assert.equal(at(ev.data, 'model'), 'm');
    for (const c of list(at(ev.data, 'choices'))) {
      assert.ok(!finished, 'no delta after finish_reason');
      content += str(at(c, 'delta', 'content'));
      for (const tc of list(at(c, 'delta', 'tool_calls'))) args += str(at(tc, 'function', 'arguments'));
      if (at(c, 'finish_reason')) finished = true;
    }
  }
  assert.ok(finished);
  assert.deepEqual(at(events.at(-2)?.data, 'usage'), { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 });
  return { content, args, events };
}

function assembleResponses(events: readonly StreamEvent[]): Assembled {
  let content = '';
  let args = '';
  const full: Record<string, unknown> = {};
  events.forEach((ev, i) => {
    const d = ev.data;
    const type = at(d, 'type');
    assert.equal(at(d, 'sequence_number'), i, 'sequence numbers stay consecutive');
    assert.equal(ev.event, type);
    if (type === 'response.output_text.delta') content += str(at(d, 'delta'));
    if (type === 'response.function_call_arguments.delta') args += str(at(d, 'delta'));
    if (type === 'response.output_text.done') full.textDone = at(d, 'text');
    if (type === 'response.content_part.done') full.part = at(d, 'part', 'text');
    if (type === 'response.function_call_arguments.done') full.argsDone = at(d, 'arguments');
    if (type === 'response.output_item.done' && at(d, 'output_index') === 0) full.item = at(d, 'item', 'content', 0, 'text');
    if (type === 'response.output_item.done' && at(d, 'output_index') === 1) full.fcItem = at(d, 'item', 'arguments');
    if (type === 'response.completed') {
      full.completed = [at(d, 'response', 'output', 0, 'content', 0, 'text'), at(d, 'response', 'output', 1, 'arguments')];
    }
  });
  assert.equal(events.at(-1)?.event, 'response.completed');
  assert.deepEqual(full, { textDone: content, part: content, item: content, argsDone: args, fcItem: args, completed: [content, args] });
  return { content, args, events };
}

function assembleAnthropic(events: readonly StreamEvent[]): Assembled {
  let content = '';
  let args = '';
  const stopped = new Set<unknown>();
  for (const ev of events) {
    const type = at(ev.data, 'type');
    const index = at(ev.data, 'index');
    assert.equal(ev.event, type);
    if (type === 'content_block_delta') {
      assert.ok(!stopped.has(index), 'no delta after content_block_stop');
      if (index === 0) content += str(at(ev.data, 'delta', 'text'));
      else args += str(at(ev.data, 'delta', 'partial_json'));
    }
    if (type === 'content_block_stop') stopped.add(index);
  }
  assert.equal(events.at(-1)?.event, 'message_stop');
  assert.equal(at(events.at(-2)?.data, 'type'), 'message_delta');
  return { content, args, events };
}

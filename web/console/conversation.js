// @ts-check
/**
 * Recorded bodies read as a conversation (docs/console.md#exchange): OpenAI Chat Completions and Responses,
 * Anthropic Messages and legacy completions, requests and answers, answers also reassembled from their stream
 * events. Pure functions over the API's JSON: no DOM here. Anything of another shape is kept as JSON text.
 */

/** @typedef {Record<string, unknown>} Json */
/**
 * One piece of a message: text, a tool call (name and arguments as text), a tool result, or anything else as JSON.
 * @typedef {{ kind: 'text', text: string } | { kind: 'tool_call', name: string, id: string, args: string } | { kind: 'tool_result', id: string, text: string } | { kind: 'other', text: string }} Part
 */
/** @typedef {{ role: string, parts: Part[] }} Message */
/** One streamed piece of the answer: at `t_ms` after the exchange started, `text` is added to part `part`. @typedef {{ t_ms: number, part: number, text: string }} Delta */

/** @param {unknown} v @returns {Json} */
const obj = (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? /** @type {Json} */ (v) : {});
/** @param {unknown} v @returns {unknown[]} */
const arr = (v) => (Array.isArray(v) ? v : []);
/** @param {unknown} v */
const str = (v) => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v));
/** @param {unknown} v */
const json = (v) => (typeof v === 'string' ? v : JSON.stringify(v, null, 2) ?? '');

/**
 * Content in any of the formats' shapes: a string, or a list of parts (text, tool use/result, anything else).
 * @param {unknown} content @returns {Part[]}
 */
function partsOf(content) {
  if (typeof content === 'string') return content ? [{ kind: 'text', text: content }] : [];
  if (content === null || content === undefined) return [];
  if (!Array.isArray(content)) return [{ kind: 'other', text: json(content) }];
  return content.map((raw) => {
    const p = obj(raw);
    if (typeof p.text === 'string') return { kind: 'text', text: p.text };
    if (p.type === 'tool_use') return { kind: 'tool_call', name: str(p.name), id: str(p.id), args: json(p.input ?? {}) };
    if (p.type === 'tool_result') return { kind: 'tool_result', id: str(p.tool_use_id), text: partsOf(p.content).map((x) => ('text' in x ? x.text : '')).join('\n') };
    return { kind: 'other', text: json(raw) };
  });
}

/** @param {Json} m @returns {Part[]} OpenAI chat: content, then tool calls; a tool message is a tool result. */
function chatParts(m) {
  if (m.role === 'tool') return [{ kind: 'tool_result', id: str(m.tool_call_id), text: partsOf(m.content).map((x) => ('text' in x ? x.text : '')).join('\n') }];
  const parts = partsOf(m.content);
  for (const c of arr(m.tool_calls)) {
    const f = obj(obj(c).function);
    parts.push({ kind: 'tool_call', name: str(f.name), id: str(obj(c).id), args: str(f.arguments) });
  }
  return parts;
}

/** @param {unknown} item @returns {Message} Responses input/output items. */
function responsesItem(item) {
  if (typeof item === 'string') return { role: 'user', parts: [{ kind: 'text', text: item }] };
  const it = obj(item);
  if (it.type === 'function_call') return { role: 'assistant', parts: [{ kind: 'tool_call', name: str(it.name), id: str(it.call_id), args: str(it.arguments) }] };
  if (it.type === 'function_call_output') return { role: 'tool', parts: [{ kind: 'tool_result', id: str(it.call_id), text: str(it.output) }] };
  if ('role' in it) return { role: str(it.role), parts: partsOf(it.content) };
  return { role: 'other', parts: [{ kind: 'other', text: json(item) }] };
}

/**
 * The request as messages, and the tools it offered (names).
 * @param {unknown} body @returns {{ messages: Message[], tools: string[] }}
 */
export function requestConversation(body) {
  const b = obj(body);
  /** @type {Message[]} */
  const messages = [];
  if (typeof body === 'string') return { messages: [{ role: 'body', parts: [{ kind: 'other', text: body }] }], tools: [] };
  if (b.system !== undefined) messages.push({ role: 'system', parts: partsOf(b.system) });
  if (typeof b.instructions === 'string') messages.push({ role: 'system', parts: [{ kind: 'text', text: b.instructions }] });
  if (Array.isArray(b.messages)) for (const raw of b.messages) messages.push({ role: str(obj(raw).role) || '?', parts: chatParts(obj(raw)) });
  else if (b.input !== undefined) {
    if (Array.isArray(b.input)) messages.push(...b.input.map(responsesItem));
    else messages.push({ role: 'user', parts: partsOf(typeof b.input === 'string' ? b.input : json(b.input)) });
  } else if (b.prompt !== undefined) messages.push({ role: 'user', parts: partsOf(str(b.prompt)) });
  if (messages.length === 0 && body !== null && body !== undefined) messages.push({ role: 'body', parts: [{ kind: 'other', text: json(body) }] });
  const tools = arr(b.tools).map((t) => str(obj(obj(t).function).name || obj(t).name || obj(t).type)).filter(Boolean);
  return { messages, tools };
}

/**
 * A complete (not streamed) answer as assistant parts.
 * @param {unknown} response @returns {Part[]}
 */
export function responseParts(response) {
  if (response === null || response === undefined) return [];
  const r = obj(response);
  if (Array.isArray(r.choices)) {
    return r.choices.flatMap((c) => {
      const ch = obj(c);
      return ch.message !== undefined ? chatParts(obj(ch.message)) : partsOf(str(ch.text));
    });
  }
  if (Array.isArray(r.content)) return partsOf(r.content);
  if (Array.isArray(r.output)) return r.output.flatMap((o) => responsesItem(o).parts);
  return [{ kind: 'other', text: json(response) }];
}

/** @param {string} data @returns {Json | undefined} */
function parseEvent(data) {
  try {
    const v = /** @type {unknown} */ (JSON.parse(data));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? /** @type {Json} */ (v) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The streamed answer reassembled: its parts, and each event's contribution in recorded order (for the replay).
 * `upstream: true` reads what the provider sent (`upstream_data`, where the gateway rewrote an event) — the text a
 * response finding's offsets refer to; otherwise what the client received.
 * @param {Json[]} events @param {{ upstream?: boolean }} [o]
 * @returns {{ parts: Part[], deltas: Delta[], shape: Json }}
 */
export function streamedAnswer(events, o = {}) {
  /** @type {Part[]} */
  const parts = [];
  /** @type {Delta[]} */
  const deltas = [];
  /** Part index by a format's own key (choice/tool index, content block, output item). @type {Map<string, number>} */
  const index = new Map();
  /** @param {string} key @param {() => Part} make */
  const part = (key, make) => {
    let i = index.get(key);
    if (i === undefined) {
      i = parts.push(make()) - 1;
      index.set(key, i);
    }
    return i;
  };
  /** @param {number} t @param {number} i @param {string} text */
  const add = (t, i, text) => {
    if (!text) return;
    const p = parts[i];
    if (p.kind === 'tool_call') p.args += text;
    else p.text += text;
    deltas.push({ t_ms: t, part: i, text });
  };
  for (const e of events) {
    const raw = o.upstream && typeof e.upstream_data === 'string' ? e.upstream_data : str(e.data);
    const d = parseEvent(raw);
    if (!d) continue;
    const t = typeof e.t_ms === 'number' ? e.t_ms : 0;
    if (Array.isArray(d.choices)) {
      // OpenAI chat chunks (`delta`) and legacy completion chunks (`text`).
      for (const c of d.choices) {
        const ch = obj(c), delta = obj(ch.delta), n = str(ch.index ?? 0);
        if (typeof delta.content === 'string') add(t, part(`c${n}`, () => ({ kind: 'text', text: '' })), delta.content);
        if (typeof ch.text === 'string') add(t, part(`c${n}`, () => ({ kind: 'text', text: '' })), ch.text);
        for (const tc of arr(delta.tool_calls)) {
          const x = obj(tc), f = obj(x.function);
          const i = part(`c${n}t${str(x.index ?? 0)}`, () => ({ kind: 'tool_call', name: '', id: '', args: '' }));
          const p = /** @type {Extract<Part, { kind: 'tool_call' }>} */ (parts[i]);
          if (typeof f.name === 'string') p.name += f.name;
          if (typeof x.id === 'string') p.id = x.id;
          add(t, i, str(f.arguments));
          if (typeof f.name === 'string' && !f.arguments) deltas.push({ t_ms: t, part: i, text: '' });
        }
      }
    } else if (d.type === 'content_block_start') {
      const b = obj(d.content_block);
      const i = part(`b${str(d.index)}`, () => (b.type === 'tool_use' ? { kind: 'tool_call', name: str(b.name), id: str(b.id), args: '' } : { kind: 'text', text: '' }));
      if (typeof b.text === 'string') add(t, i, b.text);
      if (b.type === 'tool_use') deltas.push({ t_ms: t, part: i, text: '' });
    } else if (d.type === 'content_block_delta') {
      const x = obj(d.delta);
      const i = part(`b${str(d.index)}`, () => (x.type === 'input_json_delta' ? { kind: 'tool_call', name: '', id: '', args: '' } : { kind: 'text', text: '' }));
      add(t, i, str(x.text ?? x.partial_json));
    } else if (d.type === 'response.output_text.delta') {
      add(t, part(`o${str(d.output_index)}c${str(d.content_index)}`, () => ({ kind: 'text', text: '' })), str(d.delta));
    } else if (d.type === 'response.output_item.added' && obj(d.item).type === 'function_call') {
      const it = obj(d.item);
      const i = part(`o${str(d.output_index)}`, () => ({ kind: 'tool_call', name: str(it.name), id: str(it.call_id), args: '' }));
      deltas.push({ t_ms: t, part: i, text: '' });
    } else if (d.type === 'response.function_call_arguments.delta') {
      add(t, part(`o${str(d.output_index)}`, () => ({ kind: 'tool_call', name: '', id: '', args: '' })), str(d.delta));
    }
  }
  return { parts, deltas, shape: shapeOf(parts, events) };
}

/**
 * The reassembled answer in the complete answer's own shape, so a response finding's path
 * (`choices[0].message.content`, `content[0].text`, `output[0].content[0].text`) can be looked up in it.
 * @param {Part[]} parts @param {Json[]} events @returns {Json}
 */
function shapeOf(parts, events) {
  const first = parseEvent(str(events.find((e) => parseEvent(str(e.data)))?.data)) ?? {};
  const texts = parts.filter((p) => p.kind === 'text').map((p) => /** @type {{ text: string }} */ (p).text);
  if (Array.isArray(first.choices)) {
    const calls = parts.filter((p) => p.kind === 'tool_call').map((p) => ({ function: { arguments: /** @type {{ args: string }} */ (p).args } }));
    return { choices: [{ message: { content: texts.join(''), tool_calls: calls }, text: texts.join('') }] };
  }
  if (str(first.type).startsWith('response.')) return { output: texts.map((text) => ({ content: [{ text }] })) };
  return { content: parts.map((p) => (p.kind === 'tool_call' ? { input: p.args } : { text: 'text' in p ? p.text : '' })) };
}

/**
 * The string at a finding's path (`messages[1].content`, `content[0].text`) in a body, or undefined.
 * @param {unknown} body @param {unknown} path
 */
export function atPath(body, path) {
  if (typeof path !== 'string') return undefined;
  /** @type {unknown} */
  let v = body;
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = /** @type {Record<string, unknown>} */ (v)[m[2] !== undefined ? Number(m[2]) : m[1]];
  }
  return typeof v === 'string' ? v : undefined;
}

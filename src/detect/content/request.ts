/**
 * Request bodies: every text the provider will read, per API, with its JSON path. Field names follow the
 * providers' API references (OpenAI Chat Completions, Responses, Embeddings, legacy Completions; Anthropic
 * Messages). Signed reasoning (Anthropic `thinking`, OpenAI reasoning items) is not rewritten: the provider
 * verifies it, and it came from the provider in the first place.
 */
import type { Api, TextSink } from './types.ts';
import { mapArray, mapEmbeddedJson, mapKey, mapKeys, mapLeaves, mapParts, mapStr, mapToolDef, rec } from './walk.ts';

export function walkRequest(api: Api, body: unknown, sink: TextSink): unknown {
  switch (api) {
    case 'openai.chat':
      return chatRequest(body, sink);
    case 'openai.responses':
      return responsesRequest(body, sink);
    case 'openai.embeddings':
      return mapKey(body, 'input', (v) => promptLike(v, 'input', sink));
    case 'openai.completions':
      return mapKeys(body, {
        prompt: (v) => promptLike(v, 'prompt', sink),
        suffix: (v) => mapStr(v, 'suffix', sink),
      });
    case 'anthropic.messages':
      return anthropicRequest(body, sink);
  }
}

function chatRequest(body: unknown, sink: TextSink): unknown {
  return mapKeys(body, {
    messages: (ms) => mapArray(ms, (m, i) => chatMessage(m, `messages[${i}]`, sink)),
    tools: (ts) => mapArray(ts, (t, i) => mapKey(t, 'function', (f) => mapToolDef(f, `tools[${i}].function`, sink, 'parameters'))),
    functions: (fs) => mapArray(fs, (f, i) => mapToolDef(f, `functions[${i}]`, sink, 'parameters')),
    prediction: (p) => mapKey(p, 'content', (c) => mapParts(c, 'prediction.content', sink)),
  });
}

/** system, developer, user, assistant (content, refusal, tool_calls, function_call), tool and function messages. */
export function chatMessage(m: unknown, path: string, sink: TextSink): unknown {
  return mapKeys(m, {
    content: (c) => mapParts(c, `${path}.content`, sink),
    refusal: (r) => mapStr(r, `${path}.refusal`, sink),
    tool_calls: (tcs) => mapArray(tcs, (tc, j) => toolCall(tc, `${path}.tool_calls[${j}]`, sink)),
    function_call: (fc) => mapKey(fc, 'arguments', (a) => mapEmbeddedJson(a, `${path}.function_call.arguments`, sink)),
  });
}

function toolCall(tc: unknown, path: string, sink: TextSink): unknown {
  return mapKeys(tc, {
    function: (f) => mapKey(f, 'arguments', (a) => mapEmbeddedJson(a, `${path}.function.arguments`, sink)),
    custom: (c) => mapKey(c, 'input', (x) => mapStr(x, `${path}.custom.input`, sink)),
  });
}

/** `string | string[] | number[] | number[][]`: token ids cannot be read, they are reported as unscanned. */
function promptLike(v: unknown, path: string, sink: TextSink): unknown {
  if (typeof v === 'string') return sink.text(v, path, 'text');
  if (!Array.isArray(v)) return v;
  return mapArray(v, (x, i) => {
    if (typeof x === 'string') return sink.text(x, `${path}[${i}]`, 'text');
    if (typeof x === 'number' && i === 0) sink.unscanned(path);
    if (Array.isArray(x)) sink.unscanned(`${path}[${i}]`);
    return x;
  });
}

function responsesRequest(body: unknown, sink: TextSink): unknown {
  return mapKeys(body, {
    instructions: (v) => (typeof v === 'string' ? sink.text(v, 'instructions', 'text') : responsesItems(v, 'instructions', sink)),
    input: (v) => (typeof v === 'string' ? sink.text(v, 'input', 'text') : responsesItems(v, 'input', sink)),
    tools: (ts) => mapArray(ts, (t, i) => mapToolDef(t, `tools[${i}]`, sink, 'parameters')),
    prompt: (p) => mapKey(p, 'variables', (vars) => promptVariables(vars, sink)),
  });
}

/** Responses input/output items: messages, function and custom tool calls and their outputs. */
export function responsesItems(items: unknown, path: string, sink: TextSink): unknown {
  return mapArray(items, (item, i) => responsesItem(item, `${path}[${i}]`, sink));
}

export function responsesItem(item: unknown, path: string, sink: TextSink): unknown {
  const type = rec(item)?.type;
  switch (type) {
    case 'function_call':
      return mapKey(item, 'arguments', (a) => mapEmbeddedJson(a, `${path}.arguments`, sink));
    case 'custom_tool_call':
      return mapKey(item, 'input', (a) => mapStr(a, `${path}.input`, sink));
    case 'function_call_output':
    case 'custom_tool_call_output':
      return mapKey(item, 'output', (o) => mapParts(o, `${path}.output`, sink));
    case 'reasoning':
      return item;
    default:
      // `message` items and the short form `{role, content}` without a type.
      return mapKey(item, 'content', (c) => mapParts(c, `${path}.content`, sink));
  }
}

function promptVariables(vars: unknown, sink: TextSink): unknown {
  const r = rec(vars);
  if (!r) return vars;
  let out = vars;
  for (const k of Object.keys(r)) {
    out = mapKey(out, k, (v) => (typeof v === 'string' ? sink.text(v, `prompt.variables.${k}`, 'text') : mapParts(v, `prompt.variables.${k}`, sink)));
  }
  return out;
}

function anthropicRequest(body: unknown, sink: TextSink): unknown {
  return mapKeys(body, {
    system: (s) => (typeof s === 'string' ? sink.text(s, 'system', 'text') : anthropicBlocks(s, 'system', sink)),
    messages: (ms) =>
      mapArray(ms, (m, i) =>
        mapKey(m, 'content', (c) =>
          typeof c === 'string' ? sink.text(c, `messages[${i}].content`, 'text') : anthropicBlocks(c, `messages[${i}].content`, sink),
        ),
      ),
    tools: (ts) => mapArray(ts, (t, i) => mapToolDef(t, `tools[${i}]`, sink, 'input_schema')),
  });
}

/** Anthropic content blocks: text, tool_use input, tool_result content, text documents; thinking is signed. */
export function anthropicBlocks(blocks: unknown, path: string, sink: TextSink): unknown {
  return mapArray(blocks, (b, i) => anthropicBlock(b, `${path}[${i}]`, sink));
}

function anthropicBlock(b: unknown, path: string, sink: TextSink): unknown {
  switch (rec(b)?.type) {
    case 'text':
      return mapKey(b, 'text', (t) => mapStr(t, `${path}.text`, sink));
    case 'tool_use':
    case 'server_tool_use':
      return mapKey(b, 'input', (x) => mapLeaves(x, `${path}.input#`, sink));
    case 'tool_result':
      return mapKey(b, 'content', (c) => (typeof c === 'string' ? sink.text(c, `${path}.content`, 'text') : anthropicBlocks(c, `${path}.content`, sink)));
    case 'document':
      return mapKey(b, 'source', (s) =>
        rec(s)?.type === 'text'
          ? mapKey(s, 'data', (d) => mapStr(d, `${path}.source.data`, sink))
          : mapKey(s, 'content', (c) => (typeof c === 'string' ? sink.text(c, `${path}.source.content`, 'text') : anthropicBlocks(c, `${path}.source.content`, sink))),
      );
    case 'search_result':
      return mapKey(b, 'content', (c) => anthropicBlocks(c, `${path}.content`, sink));
    default:
      return b;
  }
}

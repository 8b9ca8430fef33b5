/**
 * Non-streamed answers: the texts a model produced, per API. Where a choice's or part's text changed, its
 * `logprobs` are removed: they repeat the original tokens and would leak what was masked.
 */
import { anthropicBlocks, chatMessage, responsesItem } from './request.ts';
import type { Api, TextSink } from './types.ts';
import { mapArray, mapKey, mapKeys, mapStr, rec } from './walk.ts';

export function walkResponse(api: Api, body: unknown, sink: TextSink): unknown {
  switch (api) {
    case 'openai.chat':
      return mapKey(body, 'choices', (cs) =>
        mapArray(cs, (c, i) => dropLogprobsIfChanged(c, mapKey(c, 'message', (m) => chatMessage(m, `choices[${i}].message`, sink)))),
      );
    case 'openai.completions':
      return mapKey(body, 'choices', (cs) =>
        mapArray(cs, (c, i) => dropLogprobsIfChanged(c, mapKey(c, 'text', (t) => mapStr(t, `choices[${i}].text`, sink)))),
      );
    case 'openai.responses':
      return responsesOutput(body, sink);
    case 'anthropic.messages':
      return mapKey(body, 'content', (c) => anthropicBlocks(c, 'content', sink));
    case 'openai.embeddings':
      return body;
  }
}

/** A Responses `response` object: output items (message parts drop their logprobs when changed). */
export function responsesOutput(response: unknown, sink: TextSink, path = 'output'): unknown {
  return mapKey(response, 'output', (items) =>
    mapArray(items, (item, i) => {
      const after = responsesItem(item, `${path}[${i}]`, sink);
      if (after === item || rec(item)?.type !== 'message') return after;
      const before = rec(item)?.content;
      return mapKey(after, 'content', (parts) =>
        mapArray(parts, (p, k) => (Array.isArray(before) && before[k] !== p ? mapKeys(p, { logprobs: () => [] }) : p)),
      );
    }),
  );
}

function dropLogprobsIfChanged(before: unknown, after: unknown): unknown {
  if (after === before || rec(after)?.logprobs == null) return after;
  return { ...rec(after), logprobs: null };
}

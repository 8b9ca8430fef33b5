/**
 * What the proxy calls. Build a transform once per exchange (options carry the compiled scanners, the policy's
 * action resolver and the conversation's tokenizer), then:
 *   - requests:            createRequestTransform(api, opts)(body)  → { body, findings, blocked?, unscanned }
 *   - non-streamed answers: createResponseTransform(api, opts)(body) → same shape (placeholders restored)
 *   - streamed answers:     createStreamRewriter(api, opts)          → { onEvent(ev) → ev[], end() → ev[] }
 * A scanner failure throws GatewayError('evaluation_error') (fail closed); a `block` finding is returned as
 * `blocked` by the JSON transforms and thrown (GatewayError 'content_blocked') by the stream rewriter.
 */
import { walkRequest } from './request.ts';
import { walkResponse } from './response.ts';
import { AnthropicStreamRewriter } from './stream-anthropic.ts';
import { ChatStreamRewriter } from './stream-chat.ts';
import { ResponsesStreamRewriter } from './stream-responses.ts';
import { TextProcessor } from './text-processor.ts';
import type { Api, ContentOptions, StreamRewriter, TransformResult } from './types.ts';

export type { Api, ContentFinding, ContentOptions, StreamEvent, StreamRewriter, TextKind, TransformResult } from './types.ts';

export const APIS: readonly Api[] = ['openai.chat', 'openai.responses', 'openai.embeddings', 'openai.completions', 'anthropic.messages'];

export function createRequestTransform(api: Api, opts: ContentOptions): (body: unknown) => TransformResult {
  checkApi(api);
  return function transformRequest(body) {
    const sink = new TextProcessor(opts, 'request');
    const out = walkRequest(api, body, sink);
    return result(body, out, sink);
  };
}

export function createResponseTransform(api: Api, opts: ContentOptions): (body: unknown) => TransformResult {
  checkApi(api);
  return function transformResponse(body) {
    const sink = new TextProcessor(opts, 'response');
    const out = walkResponse(api, body, sink);
    return result(body, out, sink);
  };
}

export function createStreamRewriter(api: Api, opts: ContentOptions): StreamRewriter {
  switch (checkApi(api)) {
    case 'openai.chat':
      return new ChatStreamRewriter(opts, false);
    case 'openai.completions':
      return new ChatStreamRewriter(opts, true);
    case 'openai.responses':
      return new ResponsesStreamRewriter(opts);
    case 'anthropic.messages':
      return new AnthropicStreamRewriter(opts);
    case 'openai.embeddings':
      throw new TypeError('embeddings are not streamed');
  }
}

function result(before: unknown, after: unknown, sink: TextProcessor): TransformResult {
  const blocked = sink.blocked;
  return {
    body: after,
    changed: after !== before,
    findings: sink.findings,
    unscanned: sink.unscannedPaths,
    ...(blocked ? { blocked } : {}),
  };
}

function checkApi(api: Api): Api {
  if (!APIS.includes(api)) throw new TypeError(`unknown api: ${String(api)}`);
  return api;
}

/**
 * The provider API surfaces the gateway speaks. The `id` names an endpoint everywhere (records, policies,
 * metrics). `family` selects the error format and which providers may serve it.
 */
export type Family = 'openai' | 'anthropic';
export type EndpointId =
  | 'openai.chat'
  | 'openai.responses'
  | 'openai.embeddings'
  | 'openai.completions'
  | 'openai.models'
  | 'anthropic.messages'
  | 'anthropic.count_tokens';

export interface Endpoint {
  id: EndpointId;
  family: Family;
  method: 'GET' | 'POST';
  /** Path the client calls. */
  path: string;
  /** Path relative to the provider's API root (OpenAI roots end in /v1; Anthropic's do not). */
  upstreamPath: string;
  /** Whether the body's `stream: true` turns the answer into SSE. */
  streamable: boolean;
  /** Whether the request carries a `model` to route on. */
  routed: boolean;
}

export const ENDPOINTS: readonly Endpoint[] = [
  { id: 'openai.chat', family: 'openai', method: 'POST', path: '/v1/chat/completions', upstreamPath: '/chat/completions', streamable: true, routed: true },
  { id: 'openai.responses', family: 'openai', method: 'POST', path: '/v1/responses', upstreamPath: '/responses', streamable: true, routed: true },
  { id: 'openai.embeddings', family: 'openai', method: 'POST', path: '/v1/embeddings', upstreamPath: '/embeddings', streamable: false, routed: true },
  { id: 'openai.completions', family: 'openai', method: 'POST', path: '/v1/completions', upstreamPath: '/completions', streamable: true, routed: true },
  { id: 'openai.models', family: 'openai', method: 'GET', path: '/v1/models', upstreamPath: '/models', streamable: false, routed: false },
  { id: 'anthropic.messages', family: 'anthropic', method: 'POST', path: '/v1/messages', upstreamPath: '/v1/messages', streamable: true, routed: true },
  { id: 'anthropic.count_tokens', family: 'anthropic', method: 'POST', path: '/v1/messages/count_tokens', upstreamPath: '/v1/messages/count_tokens', streamable: false, routed: true },
];

const BY_PATH = new Map(ENDPOINTS.map((e) => [e.path, e]));

export function endpointFor(path: string): Endpoint | undefined {
  return BY_PATH.get(path);
}

/** Anthropic paths are recognised by prefix so even unknown ones get Anthropic-shaped errors. */
export function familyForPath(path: string): Family {
  return path.startsWith('/v1/messages') || path.startsWith('/v1/complete') ? 'anthropic' : 'openai';
}

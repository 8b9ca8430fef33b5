type Params = Record<string, unknown> | undefined;

/**
 * The part of a client request that carries content to the MCP server: what the detectors scan on the way there
 * and where `tokenize` restores the agent's placeholders (docs/mcp.md#tokenization) — a tool call's and a prompt's
 * arguments, a resource URI (read, subscribe, unsubscribe), the argument a completion is asked for. Other params (a tool or prompt name, a cursor) select
 * and are judged by the `mcp:` rules, not rewritten.
 */
export interface RequestContent {
  key: 'arguments' | 'uri' | 'argument';
  /** Where findings point (`params.arguments.text`, `params.uri`). */
  path: string;
  value: unknown;
}

const URI_METHODS = new Set(['resources/read', 'resources/subscribe', 'resources/unsubscribe']);

export function requestContentOf(method: string, params: Params): RequestContent | undefined {
  if (method === 'tools/call') {
    // Absent arguments are an empty object (post.ts refuses any other non-object before this).
    const args = params?.arguments;
    return { key: 'arguments', path: 'params.arguments', value: isObject(args) ? args : {} };
  }
  if (method === 'prompts/get' && isObject(params?.arguments)) return { key: 'arguments', path: 'params.arguments', value: params.arguments };
  if (URI_METHODS.has(method) && typeof params?.uri === 'string') return { key: 'uri', path: 'params.uri', value: params.uri };
  if (method === 'completion/complete' && isObject(params?.argument)) return { key: 'argument', path: 'params.argument', value: params.argument };
  return undefined;
}

/** Methods whose request content or result content `tokenize` rewrites (the session's vault is loaded for them). */
export const TOKENIZED_METHODS: ReadonlySet<string> = new Set(['tools/call', 'prompts/get', 'completion/complete', ...URI_METHODS]);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

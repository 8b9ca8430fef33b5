import { isPolicyRefusal, type GatewayError } from '../../core/errors.ts';
import type { ExchangeUsage } from '../../store/ports.ts';
import { num, obj, type Protocol } from './types.ts';

/**
 * A policy refusal is 451 (RFC 7725: access denied by the operator's obligations) with type `permission_error`.
 * Claude Code shows a 401 or 403 as "Failed to authenticate", and answers a 400 or 422 by resending the request up
 * to five times with features stripped (it takes them for a gateway's unsupported betas); it shows other 4xx once,
 * as `API Error: <status> <message>`. The Anthropic SDKs retry only 408, 409, 429 and 5xx (`shouldRetry`).
 * Observed with @anthropic-ai/claude-code 2.1.332; docs/api.md "Refusals and client retries".
 */
function statusOf(err: GatewayError): number {
  return isPolicyRefusal(err) ? 451 : err.status;
}

/**
 * Anthropic wire format: errors are `{"type":"error","error":{"type","message"}}`
 * (https://docs.anthropic.com/en/api/errors); a failure inside a stream is an `event: error` whose data has
 * the same shape — the official SDK raises it as an APIError.
 */
function errorType(err: GatewayError): string {
  if (isPolicyRefusal(err)) return 'permission_error';
  const s = statusOf(err);
  if (s === 401) return 'authentication_error';
  if (s === 403) return 'permission_error';
  if (s === 404) return 'not_found_error';
  if (s === 413) return 'request_too_large';
  if (s === 429) return 'rate_limit_error';
  if (s === 529 || err.code === 'overloaded') return 'overloaded_error';
  if (s >= 500) return 'api_error';
  return 'invalid_request_error';
}

function errorBody(err: GatewayError): Record<string, unknown> {
  const error: Record<string, unknown> = { type: errorType(err), message: err.publicMessage, portcullis_code: err.code };
  if (err.details && err.expose) error.portcullis = err.details;
  return { type: 'error', error };
}

export const anthropicProtocol: Protocol = {
  statusOf,

  errorBody,

  streamErrorEvents: (_endpoint, err) => [{ event: 'error', id: undefined, data: JSON.stringify(errorBody(err)) }],

  usageFromJson(_endpoint, body) {
    const u = obj(obj(body)?.usage);
    const input = num(u?.input_tokens);
    const cacheRead = num(u?.cache_read_input_tokens) ?? 0;
    const cacheCreate = num(u?.cache_creation_input_tokens) ?? 0;
    if (obj(body)?.type === undefined && input !== null) {
      // count_tokens answers `{input_tokens}` only.
      return { inputTokens: input, outputTokens: null, totalTokens: input };
    }
    const output = num(u?.output_tokens);
    const inTotal = input === null ? null : input + cacheRead + cacheCreate;
    return { inputTokens: inTotal, outputTokens: output, totalTokens: inTotal !== null && output !== null ? inTotal + output : null };
  },

  foldStreamUsage(_endpoint, parsed, acc: ExchangeUsage) {
    const p = obj(parsed);
    if (!p) return;
    // message_start carries input usage in `message.usage`; message_delta carries cumulative output usage.
    const u = p.type === 'message_start' ? obj(obj(p.message)?.usage) : p.type === 'message_delta' ? obj(p.usage) : undefined;
    if (!u) return;
    const input = num(u.input_tokens);
    if (input !== null) acc.inputTokens = input + (num(u.cache_read_input_tokens) ?? 0) + (num(u.cache_creation_input_tokens) ?? 0);
    const output = num(u.output_tokens);
    if (output !== null) acc.outputTokens = output;
    if (acc.inputTokens !== null && acc.outputTokens !== null) acc.totalTokens = acc.inputTokens + acc.outputTokens;
  },

  isTerminal: (_endpoint, ev) => ev.event === 'message_stop' || ev.event === 'error',
};

import { isPolicyRefusal, type GatewayError } from '../../core/errors.ts';
import type { ExchangeUsage } from '../../store/ports.ts';
import type { EndpointId } from '../endpoints.ts';
import { num, obj, type Protocol, type SseEvent } from './types.ts';

/**
 * OpenAI wire format: errors are `{"error": {message, type, param, code}}`
 * (https://platform.openai.com/docs/guides/error-codes). A failure after an SSE stream started is sent as a
 * data event carrying `error` — the official SDKs raise an APIError for it — or, on the Responses API, as the
 * documented `error` event.
 */
function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/**
 * A policy refusal is 400 `invalid_request_error`, as OpenAI answers its own policy refusals: every OpenAI client
 * shows a 400 once. Codex CLI retries a whole turn on any status it does not classify (403 and 451 included, five
 * times) and classifies 400 as a final InvalidRequest (openai/codex codex-rs/codex-api/src/api_bridge.rs,
 * codex-rs/protocol/src/error.rs `is_retryable`); the SDKs retry only 408, 409, 429 and 5xx (openai `shouldRetry`).
 */
function statusOf(err: GatewayError): number {
  return isPolicyRefusal(err) ? 400 : err.status;
}

function errorObject(err: GatewayError): Record<string, unknown> {
  const e: Record<string, unknown> = { message: err.publicMessage, type: errorType(statusOf(err)), param: null, code: err.code };
  if (err.details && err.expose) e.portcullis = err.details;
  return e;
}

/**
 * A refusal after a Responses stream started (an answer blocked mid-stream) is also ended with `response.failed`
 * whose error code is `invalid_prompt`, one of the Responses API's documented `ResponseError` codes: the SDKs stop
 * at the `error` event before it, and Codex CLI, which ignores `error` events and retries a turn on any other
 * `response.failed` code, shows this one once (openai/codex codex-rs/codex-api/src/sse/responses.rs). The gateway's
 * own code stays in `portcullis_code`.
 */
function refusedResponse(err: GatewayError): SseEvent {
  const error = { code: 'invalid_prompt', message: err.publicMessage, portcullis_code: err.code };
  return { event: 'response.failed', id: undefined, data: JSON.stringify({ type: 'response.failed', response: { object: 'response', status: 'failed', error } }) };
}

export const openaiProtocol: Protocol = {
  statusOf,

  errorBody: (err) => ({ error: errorObject(err) }),

  streamErrorEvents(endpoint: EndpointId, err: GatewayError): SseEvent[] {
    const error = errorObject(err);
    if (endpoint !== 'openai.responses') return [{ event: undefined, id: undefined, data: JSON.stringify({ error }) }];
    const events: SseEvent[] = [{ event: 'error', id: undefined, data: JSON.stringify({ type: 'error', code: err.code, message: err.publicMessage, param: null, error }) }];
    if (isPolicyRefusal(err)) events.push(refusedResponse(err));
    return events;
  },

  usageFromJson(endpoint, body) {
    const u = obj(obj(body)?.usage);
    return usageOf(endpoint, u);
  },

  foldStreamUsage(endpoint, parsed, acc) {
    const p = obj(parsed);
    if (!p) return;
    // Chat/completions: the final chunk carries `usage` (stream_options.include_usage).
    // Responses: `response.completed` (and failed/incomplete) carries `response.usage`.
    const u = obj(p.usage) ?? obj(obj(p.response)?.usage);
    if (!u) return;
    const next = usageOf(endpoint, u);
    acc.inputTokens = next.inputTokens ?? acc.inputTokens;
    acc.outputTokens = next.outputTokens ?? acc.outputTokens;
    acc.totalTokens = next.totalTokens ?? acc.totalTokens;
  },

  isTerminal(endpoint, ev) {
    if (endpoint === 'openai.responses') {
      return ev.event === 'response.completed' || ev.event === 'response.failed' || ev.event === 'response.incomplete' || ev.event === 'error';
    }
    return ev.data === '[DONE]';
  },
};

function usageOf(endpoint: EndpointId, u: Record<string, unknown> | undefined): ExchangeUsage {
  if (!u) return { inputTokens: null, outputTokens: null, totalTokens: null };
  if (endpoint === 'openai.responses') {
    return { inputTokens: num(u.input_tokens), outputTokens: num(u.output_tokens), totalTokens: num(u.total_tokens) };
  }
  return { inputTokens: num(u.prompt_tokens), outputTokens: num(u.completion_tokens), totalTokens: num(u.total_tokens) };
}

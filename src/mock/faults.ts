import type { ServerResponse } from 'node:http';
import { anthropicJson } from './anthropic.ts';
import { json } from './openai.ts';

/**
 * Failure injection, chosen per request by the `x-mock-fail` header:
 *   status:NNN         answer NNN in the provider's error shape (429 adds retry-after)
 *   reset              destroy the socket before answering
 *   midstream-reset    stream a few events, then destroy the socket
 *   garbage-sse        stream a few events, then bytes that are not valid SSE JSON
 *   truncated-json     200 application/json whose body stops mid-document
 *   html               200 text/html (a proxy's error page where JSON was expected)
 *   slow-first-byte:MS wait MS before answering
 *   hang               never answer
 */
export type Fault =
  | { kind: 'status'; status: number }
  | { kind: 'reset' | 'midstream-reset' | 'garbage-sse' | 'hang' | 'truncated-json' | 'html' }
  | { kind: 'slow-first-byte'; ms: number };

export function parseFault(header: string | string[] | undefined): Fault | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (!v) return undefined;
  const [kind, arg] = v.split(':');
  if (kind === 'status') return { kind: 'status', status: Number(arg) || 500 };
  if (kind === 'slow-first-byte') return { kind: 'slow-first-byte', ms: Number(arg) || 1000 };
  if (kind === 'reset' || kind === 'midstream-reset' || kind === 'garbage-sse' || kind === 'hang' || kind === 'truncated-json' || kind === 'html') return { kind };
  return undefined;
}

/** A 200 answer that is not the JSON document the endpoint promises. */
export function sendMalformed(res: ServerResponse, kind: 'truncated-json' | 'html'): void {
  const [type, body] = kind === 'html' ? ['text/html', '<html><body>502 Bad Gateway</body></html>'] : ['application/json', '{"id":"chatcmpl-cut","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"par'];
  res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendProviderError(res: ServerResponse, anthropic: boolean, status: number): void {
  if (status === 429) res.setHeader('retry-after', '1');
  // Real providers quote part of the refused key (OpenAI: "Incorrect API key provided: sk-abc***wxyz").
  if (status === 401) return anthropic
    ? anthropicJson(res, 401, { type: 'error', error: { type: 'authentication_error', message: `invalid x-api-key ${MOCK_KEY_HINT}` } })
    : json(res, 401, { error: { message: `Incorrect API key provided: ${MOCK_KEY_HINT}`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
  if (anthropic) {
    const type = status === 429 ? 'rate_limit_error' : status === 401 ? 'authentication_error' : status >= 500 ? 'api_error' : 'invalid_request_error';
    return anthropicJson(res, status, { type: 'error', error: { type, message: `mock upstream error ${status}` } });
  }
  const type = status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'server_error' : 'invalid_request_error';
  json(res, status, { error: { message: `mock upstream error ${status}`, type, param: null, code: `mock_${status}` } });
}

/** What the mock's 401 quotes of the refused key, as providers do (tests check it never reaches a client). */
export const MOCK_KEY_HINT = 'sk-mock***hint';

/** Streams a few valid events in the family's format, then fails as asked. */
export function streamThenFail(res: ServerResponse, anthropic: boolean, fault: 'midstream-reset' | 'garbage-sse'): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const ev = anthropic
    ? `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'msg_f', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } } })}\n\n`
    : `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: 'partial ' }, finish_reason: null }] })}\n\n`;
  res.write(ev);
  setTimeout(() => {
    if (fault === 'midstream-reset') return void res.socket?.destroy();
    res.write(anthropic ? 'event: content_block_delta\ndata: {not json at all\n\n' : 'data: {"broken": \n\n');
    setTimeout(() => res.end(), 10);
  }, 20);
}

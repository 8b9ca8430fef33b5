import type { ServerResponse } from 'node:http';
import { isPolicyRefusal, type GatewayError } from '../core/errors.ts';
import type { EndpointId } from './endpoints.ts';
import type { Protocol } from './protocols/types.ts';
import { encodeSse } from './sse.ts';

/**
 * Sends a gateway error in the caller's protocol. Before headers: a JSON error with the right status. After a
 * stream started: the protocol's in-stream error event, then the end of the stream.
 */
export function sendError(res: ServerResponse, protocol: Protocol, endpoint: EndpointId, err: GatewayError): void {
  if (res.writableEnded || res.destroyed) return;
  if (res.headersSent) {
    res.end(protocol.streamErrorEvents(endpoint, err).map(encodeSse).join(''));
    return;
  }
  const body = JSON.stringify(protocol.errorBody(err));
  res.writeHead(protocol.statusOf(err), {
    ...err.headers,
    // The SDKs obey `x-should-retry` before their status rules: a refusal is final however it is classified.
    ...(isPolicyRefusal(err) ? { 'x-should-retry': 'false' } : {}),
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    // A slow client's connection is not worth keeping; an oversized body is drained after the answer instead
    // (src/proxy/linger.ts), so the client reads its 413 rather than a reset.
    ...(err.code === 'request_timeout' ? { connection: 'close' } : {}),
  });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { GatewayError, toGatewayError } from '../core/errors.ts';
import { errorName, type GatewayLogger } from '../core/logger.ts';
import type { Router } from '../http/route.ts';
import { endpointFor, familyForPath } from './endpoints.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { Drain } from './drain.ts';
import { handleProxy, type PipelineDeps } from './pipeline.ts';
import { protocolFor } from './protocols/index.ts';
import { answerThenLinger, drainUnreadBody } from './linger.ts';
import { sendError, sendJson } from './respond.ts';

export interface ServerOptions {
  pipeline: PipelineDeps;
  router: Router;
  metrics: GatewayMetrics;
  logger: GatewayLogger;
  ready(): Promise<void>;
  /** Counts requests in flight and refuses new ones once the gateway drains (src/proxy/drain.ts). */
  drain: Drain;
  limits: { headersTimeoutMs: number; keepAliveTimeoutMs: number; maxHeaderSize: number; maxHeadersCount: number };
}

/** How much of a body the gateway did not read it still drains after answering (src/proxy/linger.ts). */
const LINGER_MS = 5_000;
const LINGER_MIN_BYTES = 16 * 1024 * 1024;

/**
 * The HTTP front door. `/v1/*` is the data plane (provider wire formats); `/admin/*`, `/auth/*` are routes;
 * `/healthz`, `/readyz`, `/metrics` are for operators. Slow clients are bounded by headersTimeout (headers) and
 * the pipeline's body deadline; oversized header blocks get 431 from Node's parser (maxHeaderSize).
 */
export function createGatewayServer(o: ServerOptions): Server {
  const linger = { maxMs: LINGER_MS, maxBytes: Math.max(2 * o.pipeline.limits.maxBodyBytes, LINGER_MIN_BYTES) };
  const server = createServer(
    { maxHeaderSize: o.limits.maxHeaderSize, headersTimeout: o.limits.headersTimeoutMs, requestTimeout: 0, keepAliveTimeout: o.limits.keepAliveTimeoutMs },
    (req, res) => void dispatch(o, req, res)
      .catch((err: unknown) => {
        // Last line of defence: a handler that throws while answering must not become an unhandled rejection
        // (which would stop the process); the one request is cut off instead.
        o.logger.error({ event: 'route_internal_error', error_name: errorName(err) });
        res.destroy();
      })
      .finally(() => drainUnreadBody(req, linger)),
  );
  // Node keeps at most this many headers; one more lets us detect (and refuse) a header flood.
  server.maxHeadersCount = o.limits.maxHeadersCount + 1;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({ error: { message: status === 431 ? 'Request header fields too large.' : 'Malformed HTTP request.', type: 'invalid_request_error', code: 'bad_http' } });
    answerThenLinger(socket, `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`, linger);
  });
  return server;
}

async function dispatch(o: ServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (path === '/readyz' && o.drain.notReady) return sendJson(res, 503, { status: 'not_ready', reason: 'shutting_down' });
  if (o.drain.draining && path !== '/healthz' && path !== '/metrics') return refuseWhileDraining(path, res);
  const leave = o.drain.enter();
  try {
    if (path.startsWith('/v1/')) return await proxy(o, path, req, res);
    if (req.rawHeaders.length / 2 > o.limits.maxHeadersCount) throw new GatewayError('invalid_request', 'Too many request headers.', { status: 431 });
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') return await ready(o, res);
    if (path === '/metrics') {
      const text = await o.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': o.metrics.registry.contentType });
      return void res.end(text);
    }
    const m = o.router.match(req.method ?? 'GET', path);
    if (m === 'method') throw new GatewayError('method_not_allowed', `Method ${req.method} is not allowed on ${path}.`);
    if (!m) throw new GatewayError('not_found', `No such endpoint: ${path}.`);
    await m.route.handler(req, res, m.params);
  } catch (err) {
    const g = toGatewayError(err);
    if (g.code === 'internal') o.logger.error({ event: 'route_internal_error', path, error_name: errorName(err) });
    if (!res.headersSent) sendJson(res, g.status, { error: { code: g.code, message: g.publicMessage } }, g.headers);
    else res.destroy();
  } finally {
    leave();
  }
}

/**
 * A request that reaches a draining replica (on a kept-alive connection, or before the load balancer saw
 * `/readyz` fail) is refused before anything is read or recorded, in the caller's protocol, with `connection:
 * close`: nothing was done, so the client or the load balancer can send it to another replica.
 */
function refuseWhileDraining(path: string, res: ServerResponse): void {
  const err = new GatewayError('overloaded', 'This gateway replica is shutting down; nothing was done. Retry the request.', { headers: { 'retry-after': '1', connection: 'close' } });
  if (path.startsWith('/v1/')) return sendError(res, protocolFor(familyForPath(path)), endpointFor(path)?.id ?? 'openai.chat', err);
  sendJson(res, err.status, { error: { code: err.code, message: err.publicMessage } }, err.headers);
}

async function proxy(o: ServerOptions, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const protocol = protocolFor(familyForPath(path));
  if (req.rawHeaders.length / 2 > o.limits.maxHeadersCount) {
    return sendError(res, protocol, 'openai.chat', new GatewayError('invalid_request', 'Too many request headers.', { status: 431 }));
  }
  const endpoint = endpointFor(path);
  if (!endpoint) return sendError(res, protocol, 'openai.chat', new GatewayError('not_found', `Unknown API path ${path}.`));
  if (req.method !== endpoint.method) {
    return sendError(res, protocol, endpoint.id, new GatewayError('method_not_allowed', `Use ${endpoint.method} for ${path}.`, { headers: { allow: endpoint.method } }));
  }
  await handleProxy(o.pipeline, endpoint, req, res);
}

async function ready(o: ServerOptions, res: ServerResponse): Promise<void> {
  try {
    await o.ready();
    sendJson(res, 200, { status: 'ready' });
  } catch {
    sendJson(res, 503, { status: 'not_ready' });
  }
}

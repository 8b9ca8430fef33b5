import { Readable } from 'node:stream';
import { parseJsonExact } from '../core/json-exact.ts';
import type { Dispatcher } from 'undici';
import type { McpDeps } from './http.ts';
import { listenInSession } from './listen.ts';
import { discoverResult, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_PROTOCOL_VERSION, paramHeaders, standardHeaders, toLegacyRequest } from './modern.ts';
import type { Exchange } from './relay.ts';

/**
 * Sending a request upstream, per the caller's era (docs/mcp.md#sessionless-revision-2026-07-28). A session-based
 * caller's request goes as it came, in its session. A 2026-07-28 caller's request goes sessionless to a server that
 * speaks 2026-07-28, with the standard headers derived from the body the gateway forwards; to a 2025-era server it
 * goes translated (no envelope) in the caller's gateway-held session (sessionless.ts), re-opened once if the server
 * forgot it, and the answer is translated back in the relay (`resultType`).
 */
export async function sendUpstream(d: McpDeps, ex: Exchange, body: Buffer, signal: AbortSignal, sent?: Record<string, unknown>): Promise<Dispatcher.ResponseData> {
  const m = ex.modern;
  if (!m) return ex.upstream.request({ method: 'POST', incoming: ex.req.headers, sessionId: ex.upstreamSession, body, signal });
  // The standard headers are derived from what goes out: `sent` is `body` as the caller parsed or built it (post.ts
  // hands over the message it judged, or its rewrite, which `body` serializes), else `body` is parsed here. Exact
  // numbers (core/json-exact.ts): a translated request is re-serialized for a 2025-era server.
  const msg = sent ?? (parseJsonExact(body.toString('utf8')) as Record<string, unknown>);
  m.upstream = await d.sessionless.era(ex.upstream);
  if (m.upstream === 'modern') {
    const params = msg.params as { name?: unknown; arguments?: unknown } | undefined;
    const derived = msg.method === 'tools/call' && typeof params?.name === 'string' ? paramHeaders(d.catalogue.inputSchema(ex.server, params.name), params.arguments) : {};
    return ex.upstream.request({ method: 'POST', incoming: ex.req.headers, sessionId: undefined, body, signal, headers: { ...standardHeaders(msg, m.version), ...derived } });
  }
  for (let attempt = 0; ; attempt++) {
    const held = await d.sessionless.session(ex.upstream, ex.principal.subject);
    ex.upstreamSession = held.id;
    m.upstreamVersion = held.version;
    if (msg.method === 'server/discover' && (typeof msg.id === 'string' || typeof msg.id === 'number')) return synthetic('application/json', [JSON.stringify(discoverResult(msg.id, held.init))]);
    if (msg.method === 'subscriptions/listen') return listenInSession(ex, held, msg, signal);
    const up = await ex.upstream.request({
      method: 'POST', incoming: ex.req.headers, sessionId: held.id, body: Buffer.from(JSON.stringify(toLegacyRequest(msg))), signal, headers: { 'mcp-protocol-version': held.version },
    });
    if (up.statusCode !== 404 || held.id === undefined || attempt > 0) return up;
    // The server forgot the gateway's session (restart, expiry): a new one, and the request once more.
    await up.body.dump();
    d.sessionless.forget(ex.upstream, ex.principal.subject, held);
  }
}

/**
 * A request the gateway itself makes in the caller's context (re-listing tools, refusing a server request), shaped
 * for the caller's era: the client's protocol version in its session; for a 2026-07-28 caller, sessionless with the
 * gateway's own envelope, or in the caller's gateway-held session of a 2025-era server.
 */
export async function gatewayRequest(d: McpDeps, ex: Exchange, body: Record<string, unknown>): Promise<{ body: Record<string, unknown>; headers: Record<string, string>; sessionId: string | undefined }> {
  const m = ex.modern;
  const client = ex.req.headers['mcp-protocol-version'];
  if (!m) return { body, headers: typeof client === 'string' ? { 'mcp-protocol-version': client } : {}, sessionId: ex.upstreamSession };
  m.upstream ??= await d.sessionless.era(ex.upstream);
  if (m.upstream === 'legacy') {
    const held = await d.sessionless.session(ex.upstream, ex.principal.subject);
    return { body, headers: { 'mcp-protocol-version': held.version }, sessionId: held.id };
  }
  if (body.method === undefined) return { body, headers: { 'mcp-protocol-version': m.version }, sessionId: undefined };
  const meta = { [META_PROTOCOL_VERSION]: m.version, [META_CLIENT_INFO]: { name: 'portcullis-gateway', version: '1' }, [META_CLIENT_CAPABILITIES]: {} };
  const enveloped = { ...body, params: { ...(body.params as Record<string, unknown> | undefined), _meta: meta } };
  return { body: enveloped, headers: standardHeaders(enveloped, m.version), sessionId: undefined };
}

/** Where a forwarded request waits for its answer (pending.ts): a sessionless request's answer comes on its own POST. */
export const pendingScope = (ex: Exchange): string | undefined => (ex.modern ? `sessionless:${ex.id}` : ex.upstreamSession);

/** An answer the gateway gives in the server's place, shaped like an upstream response for the relay. */
export function synthetic(type: string, chunks: Iterable<string> | AsyncIterable<string>): Dispatcher.ResponseData {
  const body = Readable.from(chunks, { objectMode: false });
  const dump = async (): Promise<void> => void body.destroy();
  return { statusCode: 200, headers: { 'content-type': type }, body: Object.assign(body, { dump }), trailers: {}, opaque: null, context: {} } as unknown as Dispatcher.ResponseData;
}

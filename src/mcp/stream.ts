import type { IncomingMessage, ServerResponse } from 'node:http';
import { toGatewayError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { mcpVersionOf } from '../governance/mcp-version.ts';
import { authenticateMcp, refuse, type McpDeps } from './http.ts';
import { isModernVersion } from './modern.ts';
import { protocolVersionOf } from './protocol.ts';
import { relaySse, type Exchange } from './relay.ts';

/**
 * GET /mcp/<server> opens the server-to-client SSE stream (notifications, server requests; resumable with
 * Last-Event-ID); DELETE ends the session. Both need the caller's own bound session id; neither carries a call,
 * so neither is an exchange record — server requests refused on the stream are logged.
 */
export async function handleStreamOrDelete(d: McpDeps, server: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const principal = await authenticateMcp(d, server, req, res);
  if (!principal) return;
  const upstream = d.upstreams.get(server);
  if (!upstream) return refuse(res, 404, null, 'unknown_server', `No MCP server "${server}" on this gateway.`);
  const pv = protocolVersionOf(req.headers['mcp-protocol-version']);
  if ('invalid' in pv) return refuse(res, 400, null, 'unsupported_protocol_version', 'Unsupported MCP-Protocol-Version.');
  // 2026-07-28 is POST-only: `subscriptions/listen` replaces the GET stream, and there is no session to DELETE.
  if (isModernVersion(pv.version)) return refuse(res, 405, null, 'invalid_message', `MCP revision ${pv.version} has no GET stream or session; use POST (subscriptions/listen).`, { allow: 'POST' });
  const h = req.headers['mcp-session-id'];
  const upstreamSession = typeof h === 'string' ? d.sessions.unwrap(h, principal.subject, server) : undefined;
  if (h !== undefined && upstreamSession === undefined) return refuse(res, 404, null, 'session_not_found', 'Session not found; initialize a new session.');
  if (req.method === 'DELETE' && upstreamSession === undefined) return refuse(res, 400, null, 'session_not_found', 'DELETE needs the Mcp-Session-Id of the session to end.');
  const version = mcpVersionOf(d.guard());
  if (version === 'unavailable') return refuse(res, 503, null, 'policy_unavailable', 'The active policy version cannot be evaluated.');
  const abort = new AbortController();
  res.once('close', () => abort.abort());
  try {
    const up = await upstream.request({ method: req.method === 'DELETE' ? 'DELETE' : 'GET', incoming: req.headers, sessionId: upstreamSession, signal: abort.signal, stream: true });
    const type = String(up.headers['content-type'] ?? '');
    if (req.method === 'GET' && up.statusCode === 200 && type.startsWith('text/event-stream')) {
      const ex: Exchange = {
        id: newId('ex'), server, principal, upstream, req, res, mono0: d.clock.mono(), clientSession: h as string | undefined, upstreamSession,
        version, method: '', rpcId: null,
      };
      await relaySse(d, ex, up, {}, undefined);
      return;
    }
    await up.body.dump();
    // 405: the server offers no stream (the spec's answer); 404: the session is gone. Nothing else is passed on.
    const status = up.statusCode === 405 || up.statusCode === 404 || up.statusCode < 300 ? up.statusCode : 502;
    res.writeHead(status, up.statusCode === 405 ? { allow: 'POST' } : {});
    res.end();
  } catch (err) {
    if (!res.headersSent) refuse(res, 502, null, 'upstream_unavailable', toGatewayError(err).publicMessage);
    else res.destroy();
  }
}

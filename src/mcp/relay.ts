import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { ExchangeRecording } from '../audit/recorder.ts';
import type { Principal } from '../core/principal.ts';
import type { McpVersion } from '../governance/mcp-version.ts';
import type { McpDeps } from './http.ts';
import { refuse } from './http.ts';
import { classify, refusal, type JsonRpcId, type RefusalCode } from './jsonrpc.ts';
import { answerServer, GOVERNED_SERVER_REQUESTS, relayServerRequest, serverRequestDecision } from './server-requests.ts';
import { writeWithBackpressure } from '../http/write.ts';
import { formatSse, pumpSse } from './sse.ts';
import { scanJson } from './content.ts';
import { transformAnswer } from './transform.ts';
import type { McpUpstream } from './upstream.ts';
import type { McpTokens } from './tokens.ts';
import { deniedInputRequest } from './input-required.ts';
import { sealRoundTrip } from './input-responses.ts';
import { privateCache, toModernAnswer } from './modern.ts';
import { gatewayRequest, pendingScope } from './sessionless-forward.ts';
import { parseJsonExact } from '../core/json-exact.ts';

/** One client request to one server, as the relay needs it. */
export interface Exchange {
  id: string;
  server: string;
  principal: Principal;
  upstream: McpUpstream;
  req: IncomingMessage;
  res: ServerResponse;
  mono0: number;
  clientSession: string | undefined;
  upstreamSession: string | undefined;
  version: McpVersion | 'open';
  /** The request's method and id ('' / null for notifications and responses). */
  method: string;
  rpcId: JsonRpcId | null;
  /** Set once the client's answer is an open SSE stream (a held call): later answers and errors are SSE events. */
  streamOpen?: boolean;
  /** The session's tokenization when a content rule tokenizes (tokens.ts). */
  tokens?: McpTokens | undefined;
  /**
   * A sessionless (2026-07-28) caller: its revision, and — once known — whether the server speaks it too or gets the
   * request translated into the caller's gateway-held session (sessionless-forward.ts).
   */
  modern?: { version: string; upstream?: 'modern' | 'legacy'; upstreamVersion?: string } | undefined;
  /** The method and name of the request (input-responses.ts `roundTripOf`): a retry's `inputResponses` are bound to it. */
  roundTrip?: string | undefined;
}

export interface RelayOutcome {
  status: 'completed' | 'upstream_error' | 'client_aborted' | 'incomplete';
  httpStatus: number;
  errorCode: string | null;
  body?: Buffer;
  findings: Record<string, unknown>[];
}

/**
 * Whether a 2026-07-28 server's embedded request (`input_required`, input-required.ts) may reach the agent: the
 * caller's policy must allow the method for this server (server-requests.ts) and no detector may block its fields.
 */
function inputRequestAllowed(d: McpDeps, ex: Exchange, m: { method: string; params: Record<string, unknown> | undefined }): boolean {
  if (ex.version === 'open' || serverRequestDecision(d, ex, m.method)?.effect !== 'allow') return false;
  return !scanJson(ex.version.content, 'response', m.params ?? {}, 'params').blocked;
}

/** A refusal in the shape the client's answer already has: a JSON-RPC error body, or an event on an open stream. */
export function answerError(ex: Exchange, status: number, code: RefusalCode, message: string): void {
  if (!ex.streamOpen) return refuse(ex.res, status, ex.rpcId, code, message);
  ex.res.end(formatSse({ data: JSON.stringify(refusal(ex.rpcId, code, message)) }));
}

/** The upstream's answer to the client: session id bound to the caller, JSON or SSE through the controls. */
export async function relayAnswer(d: McpDeps, ex: Exchange, up: Dispatcher.ResponseData, rec: ExchangeRecording | undefined): Promise<RelayOutcome> {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  const sid = up.headers['mcp-session-id'];
  // A sessionless caller never sees a session: a gateway-held one stays the gateway's.
  if (!ex.modern && typeof sid === 'string' && /^[\x21-\x7e]{1,1024}$/.test(sid)) headers['mcp-session-id'] = d.sessions.wrap(sid, ex.principal.subject, ex.server);
  const type = String(up.headers['content-type'] ?? '').toLowerCase();
  const status = up.statusCode;
  if (status === 401 || status === 403) {
    // The upstream refused the gateway's own credential: the client can do nothing about it, and must not be
    // sent into the upstream's authorization flow (its WWW-Authenticate is not passed on).
    await up.body.dump();
    d.logger.warn({ event: 'mcp_upstream_refused_credential', provider: `mcp:${ex.server}`, status });
    d.onUpstreamCredentialRefused?.({ provider: `mcp:${ex.server}`, status, exchangeId: ex.id });
    answerError(ex, 502, 'upstream_error', `MCP server "${ex.server}" refused the gateway's credential.`);
    return { status: 'upstream_error', httpStatus: 502, errorCode: 'upstream_auth', findings: [] };
  }
  if (type.startsWith('text/event-stream') && status < 300) return relaySse(d, ex, up, headers, rec);
  let text: string;
  try {
    text = await readCapped(up.body, d.limits.maxResponseBytes);
  } catch {
    answerError(ex, 502, 'upstream_error', `MCP server "${ex.server}" sent an answer larger than the gateway accepts.`);
    return { status: 'upstream_error', httpStatus: 502, errorCode: 'upstream_too_large', findings: [] };
  }
  if (text.length === 0 || !type.startsWith('application/json')) {
    if (status >= 300) {
      answerError(ex, status === 404 && ex.upstreamSession && !ex.modern ? 404 : 502, status === 404 ? 'session_not_found' : 'upstream_error', status === 404 ? 'Session not found; initialize a new session.' : `MCP server "${ex.server}" answered HTTP ${status}.`);
      return { status: 'upstream_error', httpStatus: status, errorCode: 'upstream_status', findings: [] };
    }
    if (ex.streamOpen) answerError(ex, 502, 'upstream_error', `MCP server "${ex.server}" sent no answer.`);
    else {
      ex.res.writeHead(status, headers);
      ex.res.end();
    }
    return { status: 'completed', httpStatus: status, errorCode: null, findings: [] };
  }
  let message: unknown;
  try {
    message = parseJsonExact(text);
  } catch {
    answerError(ex, 502, 'upstream_error', `MCP server "${ex.server}" sent invalid JSON.`);
    return { status: 'upstream_error', httpStatus: 502, errorCode: 'upstream_invalid_json', findings: [] };
  }
  const m = classify(message);
  let out = message as Record<string, unknown>;
  let findings: Record<string, unknown>[] = [];
  if (m?.kind === 'response') {
    const method = d.pending.take(ex.server, pendingScope(ex), m.id, d.clock.now());
    if (method === undefined || m.id === null) {
      answerError(ex, 502, 'upstream_error', `MCP server "${ex.server}" answered a request it was not sent.`);
      return { status: 'upstream_error', httpStatus: 502, errorCode: 'upstream_unsolicited_response', findings: [] };
    }
    const t = await answerFor(d, ex, method, m.id, m.raw, rec);
    out = t.message;
    findings = t.findings;
  }
  const body = out === message ? Buffer.from(text) : Buffer.from(JSON.stringify(out));
  if (ex.streamOpen) ex.res.end(formatSse({ data: body.toString('utf8') }));
  else {
    ex.res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': String(body.length) });
    ex.res.end(body);
  }
  return { status: status < 400 ? 'completed' : 'upstream_error', httpStatus: status, errorCode: null, body, findings };
}

export async function relaySse(d: McpDeps, ex: Exchange, up: Dispatcher.ResponseData, headers: Record<string, string>, rec: ExchangeRecording | undefined): Promise<RelayOutcome> {
  if (!ex.streamOpen) {
    ex.res.writeHead(up.statusCode, { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    ex.res.flushHeaders();
  }
  let findings: Record<string, unknown>[] = [];
  let answered = false;
  try {
    await pumpSse(up.body, d.limits.maxResponseBytes, async (e) => {
      let data = e.data;
      const m = classify(safeParse(e.data));
      if (m?.kind === 'response') {
        // Only answers to requests the gateway forwarded, each through its own method's controls (pending.ts).
        const method = d.pending.take(ex.server, pendingScope(ex), m.id, d.clock.now());
        if (method === undefined || m.id === null) {
          rec?.event(d.clock.mono() - ex.mono0, 'portcullis.dropped_response', '{}', e.data);
          return;
        }
        const t = await answerFor(d, ex, method, m.id, m.raw, rec);
        if (t.message !== m.raw) data = JSON.stringify(t.message);
        if (m.id === ex.rpcId) {
          findings = t.findings;
          answered = true;
        }
      } else if (m?.kind === 'request' && ex.modern) {
        // A sessionless caller has no channel a server request could reach it on (2026-07-28 uses input_required).
        answerServer(d, ex, m.id, `The gateway does not allow ${m.method} from MCP servers.`, 'server_request_denied');
        rec?.event(d.clock.mono() - ex.mono0, 'portcullis.denied_server_request', JSON.stringify({ method: m.method }), e.data);
        return;
      } else if (m?.kind === 'request' && GOVERNED_SERVER_REQUESTS.has(m.method)) {
        const allowed = await relayServerRequest(d, ex, m, rec);
        if (allowed === undefined) return;
        data = allowed;
      } else if (m?.kind === 'notification' && m.method === 'notifications/tools/list_changed') {
        d.catalogue.markStale(ex.server);
      }
      rec?.event(d.clock.mono() - ex.mono0, e.event, data, e.data);
      await writeWithBackpressure(ex.res, formatSse({ id: e.id, event: e.event, data }));
    });
  } catch {
    ex.res.destroy();
    return { status: ex.res.destroyed && !answered ? 'client_aborted' : 'incomplete', httpStatus: up.statusCode, errorCode: 'stream_broken', findings };
  }
  ex.res.end();
  // A POST stream ends after its response; one that ends without it is incomplete (the client may resume).
  return { status: answered || ex.rpcId === null ? 'completed' : 'incomplete', httpStatus: up.statusCode, errorCode: answered || ex.rpcId === null ? null : 'no_response', findings };
}

function safeParse(s: string): unknown {
  try {
    return parseJsonExact(s);
  } catch {
    return undefined;
  }
}

export const GATEWAY_INCOMING = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** The answer to a forwarded request through its method's controls, then in the caller's era (2026-07-28 shapes). */
async function answerFor(d: McpDeps, ex: Exchange, method: string, id: JsonRpcId, raw: Record<string, unknown>, rec: ExchangeRecording | undefined): Promise<{ message: Record<string, unknown>; findings: Record<string, unknown>[] }> {
  const t = await transformAnswer({ server: ex.server, method, id, principal: ex.principal, version: ex.version, catalogue: d.catalogue, tokens: ex.tokens }, raw);
  if (!ex.modern) return t;
  if (ex.modern.upstream === 'legacy') return { message: toModernAnswer(t.message, method), findings: t.findings };
  const denied = deniedInputRequest(t.message, (m) => inputRequestAllowed(d, ex, m));
  // The embedded requests that may go travel sealed in `requestState`, so any replica can match and scan the retry's
  // answers (input-responses.ts).
  if (denied === undefined) return { message: privateCache(sealRoundTrip(d, ex, t.message, raw), method), findings: t.findings };
  rec?.event(d.clock.mono() - ex.mono0, 'portcullis.denied_server_request', JSON.stringify({ method: denied.method }), JSON.stringify(raw));
  return { message: refusal(id, 'server_request_denied', `The gateway does not allow ${denied.method} from MCP servers.`), findings: t.findings };
}

const MAX_PAGES = 20;
const MAX_REFRESH_BYTES = 16 * 1024 * 1024;

/** The whole body as text, refusing one larger than `cap` bytes (never buffering more than that). */
async function readCapped(body: AsyncIterable<Buffer>, cap: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    size += c.length;
    if (size > cap) throw new Error('too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/**
 * The gateway lists the tools itself (in the caller's session) when a call names a tool it has not seen, or after
 * `notifications/tools/list_changed`: the call is then checked against what the server offers now.
 */
export async function refreshCatalogue(d: McpDeps, ex: Exchange): Promise<void> {
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const id = `portcullis-refresh-${ex.id}-${page}`;
    const g = await gatewayRequest(d, ex, { jsonrpc: '2.0', id, method: 'tools/list', ...(cursor ? { params: { cursor } } : {}) });
    const up = await ex.upstream.request({
      method: 'POST', incoming: GATEWAY_INCOMING, headers: g.headers, sessionId: g.sessionId, body: Buffer.from(JSON.stringify(g.body)), signal: AbortSignal.timeout(60_000),
    });
    const answer = await readAnswer(up, id);
    const result = answer?.result as { tools?: unknown; nextCursor?: unknown } | undefined;
    if (!Array.isArray(result?.tools)) return;
    await d.catalogue.review(ex.server, result.tools.filter((t): t is Record<string, unknown> => typeof t === 'object' && t !== null), ex.principal.subject);
    cursor = typeof result.nextCursor === 'string' ? result.nextCursor : undefined;
    if (!cursor) return;
  }
}

/** The answer with `id` from a JSON or SSE response; undefined when the status is not a success or it never came. */
export async function readAnswer(up: Dispatcher.ResponseData, id: string): Promise<Record<string, unknown> | undefined> {
  const type = String(up.headers['content-type'] ?? '');
  if (up.statusCode >= 300) {
    await up.body.dump();
    return undefined;
  }
  if (type.startsWith('application/json')) {
    const m = classify(safeParse(await readCapped(up.body, MAX_REFRESH_BYTES)));
    return m?.kind === 'response' && m.id === id ? m.raw : undefined;
  }
  let found: Record<string, unknown> | undefined;
  await pumpSse(up.body, MAX_REFRESH_BYTES, async (e) => {
    const m = classify(safeParse(e.data));
    if (m?.kind === 'response' && m.id === id) found = m.raw;
  });
  return found;
}

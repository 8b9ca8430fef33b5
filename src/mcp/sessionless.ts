import type { Dispatcher } from 'undici';
import { GatewayError } from '../core/errors.ts';
import { FIRST_MODERN_VERSION, LEGACY_VERSIONS, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_PROTOCOL_VERSION } from './modern.ts';
import { readAnswer } from './relay.ts';
import type { McpUpstream } from './upstream.ts';

const GATEWAY_INFO = { name: 'portcullis-gateway', version: '1' };
const HANDSHAKE_TIMEOUT_MS = 30_000;
/** Gateway-held upstream sessions kept at most; the oldest is ended first. */
const MAX_SESSIONS = 10_000;
/**
 * How long a server's era is trusted before the next request probes it again: a server upgraded to 2026-07-28 (or
 * rolled back from it) is spoken to in its new era within this time, without a gateway restart.
 */
const ERA_TTL_MS = 5 * 60_000;

type UpstreamEra = 'modern' | 'legacy';

export interface HeldSession {
  id: string | undefined;
  version: string;
  init: Record<string, unknown>;
}

/**
 * The upstream side of 2026-07-28 callers (docs/mcp.md#sessionless-revision-2026-07-28). A server that answers
 * `server/discover` with 2026-07-28 gets the caller's requests sessionless, as they are. A server that does not
 * (a 2025-era server) gets them through a session the gateway opens for it — one per caller and server, created on
 * the caller's first request, re-created when the server forgets it (404) — with the `initialize` the caller never
 * sent. The gateway declares no client capabilities there: a sessionless caller has no stream a server request
 * could reach, so servers do not send sampling, elicitation or roots requests into these sessions.
 */
export class SessionlessUpstreams {
  readonly #eras = new Map<string, { era: Promise<UpstreamEra>; at: number }>();
  /** Per `server\0subject`: the held session and the upstream it is held with (ended there, never elsewhere). */
  readonly #sessions = new Map<string, { upstream: McpUpstream; held: Promise<HeldSession> }>();
  readonly #now: () => number;
  readonly #eraTtlMs: number;
  readonly #maxSessions: number;

  constructor(o: { now?: () => number; eraTtlMs?: number; maxSessions?: number } = {}) {
    this.#now = o.now ?? Date.now;
    this.#eraTtlMs = o.eraTtlMs ?? ERA_TTL_MS;
    this.#maxSessions = o.maxSessions ?? MAX_SESSIONS;
  }

  /**
   * Whether `upstream` speaks 2026-07-28: probed with `server/discover`, remembered for ERA_TTL_MS (a failed probe
   * is not remembered). Requests meanwhile share one probe. A server found to have left the 2025 era gets its
   * gateway-held sessions ended.
   */
  era(upstream: McpUpstream): Promise<UpstreamEra> {
    // stdio and 2024-11-05 SSE servers sit behind the bridge, which speaks the session-based revisions only.
    if (upstream.transport !== 'streamable-http') return Promise.resolve('legacy');
    const now = this.#now();
    const known = this.#eras.get(upstream.name);
    if (known && now - known.at < this.#eraTtlMs) return known.era;
    const era = probe(upstream);
    const entry = { era, at: now };
    this.#eras.set(upstream.name, entry);
    era.then((e) => {
      if (e === 'modern') this.#endSessions(upstream);
    }, () => {
      if (this.#eras.get(upstream.name) === entry) this.#eras.delete(upstream.name);
    });
    return era;
  }

  /** The caller's gateway-held session with a 2025-era `upstream` (opened on first use). */
  session(upstream: McpUpstream, subject: string): Promise<HeldSession> {
    const key = `${upstream.name}\0${subject}`;
    let entry = this.#sessions.get(key);
    if (!entry) {
      if (this.#sessions.size >= this.#maxSessions) this.#evictOldest();
      entry = { upstream, held: open(upstream) };
      this.#sessions.set(key, entry);
      const opened = entry;
      opened.held.catch(() => {
        if (this.#sessions.get(key) === opened) this.#sessions.delete(key);
      });
    }
    return entry.held;
  }

  /** The server answered 404 for this session: forget it, so the next request opens a new one. */
  forget(upstream: McpUpstream, subject: string, held: HeldSession): void {
    const key = `${upstream.name}\0${subject}`;
    const entry = this.#sessions.get(key);
    void entry?.held.then((s) => {
      if (s === held && this.#sessions.get(key) === entry) this.#sessions.delete(key);
    }, () => undefined);
  }

  /** Ends the gateway-held sessions with `upstream` (it now speaks 2026-07-28: they would only sit idle). */
  #endSessions(upstream: McpUpstream): void {
    const prefix = `${upstream.name}\0`;
    for (const [key, entry] of this.#sessions) {
      if (!key.startsWith(prefix)) continue;
      this.#sessions.delete(key);
      void entry.held.then((s) => end(entry.upstream, s), () => undefined);
    }
  }

  /** Ends the session held longest, with the server it was held with. */
  #evictOldest(): void {
    const [key, entry] = this.#sessions.entries().next().value as [string, { upstream: McpUpstream; held: Promise<HeldSession> }];
    this.#sessions.delete(key);
    void entry.held.then((s) => end(entry.upstream, s), () => undefined);
  }
}

async function probe(upstream: McpUpstream): Promise<'modern' | 'legacy'> {
  const id = 'portcullis-discover';
  const meta = { [META_PROTOCOL_VERSION]: FIRST_MODERN_VERSION, [META_CLIENT_INFO]: GATEWAY_INFO, [META_CLIENT_CAPABILITIES]: {} };
  const up = await post(upstream, { jsonrpc: '2.0', id, method: 'server/discover', params: { _meta: meta } }, { 'mcp-protocol-version': FIRST_MODERN_VERSION, 'mcp-method': 'server/discover' });
  if (up.statusCode === 401 || up.statusCode === 403) {
    await up.body.dump();
    throw new GatewayError('upstream_error', `MCP server "${upstream.name}" refused the gateway's credential.`);
  }
  if (up.statusCode >= 500) {
    await up.body.dump();
    throw new GatewayError('upstream_unavailable', `MCP server "${upstream.name}" failed (HTTP ${up.statusCode}).`);
  }
  const answer = await readAnswer(up, id);
  const versions = (answer?.result as { supportedVersions?: unknown } | undefined)?.supportedVersions;
  return Array.isArray(versions) && versions.includes(FIRST_MODERN_VERSION) ? 'modern' : 'legacy';
}

async function open(upstream: McpUpstream): Promise<HeldSession> {
  const id = 'portcullis-initialize';
  const up = await post(upstream, {
    jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: LEGACY_VERSIONS[0], capabilities: {}, clientInfo: GATEWAY_INFO },
  }, { 'mcp-protocol-version': LEGACY_VERSIONS[0] });
  const sid = up.headers['mcp-session-id'];
  const answer = await readAnswer(up, id);
  const init = answer?.result as Record<string, unknown> | undefined;
  if (!init || typeof init.protocolVersion !== 'string') {
    throw new GatewayError('upstream_unavailable', `MCP server "${upstream.name}" did not accept the gateway's initialize (HTTP ${up.statusCode}).`);
  }
  const held: HeldSession = { id: typeof sid === 'string' ? sid : undefined, version: init.protocolVersion, init };
  const done = await post(upstream, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-protocol-version': held.version }, held.id);
  await done.body.dump();
  return held;
}

function end(upstream: McpUpstream, s: HeldSession): void {
  if (s.id === undefined) return;
  upstream.request({ method: 'DELETE', incoming: {}, headers: { 'mcp-protocol-version': s.version }, sessionId: s.id, signal: AbortSignal.timeout(HANDSHAKE_TIMEOUT_MS) })
    .then((r) => r.body.dump(), () => undefined);
}

function post(upstream: McpUpstream, body: Record<string, unknown>, headers: Record<string, string>, sessionId?: string): Promise<Dispatcher.ResponseData> {
  return upstream.request({
    method: 'POST', incoming: {}, sessionId, body: Buffer.from(JSON.stringify(body)), signal: AbortSignal.timeout(HANDSHAKE_TIMEOUT_MS),
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
  });
}

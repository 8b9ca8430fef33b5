import type { ExchangeRecording } from '../audit/recorder.ts';
import type { Direction } from '../core/findings.ts';
import { errorName } from '../core/logger.ts';
import { mcpVersionOf, type McpVersion } from '../governance/mcp-version.ts';
import { scanJson, type ScanResult } from './content.ts';
import { refuse, type McpDeps } from './http.ts';
import { rpcError, RPC, type JsonRpcId, type McpMessage } from './jsonrpc.ts';
import { GATEWAY_INCOMING, type Exchange } from './relay.ts';
import { gatewayRequest } from './sessionless-forward.ts';
import { exchangeConversation, McpTokens } from './tokens.ts';

type ServerRequest = Extract<McpMessage, { kind: 'request' }>;
type Answer = Extract<McpMessage, { kind: 'response' }>;

/**
 * Server-initiated sampling and elicitation are refused by default (docs/mcp.md): a server must not get to run
 * the agent's model or question its user through the gateway unless an `mcp:` rule names the method for it.
 */
export const GOVERNED_SERVER_REQUESTS: ReadonlySet<string> = new Set(['sampling/createMessage', 'elicitation/create']);

interface Relayed {
  method: string;
  at: number;
  /** The call whose stream carried the request (its record gets the answer as an event), if any. */
  recording: ExchangeRecording | undefined;
  mono0: number;
}

/**
 * Sampling and elicitation requests relayed to an agent and not yet answered, per server, upstream session and
 * caller: the agent's answer is scanned on its way to the server only when it answers one of these (any other
 * answer — `roots/list`, `ping` — passes as before). Fails closed: when full, a new request is refused rather than an
 * older one forgotten (a forgotten one's answer would pass unscanned), and an answer that comes after the entry
 * expired is withheld. A sessionless server may reuse an id across callers: entries with one key queue up.
 */
export class ServerRequestLedger {
  readonly #entries = new Map<string, Relayed[]>();
  #size = 0;
  readonly #max: number;
  readonly #ttlMs: number;

  constructor(o: { max?: number; ttlMs?: number } = {}) {
    this.#max = o.max ?? 10_000;
    this.#ttlMs = o.ttlMs ?? 60 * 60_000;
  }

  /** False when the ledger is full of live entries: the request must be refused. */
  add(k: LedgerKey, r: Relayed): boolean {
    if (this.#size >= this.#max) this.#purge(r.at);
    if (this.#size >= this.#max) return false;
    const id = key(k);
    this.#entries.set(id, [...(this.#entries.get(id) ?? []), r]);
    this.#size++;
    return true;
  }

  /** The relayed request this answer is for; `expired` when it came too late; undefined: not one of them. */
  take(k: LedgerKey, now: number): Relayed | 'expired' | undefined {
    const id = key(k);
    const queue = this.#entries.get(id);
    const r = queue?.[0];
    if (!queue || !r) return undefined;
    if (queue.length > 1) this.#entries.set(id, queue.slice(1));
    else this.#entries.delete(id);
    this.#size--;
    return now - r.at <= this.#ttlMs ? r : 'expired';
  }

  #purge(now: number): void {
    for (const [id, queue] of this.#entries) {
      const live = queue.filter((r) => now - r.at <= this.#ttlMs);
      this.#size -= queue.length - live.length;
      if (live.length > 0) this.#entries.set(id, live);
      else this.#entries.delete(id);
    }
  }
}

interface LedgerKey {
  server: string;
  session: string | undefined;
  subject: string;
  id: JsonRpcId;
}

function key(k: LedgerKey): string {
  return `${k.server}\0${k.session ?? ''}\0${k.subject}\0${typeof k.id}:${String(k.id)}`;
}

const ledgerKey = (ex: Exchange, id: JsonRpcId): LedgerKey => ({ server: ex.server, session: ex.upstreamSession, subject: ex.principal.subject, id });

/** The caller's policy on a server's sampling or elicitation request; undefined without a policy (refused). */
export function serverRequestDecision(d: McpDeps, ex: Exchange, method: string): ReturnType<McpVersion['engine']['serverRequest']> | undefined {
  return ex.version === 'open' ? undefined : ex.version.engine.serverRequest({
    principal: { subject: ex.principal.subject, kind: ex.principal.kind, groups: ex.principal.groups, claims: ex.principal.claims }, server: ex.server, method,
    context: { now: d.clock.now(), clientIp: undefined, userAgent: ex.req.headers['user-agent'] }, findings: [],
  });
}

/**
 * A sampling or elicitation request of the server, as the agent may get it: refused (the server is answered with
 * an error, the agent never sees it) unless the caller's policy allows the method for this server; allowed, its
 * messages go through the detectors towards the agent (`direction: response`): `tokenize` hides values from the
 * agent and its model under placeholders the server gets back in the answer; a `block` finding refuses it.
 * Returns the message to relay, or undefined when refused.
 */
export async function relayServerRequest(d: McpDeps, ex: Exchange, m: ServerRequest, rec: ExchangeRecording | undefined): Promise<string | undefined> {
  const t = d.clock.mono() - ex.mono0;
  const decision = serverRequestDecision(d, ex, m.method);
  const version = ex.version;
  let scanned: ScanResult | undefined;
  if (decision?.effect === 'allow' && version !== 'open') {
    try {
      scanned = await scanWithTokens(d, ex, version, 'response', m.params ?? {}, 'params');
    } catch (err) {
      d.logger.error({ event: 'mcp_token_vault_failed', exchange_id: ex.id, error_name: errorName(err) });
    }
  }
  const noted = decision?.effect === 'allow' && scanned && !scanned.blocked
    && (d.serverRequests?.add(ledgerKey(ex, m.id), { method: m.method, at: d.clock.now(), recording: rec, mono0: ex.mono0 }) ?? false);
  if (!decision || decision.effect !== 'allow' || !scanned || scanned.blocked || !noted) {
    answerServer(d, ex, m.id, `The gateway does not allow ${m.method} from MCP servers.`, 'server_request_denied');
    rec?.event(t, 'portcullis.denied_server_request', JSON.stringify({ method: m.method, findings: scanned?.findings ?? [] }), JSON.stringify(m.raw));
    return undefined;
  }
  rec?.event(t, 'portcullis.allowed_server_request', JSON.stringify({ method: m.method, rules: decision.matchedRuleIds, findings: scanned.findings }), JSON.stringify(m.raw));
  return JSON.stringify(scanned.changed ? { ...m.raw, params: scanned.value } : m.raw);
}

/**
 * The agent's answer to a sampling or elicitation request the gateway relayed, on its way to the server: the
 * model's completion or the user's input go through the detectors (`direction: request`, as tool arguments do —
 * placeholders the request hid from the agent restored first), `mask`/`redact` rewrite it, a `block` finding
 * withholds it (the server gets an error for its request, the agent a `content_blocked` refusal: fail closed).
 * Recorded as an event of the call that carried the request. Returns the body to forward, or undefined when the
 * gateway has answered itself. Any other answer is forwarded unchanged.
 */
export async function governServerRequestAnswer(d: McpDeps, ex: Exchange, m: Answer, raw: Buffer): Promise<Buffer | undefined> {
  const relayed = m.id === null ? undefined : d.serverRequests?.take(ledgerKey(ex, m.id), d.clock.now());
  if (!relayed || m.id === null) return raw;
  if (relayed === 'expired') {
    answerServer(d, ex, m.id, 'The gateway withheld an answer that came too late.', 'content_blocked');
    refuse(ex.res, 403, null, 'content_blocked', 'The answer came after the gateway stopped waiting for it; it was not forwarded.');
    return undefined;
  }
  const version = mcpVersionOf(d.guard());
  const part = 'result' in m.raw ? 'result' : 'error';
  let scanned: ScanResult | undefined;
  if (version !== 'unavailable' && version !== 'open') {
    try {
      scanned = await scanWithTokens(d, ex, version, 'request', m.raw[part], part);
    } catch (err) {
      d.logger.error({ event: 'mcp_token_vault_failed', exchange_id: ex.id, error_name: errorName(err) });
    }
  }
  const blocked = version === 'unavailable' || (version !== 'open' && (!scanned || scanned.blocked !== undefined));
  const out = scanned?.changed ? { ...m.raw, [part]: scanned.value } : m.raw;
  relayed.recording?.event(d.clock.mono() - relayed.mono0, 'portcullis.server_request_answer', JSON.stringify({ method: relayed.method, outcome: blocked ? 'blocked' : 'forwarded', findings: scanned?.findings ?? [] }), JSON.stringify(m.raw));
  d.logger.info({ event: 'mcp_server_request_answer', exchange_id: ex.id, provider: `mcp:${ex.server}`, reason: blocked ? 'blocked' : 'forwarded', count: scanned?.findings.length ?? 0 });
  if (blocked) {
    answerServer(d, ex, m.id, `The gateway withheld the answer to ${relayed.method}.`, 'content_blocked');
    refuse(ex.res, 403, null, 'content_blocked', scanned?.blocked?.publicMessage ?? `The answer to ${relayed.method} could not be checked; it was not forwarded.`);
    return undefined;
  }
  return out === m.raw ? raw : Buffer.from(JSON.stringify(out));
}

/** The detectors over `value`, with the caller's placeholders (tokens.ts) when a rule tokenizes: minted ones stored first. */
async function scanWithTokens(d: McpDeps, ex: Exchange, version: McpVersion, direction: Direction, value: unknown, root: string): Promise<ScanResult> {
  if (!version.content?.tokenizes || !version.vault) return direction === 'request' ? scanAnswer(version.content, value, root, undefined) : scanJson(version.content, direction, value, root);
  const conversation = exchangeConversation(d.tokenScope, ex);
  const { result } = await McpTokens.decide(version.vault, conversation, (t) => direction === 'request' ? scanAnswer(version.content, value, root, t) : scanJson(version.content, direction, value, root, t.tokenizer));
  return result;
}

/**
 * The agent's answer to a server's sampling or elicitation request as the server may get it — a session-based
 * answer (above) or a 2026-07-28 `inputResponses` entry (input-responses.ts): the placeholders the request hid from
 * the agent restored first (as in tool arguments, decide.ts), then the detectors (`direction: request`).
 */
export function scanAnswer(content: McpVersion['content'], value: unknown, root: string, tokens: McpTokens | undefined): ScanResult {
  const restored = tokens?.restore(value, root);
  const input = restored?.value ?? value;
  const scan = scanJson(content, 'request', input, root, tokens?.tokenizer);
  return { ...scan, changed: scan.changed || input !== value, findings: [...(restored?.findings ?? []), ...scan.findings] };
}

/** Answers the server's request with an error, in the same session, so the server is not left waiting. */
export function answerServer(d: McpDeps, ex: Exchange, id: JsonRpcId, message: string, code: string): void {
  // In the caller's own upstream session, or the gateway-held one of a sessionless caller (sessionless-forward.ts).
  gatewayRequest(d, ex, rpcError(id, RPC.refused, message, { portcullis: { code } }))
    .then((g) => ex.upstream.request({ method: 'POST', incoming: GATEWAY_INCOMING, headers: g.headers, sessionId: g.sessionId, body: Buffer.from(JSON.stringify(g.body)), signal: AbortSignal.timeout(30_000) }))
    .then((r) => r.body.dump())
    .catch(() => d.logger.warn({ event: 'mcp_server_request_denial_failed', provider: `mcp:${ex.server}` }));
}

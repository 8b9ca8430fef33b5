import { createHmac } from 'node:crypto';
import type { Keyring } from '../crypto/keyring.ts';
import type { ExchangeFinish, ExchangeStart, SessionHint } from '../store/ports.ts';
import { sha256Hex, type Json } from './chain.ts';
import type { ExchangeObserver } from './exchange-observer.ts';
import type { AuditLog } from './log.ts';
import { openBody } from './recording.ts';
import type { AuditRepo, BodyDigests } from './repo.ts';

export interface AuditObserverOptions {
  log: AuditLog;
  repo: AuditRepo;
  keyring: Keyring;
  /** Exchanges of one identity + client further apart than this start a new session (no explicit session id). */
  sessionGapMs: number;
  /** Largest client body decrypted to look for a session id (metadata / user fields). */
  maxSessionScanBytes?: number;
}

/**
 * Appends `exchange.started` (awaited before the request goes upstream: no chain entry, no request) and
 * `exchange.finished` to the hash chain, with the SHA-256 of the sealed bodies as stored — so purging a body later
 * leaves the trail verifiable. Assigns the exchange to a session for `portcullis sessions` with the finish (grouping
 * is not needed before the request goes upstream).
 */
export function createAuditObserver(o: AuditObserverOptions): ExchangeObserver {
  const maxScan = o.maxSessionScanBytes ?? 256 * 1024;
  return {
    name: 'audit-chain',
    async onStart(start) {
      // The sealed request bodies are in hand: their digests need not be read back from the store.
      const m = start.messages;
      const bodies: BodyDigests = {
        client_request: digestOf(start.clientRequest),
        ...(m ? { messages: { scope: m.scope, added: m.added.map((a): [string, string] => [a.ref, sha256Hex(a.sealed)]) } } : {}),
        upstream_request: digestOf(start.upstreamRequest),
      };
      await o.log.append({ kind: 'exchange.started', subject: start.subject, refId: start.id, payload: startPayload(start) }, { id: start.id, phase: 'start', bodies });
    },
    async onFinish(start, finish) {
      // The session is assigned with the finish, off the path before upstream (it only groups exchanges for replay).
      const session = assignSession(o, start, maxScan);
      // Without stream events there are no segments, and the sealed response is in hand; a stream's segments were
      // written along the way, so the store digests what it holds.
      const bodies = finish.eventCount === 0 ? { response: digestOf(finish.response), segments: [] } : undefined;
      const entry = o.log.append({ kind: 'exchange.finished', subject: start.subject, refId: start.id, payload: finishPayload(finish) }, { id: start.id, phase: 'finish', bodies });
      await Promise.all([session, entry]);
    },
  };
}

const digestOf = (sealed: Buffer | null): string | null => (sealed ? sha256Hex(sealed) : null);

function assignSession(o: AuditObserverOptions, start: ExchangeStart, maxScan: number): Promise<string> {
  const hint = sessionHint(start, o.keyring, maxScan);
  // Client-supplied ids are stored as keyed hashes: they group, but never reveal what the client sent.
  const mac = hint ? createHmac('sha256', o.keyring.key('audit')).update(`${start.subject ?? ''}\n${hint.key}`).digest('hex').slice(0, 32) : null;
  const explicit = hint !== undefined && !hint.source.endsWith('time-gap');
  return o.repo.assignSession({
    exchangeId: start.id, at: start.startedAt, subject: start.subject, client: explicit || !mac ? clientOf(start) : `${clientOf(start)}|${mac}`,
    key: explicit ? mac : null, source: hint?.source ?? 'time-gap', gapMs: o.sessionGapMs,
  });
}

// Keys in canonical (sorted) order, so canonicalJson takes its one-call fast path (src/core/canonical-json.ts).
function startPayload(s: ExchangeStart): { [k: string]: Json } {
  return {
    client_ip: s.clientIp, decision: (s.decision ?? null) as Json, endpoint: s.endpoint, findings: s.findings as Json, method: s.method,
    model: s.model, path: s.path, principal: (s.principal ?? null) as Json, provider: s.provider, started_at: s.startedAt, stream: s.stream,
    upstream_model: s.upstreamModel, user_agent: s.userAgent,
  };
}

function finishPayload(f: ExchangeFinish): { [k: string]: Json } {
  const t = f.timings;
  const u = f.usage;
  return {
    error_code: f.errorCode, event_count: f.eventCount, finished_at: f.finishedAt, forwarded: f.forwarded, http_status: f.httpStatus,
    response_findings: f.responseFindings as Json, status: f.status,
    timings: { clientFirstByteMs: t.clientFirstByteMs, totalMs: t.totalMs, upstreamFirstByteMs: t.upstreamFirstByteMs },
    usage: { inputTokens: u.inputTokens, outputTokens: u.outputTokens, totalTokens: u.totalTokens },
  };
}

function clientOf(s: ExchangeStart): string {
  const ua = s.userAgent?.split(' ')[0] ?? '';
  const cred = typeof s.principal?.credentialId === 'string' ? s.principal.credentialId : '';
  return `${cred}|${ua}`.slice(0, 200);
}

/**
 * The client's own conversation id, in order of preference: the `x-portcullis-session` header; a conversation or
 * session id in `metadata` (OpenAI Responses/Chat `metadata`, Anthropic `metadata.user_id`, which Claude clients fill
 * with a per-session value); the Responses API `conversation`. OpenAI's `user` names an end user, not a conversation,
 * so it only narrows the time-gap grouping. The gateway computes it from the body it already parsed
 * (`ExchangeStart.sessionHint`); only records without one (other writers) are decrypted and parsed here.
 */
export function sessionHint(start: ExchangeStart, keyring: Keyring, maxScan: number): SessionHint | undefined {
  if (start.sessionHint !== undefined) return start.sessionHint ?? undefined;
  if (!start.clientRequest || start.clientRequest.length > maxScan + 64) return undefined;
  try {
    return sessionHintOf(JSON.parse(openBody(keyring, start.id, 'client_request', start.clientRequest).toString('utf8')), undefined);
  } catch {
    return undefined;
  }
}

/** The header a client names its session with (also the conversation of deduplicated recording). */
export const SESSION_HEADER = 'x-portcullis-session';

export function sessionHintOf(body: unknown, header: string | undefined): SessionHint | undefined {
  if (header) return { key: header, source: 'header' };
  if (!body || typeof body !== 'object') return undefined;
  const b = body as Record<string, unknown>;
  const meta = b.metadata && typeof b.metadata === 'object' ? (b.metadata as Record<string, unknown>) : {};
  for (const f of ['session_id', 'conversation_id', 'thread_id', 'user_id']) {
    const v = meta[f];
    if (typeof v === 'string' && v.length > 0) return { key: `${f}:${v}`, source: `metadata.${f}` };
  }
  const conv = typeof b.conversation === 'string' ? b.conversation : (b.conversation as { id?: unknown } | undefined)?.id;
  if (typeof conv === 'string') return { key: `conversation:${conv}`, source: 'conversation' };
  if (typeof b.user === 'string' && b.user.length > 0) return { key: `user:${b.user}`, source: 'user+time-gap' };
  return undefined;
}

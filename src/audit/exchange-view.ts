import { withPublicNames } from '../core/public-names.ts';
import type { Keyring } from '../crypto/keyring.ts';
import type { ExchangeRow, Store } from '../store/ports.ts';
import { correlationOf } from './correlation.ts';
import { openBody, openRecordedBody, openSegments, type BodyPart } from './recording.ts';

/**
 * The exchange as shown by the admin API and the CLI: metadata always; bodies only in the detail view, which
 * decrypts them (viewing bodies is limited to auditor/admin roles by the callers). Every key is snake_case, nested
 * records too (src/core/public-names.ts); the stored row keeps its own names. Bodies are shown as recorded.
 */
export function exchangeSummary(r: ExchangeRow): Record<string, unknown> {
  return {
    id: r.id,
    started_at: new Date(r.startedAt).toISOString(),
    finished_at: r.finishedAt ? new Date(r.finishedAt).toISOString() : null,
    subject: r.subject,
    principal: withPublicNames(r.principal),
    endpoint: r.endpoint,
    method: r.method,
    path: r.path,
    model: r.model,
    provider: r.provider,
    upstream_model: r.upstreamModel,
    stream: r.stream,
    status: r.status,
    forwarded: forwardedOf(r),
    http_status: r.httpStatus ?? null,
    error_code: r.errorCode ?? null,
    timings: withPublicNames(r.timings ?? null),
    usage: withPublicNames(r.usage ?? null),
    event_count: r.eventCount ?? null,
    client_ip: r.clientIp,
    user_agent: r.userAgent,
    ...exchangeDecisionView(r),
    correlation: correlationOf(r.decision),
  };
}


/** What decided an exchange (`exchanges explain --json` and inside every exchange view): decision and findings. */
export function exchangeDecisionView(r: ExchangeRow): { decision: unknown; findings: unknown[]; response_findings: unknown[] } {
  return { decision: withPublicNames(r.decision), findings: withPublicNames(r.findings), response_findings: withPublicNames(r.responseFindings ?? []) };
}

export async function exchangeDetail(store: Store, keyring: Keyring, id: string): Promise<Record<string, unknown> | undefined> {
  const row = await store.exchanges.get(id);
  if (!row) return undefined;
  const bodies = await store.exchanges.bodies(id);
  const decode = (part: BodyPart, sealed: Buffer | null | undefined): unknown => (sealed ? asJsonOrText(openBody(keyring, id, part, sealed)) : null);
  // Requests may be skeletons of deduplicated messages: read with their messages spliced back in (exact bytes).
  const request = async (part: BodyPart, sealed: Buffer | null | undefined): Promise<unknown> =>
    (sealed ? asJsonOrText(await openRecordedBody(keyring, store.exchanges, id, part, sealed)) : null);
  const clientRequest = await request('client_request', bodies?.clientRequest);
  const forwarded = forwardedOf(row);
  // A stored upstream body is what the gateway sent (or, not yet finished, is sending); none stored = the client's
  // bytes unchanged — but only for an exchange that went out: a refused one shows no upstream body at all.
  const changed = forwarded !== false && Boolean(bodies?.upstreamRequest);
  return {
    ...exchangeSummary(row),
    client_request: clientRequest,
    upstream_request: changed ? await request('upstream_request', bodies?.upstreamRequest) : forwarded === true ? clientRequest : null,
    upstream_request_modified: changed,
    response: decode('response', bodies?.response),
    events: bodies ? openSegments(keyring, id, bodies.segments).map(([t, event, data, upstreamData]) => ({ t_ms: t, event, data, ...(upstreamData !== undefined ? { upstream_data: upstreamData } : {}) })) : [],
  };
}

/**
 * Whether the request was sent to the provider: the recorded flag; for a row without it (not finished, or recorded
 * before the flag existed) a `rejected` exchange was never sent, one the provider answered was, anything else is
 * unknown (null) — a view never claims a sending it cannot show.
 */
export function forwardedOf(r: Pick<ExchangeRow, 'forwarded' | 'status'>): boolean | null {
  if (r.forwarded !== null && r.forwarded !== undefined) return r.forwarded;
  if (r.status === 'rejected') return false;
  return r.status === 'completed' || r.status === 'upstream_error' ? true : null;
}

/** The one sentence every human view (CLI show, replay, console) uses for what the provider received. */
export function providerReceived(d: { forwarded?: unknown; upstream_request_modified?: unknown }): 'changed' | 'same' | 'not_sent' | 'unknown' {
  if (d.forwarded === false) return 'not_sent';
  if (d.forwarded !== true) return d.upstream_request_modified === true ? 'changed' : 'unknown';
  return d.upstream_request_modified === true ? 'changed' : 'same';
}

export const PROVIDER_RECEIVED_TEXT = {
  changed: 'provider received (changed by the gateway):',
  same: 'provider received: the same bytes',
  not_sent: 'provider received: nothing (not sent to the provider)',
  unknown: 'provider received: unknown (the exchange did not finish)',
} as const;

function asJsonOrText(buf: Buffer): unknown {
  const text = buf.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

import type { ExchangeFinish, ExchangeStart } from '../store/ports.ts';
import { CLASS, SEVERITY, baseEvent, user, type OcsfEvent, type ProductInfo, type Severity, type Status } from './ocsf-base.ts';
import { correlationOf } from '../audit/correlation.ts';
import { safeDisplayName, safeIdent, safeIdents, safeIp, safeName, safeNames, safePath, safeUserAgent, type FieldHasher } from '../core/sanitize.ts';

/**
 * One exchange → one OCSF API Activity (6003) event when it ends. Only metadata: identity, decision, rule ids,
 * finding types and counts, model, usage, timings. Client-controlled strings (model, user agent, error codes,
 * finding types, request path) pass the sanitizer; bodies, finding values, finding paths and reason details are
 * never read.
 */
export interface MapContext {
  product: ProductInfo;
  hasher: FieldHasher;
}

const MODIFYING: ReadonlySet<unknown> = new Set(['mask', 'redact', 'tokenize']);
const ACTIONS: ReadonlySet<unknown> = new Set(['flag', 'mask', 'redact', 'tokenize', 'block']);

export function exchangeEventId(exchangeId: string): string {
  // Derived from the exchange id so a re-emission after a crash de-duplicates in the outbox and at the receiver.
  return `evt_${exchangeId}`;
}

export function exchangeEventCode(start: ExchangeStart, fin: ExchangeFinish): string {
  const effect = typeof start.decision?.effect === 'string' ? start.decision.effect : undefined;
  // Observe mode records a deny without enforcing it: the exchange went through, so it was not blocked.
  const enforcedDeny = effect === 'deny' && start.decision?.enforced !== false;
  if (fin.status === 'rejected' || enforcedDeny) return 'exchange.blocked';
  if (fin.status !== 'completed') return `exchange.${fin.status}`;
  return [...start.findings, ...fin.responseFindings].some((f) => MODIFYING.has(f.action)) ? 'exchange.masked' : 'exchange.completed';
}

export function mapExchange(start: ExchangeStart, fin: ExchangeFinish, c: MapContext): OcsfEvent {
  const h = c.hasher;
  const code = exchangeEventCode(start, fin);
  const p = start.principal ?? {};
  const ua = safeUserAgent(start.userAgent, h);
  const blocked = code === 'exchange.blocked';
  const masked = code === 'exchange.masked';
  const status: Status = fin.status === 'completed' ? 'success' : 'failure';
  const requestFindings = findingSummary(start.findings, h);
  const responseFindings = findingSummary(fin.responseFindings, h);
  const anyFinding = requestFindings.total + responseFindings.total > 0;
  const severity: Severity = blocked ? SEVERITY.medium : masked || anyFinding || status === 'failure' ? SEVERITY.low : SEVERITY.informational;
  const provider = safeIdent(start.provider, h);
  return baseEvent(
    {
      uid: exchangeEventId(start.id), code, time: fin.finishedAt, cls: CLASS.apiActivity,
      activity: start.method === 'GET' ? [2, 'Read'] : [1, 'Create'],
      severity, status, statusDetail: safeIdent(fin.errorCode, h), product: c.product, correlationUid: start.id,
      message: `${code} ${start.endpoint}`,
    },
    {
      start_time: start.startedAt,
      end_time: fin.finishedAt,
      duration: fin.timings.totalMs ?? undefined,
      action_id: blocked ? 2 : 1,
      action: blocked ? 'Denied' : 'Allowed',
      // OCSF disposition: 1 Allowed, 2 Blocked, 11 Corrected (content was masked/redacted/tokenized).
      disposition_id: blocked ? 2 : masked ? 11 : 1,
      disposition: blocked ? 'Blocked' : masked ? 'Corrected' : 'Allowed',
      actor: {
        user: user({
          uid: safeName(start.subject, h), name: safeDisplayName(p.displayName, h), type: safeName(p.kind, h),
          groups: safeNames(p.groups, h), credentialUid: safeName(p.credentialId, h),
        }),
      },
      src_endpoint: start.clientIp ? { ip: safeIp(start.clientIp) } : undefined,
      http_request: { http_method: safeIdent(start.method, h), url: { path: safePath(start.path, h) }, user_agent: ua?.name || undefined },
      api: {
        operation: safeIdent(start.endpoint, h),
        service: provider ? { name: provider } : undefined,
        request: { uid: start.id },
        response: { code: fin.httpStatus ?? undefined, error: safeIdent(fin.errorCode, h) },
      },
      unmapped: {
        portcullis: {
          exchange_id: start.id,
          exchange_status: fin.status,
          // Whether the request was handed to the provider (false for a refusal: nothing was sent; issue #11 item 11).
          forwarded: fin.forwarded ?? undefined,
          endpoint: safeIdent(start.endpoint, h),
          model: safeIdent(start.model, h),
          provider,
          upstream_model: safeIdent(start.upstreamModel, h),
          stream: start.stream,
          decision: decisionSummary(start.decision, h),
          // An MCP tool call linked to the model answer that asked for it (docs/mcp.md#correlation).
          correlation: correlationSummary(start.decision, h),
          findings: { request: requestFindings.byType, response: responseFindings.byType, actions: actionCounts([...start.findings, ...fin.responseFindings]) },
          usage: { input_tokens: fin.usage.inputTokens ?? undefined, output_tokens: fin.usage.outputTokens ?? undefined, total_tokens: fin.usage.totalTokens ?? undefined },
          timings: {
            upstream_first_byte_ms: fin.timings.upstreamFirstByteMs ?? undefined,
            client_first_byte_ms: fin.timings.clientFirstByteMs ?? undefined,
            total_ms: fin.timings.totalMs ?? undefined,
          },
          stream_events: fin.eventCount,
          user_agent_hash: ua?.hash,
        },
      },
    },
  );
}

function decisionSummary(d: Record<string, unknown> | null, h: FieldHasher): Record<string, unknown> | undefined {
  if (!d) return undefined;
  const reasons = Array.isArray(d.reasons) ? (d.reasons as unknown[]) : [];
  return {
    id: safeName(d.decisionId, h),
    effect: safeIdent(d.effect, h),
    enforced: typeof d.enforced === 'boolean' ? d.enforced : undefined,
    policy_version: safeName(d.policyVersion, h),
    sensitivity: safeIdent(d.sensitivity, h),
    // Reason codes and rule ids only: a reason's free-text `detail` may quote the request.
    reasons: safeIdents(reasons.map((r) => (r !== null && typeof r === 'object' ? (r as { code?: unknown }).code : undefined)), h),
    rule_ids: safeNames(d.matchedRuleIds, h),
    // Approvals: how the request got through (approved, window grant, break-glass) — break-glass is always flagged.
    approval_id: safeName(d.approvalId, h),
    approval_outcome: safeIdent(d.approvalOutcome, h),
    break_glass: d.breakGlass === true || d.approvalOutcome === 'break_glass' ? true : undefined,
    break_glass_refused: d.breakGlassRefused === true ? true : undefined,
  };
}

function correlationSummary(d: Record<string, unknown> | null, h: FieldHasher): Record<string, unknown> | undefined {
  const c = correlationOf(d);
  // The tool call id is the provider's text: it passes the sanitizer like every client-controlled string.
  return c ? { model_exchange_id: safeName(c.exchange_id, h), tool_call_id: safeName(c.tool_call_id, h) } : undefined;
}

function findingSummary(findings: readonly Record<string, unknown>[], h: FieldHasher): { total: number; byType: Record<string, number> } {
  const byType: Record<string, number> = {};
  for (const f of findings) {
    const t = safeIdent(f.type, h) ?? 'unknown';
    byType[t] = (byType[t] ?? 0) + 1;
  }
  return { total: findings.length, byType };
}

function actionCounts(findings: readonly Record<string, unknown>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of findings) {
    const a = ACTIONS.has(f.action) ? String(f.action) : 'other';
    out[a] = (out[a] ?? 0) + 1;
  }
  return out;
}

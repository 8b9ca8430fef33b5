import type { Clock } from '../core/clock.ts';
import { GatewayError } from '../core/errors.ts';
import { isTemplateInvocation } from '../policy/templates/invocation.ts';
import type { DecisionRecord, ExchangeContext } from '../proxy/context.ts';
import type { ApprovalRow } from './repo.ts';
import { approvalRequirementOf } from './rule.ts';
import type { ApprovalService } from './service.ts';
import { requestDigest } from './state.ts';

/** Headers a requester may send (the same on OpenAI and Anthropic requests; the body stays untouched). */
export const JUSTIFICATION_HEADER = 'x-portcullis-justification';
export const BREAK_GLASS_HEADER = 'x-portcullis-break-glass';
/** Optional: names the approval a retry relies on; a retry that does not match it is refused (digest mismatch). */
export const APPROVAL_ID_HEADER = 'x-portcullis-approval-id';

export interface ApprovalGateOptions {
  service: ApprovalService;
  clock: Clock;
  /** Longest a held request waits (capped further by the rule's pending expiry). */
  maxHoldMs: number;
  /** Interval of keep-alive calls while holding (SSE comments on streams). */
  keepAliveMs: number;
}

export interface CheckOptions {
  /** Called every `keepAliveMs` while a request is held (the pipeline writes `: waiting for approval`). */
  keepAlive?: () => void;
  /** Fires when the client goes away: the pending approval is cancelled. */
  signal?: AbortSignal;
}

export interface ApprovalGate {
  /** Returns when the request may proceed exactly as sent; otherwise throws a GatewayError for the caller's protocol. */
  check(ctx: ExchangeContext, decision: DecisionRecord, opts?: CheckOptions): Promise<void>;
}

function header(ctx: ExchangeContext, name: string): string | undefined {
  const v = ctx.headers[name];
  const s = (Array.isArray(v) ? v[0] : v)?.trim();
  return s ? s.slice(0, 1000) : undefined;
}

/**
 * The approvals step of the pipeline, called for a `require_approval` decision. Fails closed: a decision without
 * a valid requirement, a store error or a lapsed wait never lets the request through.
 */
export function createApprovalGate(o: ApprovalGateOptions): ApprovalGate {
  if (!(o.maxHoldMs > 0) || !(o.keepAliveMs > 0)) throw new TypeError('approval gate needs positive maxHoldMs and keepAliveMs');
  const { service } = o;

  const refuse = (row: ApprovalRow, code: 'approval_required' | 'approval_denied', message: string): GatewayError =>
    new GatewayError(code, `${message} Approval ${row.id}: ${service.link(row.id)}`, {
      headers: { 'x-portcullis-approval-id': row.id },
      details: { approval_id: row.id, approval_url: service.link(row.id), approval_state: row.state },
    });

  const done = (decision: DecisionRecord, row: ApprovalRow | undefined, how: string): void => {
    decision.approvalId = row?.id ?? null;
    decision.approvalOutcome = how;
    if (row?.breakGlass) decision.breakGlass = true;
  };

  async function hold(ctx: ExchangeContext, row: ApprovalRow, opts: CheckOptions): Promise<ApprovalRow> {
    const deadline = Math.min(row.expiresAt, o.clock.now() + o.maxHoldMs);
    const keepAlive = opts.keepAlive ?? (ctx.hold ? () => ctx.hold?.keepAlive() : undefined);
    const signal = opts.signal ?? ctx.hold?.signal;
    const r = await service.waitForDecision(row.id, { deadline, signal, keepAlive, keepAliveMs: o.keepAliveMs });
    if (r === 'aborted') {
      await service.cancel(row.id, ctx.principal.subject, 'client disconnected');
      throw refuse(row, 'approval_denied', 'The client went away; the approval was cancelled.');
    }
    if (r === 'closing') {
      throw new GatewayError('overloaded', `The gateway is restarting; approval ${row.id} stays pending. Send the identical request again.`, {
        headers: { 'x-portcullis-approval-id': row.id }, details: { approval_id: row.id, approval_url: service.link(row.id) },
      });
    }
    if (r === 'timeout') {
      const now = (await service.get(row.id)) ?? row;
      if (now.state === 'pending' && now.expiresAt > o.clock.now()) {
        // The hold limit is shorter than the pending expiry: stop waiting, keep the approval for a retry.
        throw refuse(now, 'approval_required', `No reviewer decided within ${Math.round(o.maxHoldMs / 1000)}s; the approval stays pending until it expires.`);
      }
      throw refuse(now.state === 'pending' ? { ...now, state: 'expired' } : now, 'approval_denied', 'The approval expired before a reviewer decided.');
    }
    return r;
  }

  async function settle(ctx: ExchangeContext, decision: DecisionRecord, row: ApprovalRow): Promise<void> {
    if (row.state === 'approved' && (await service.consume(row, ctx.principal.subject))) return done(decision, row, 'approved');
    if (row.state === 'denied') throw refuse(row, 'approval_denied', `The request was denied${row.reason ? `: ${row.reason}` : '.'}`);
    if (row.state === 'expired') throw refuse(row, 'approval_denied', 'The approval expired before a reviewer decided.');
    if (row.state === 'cancelled') throw refuse(row, 'approval_denied', 'The approval was cancelled.');
    throw refuse(row, 'approval_denied', 'This approval was already used.');
  }

  return {
    async check(ctx, decision, opts = {}) {
      const req = approvalRequirementOf(decision);
      if (!req) throw new GatewayError('evaluation_error', 'The policy asked for an approval but its rule could not be read; the request was not forwarded.');
      const { principal } = ctx;
      // Break-glass is honoured for members of the rule's break_glass_groups only. Anyone else is treated exactly
      // as if they had sent no header (justification, review), and the attempt is recorded: on the exchange's
      // decision always, and as `refused:break_glass_not_allowed` on the approval the request ends up on.
      const breakGlassAsked = header(ctx, BREAK_GLASS_HEADER);
      const mayBreakGlass = req.breakGlassGroups.some((g) => principal.groups.includes(g));
      const breakGlass = mayBreakGlass ? breakGlassAsked : undefined;
      const breakGlassRefused = breakGlassAsked !== undefined && !mayBreakGlass;
      if (breakGlassRefused) decision.breakGlassRefused = true;
      const noteRefusedBreakGlass = async (row: ApprovalRow): Promise<void> => {
        if (breakGlassRefused) await service.refused(row, principal.subject, 'break_glass_not_allowed');
      };
      const justification = header(ctx, JUSTIFICATION_HEADER) ?? null;
      if (req.justificationRequired && !justification && !breakGlass) {
        throw new GatewayError('approval_required', `This request needs approval (rule ${req.ruleId}) and a justification: send the ${JUSTIFICATION_HEADER} header.`, { status: 400 });
      }
      if (req.scope === 'window') {
        const grant = await service.activeGrant({ requester: principal.subject, ruleId: req.ruleId, model: ctx.model });
        if (grant) {
          await noteRefusedBreakGlass(grant);
          return done(decision, grant, 'window_grant');
        }
      }
      // A template invocation's prompt is in headers and the template store, not the client body: the approval binds
      // (and the approver reviews) the rendered prompt, so other variables or another template version need their own.
      const templated = isTemplateInvocation(ctx) && ctx.upstreamBody !== undefined;
      const reviewed = templated ? ctx.upstreamBody! : ctx.body;
      const digest = requestDigest({
        endpoint: ctx.endpoint.id, body: templated ? { client: ctx.body, rendered: ctx.upstreamBody } : ctx.body,
        subject: principal.subject, policyVersion: decision.policyVersion, ruleId: req.ruleId,
      });
      const open = (bg?: string) => service.open({
        requirement: req, principal, exchangeId: ctx.id, endpoint: ctx.endpoint.id, model: ctx.model, policyVersion: decision.policyVersion,
        decisionId: decision.decisionId, digest, body: reviewed, findings: ctx.findings, justification: justification ?? bg ?? null, breakGlass: bg,
      });
      if (breakGlass) {
        const row = await open(breakGlass);
        await service.consume(row, principal.subject);
        return done(decision, row, 'break_glass');
      }

      const claimed = header(ctx, APPROVAL_ID_HEADER);
      if (claimed) {
        const row = await service.get(claimed);
        if (!row || row.requester !== principal.subject || row.digest !== digest) {
          if (row) await service.refused(row, principal.subject, 'digest_mismatch');
          throw new GatewayError('approval_denied', 'The approval named in x-portcullis-approval-id does not cover this request (different request, identity or policy version).');
        }
      }
      const rows = await service.forDigest(digest, principal.subject);
      const latest = rows[0];
      if (latest && latest.state === 'approved') {
        await noteRefusedBreakGlass(latest);
        return settle(ctx, decision, latest);
      }
      if (latest && latest.state === 'executed' && latest.scope === 'request') await service.refused(latest, principal.subject, 'reuse');
      let row = latest && latest.state === 'pending' ? latest : undefined;
      if (claimed && row === undefined && latest) {
        await noteRefusedBreakGlass(latest);
        return settle(ctx, decision, latest);
      }
      row ??= await open();
      await noteRefusedBreakGlass(row);
      if (req.mode === 'deferred') {
        throw refuse(row, 'approval_required', `This request needs approval (rule ${req.ruleId}); send it again once approved.`);
      }
      return settle(ctx, decision, await hold(ctx, row, opts));
    },
  };
}

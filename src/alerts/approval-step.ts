import type { ApprovalGate } from '../approvals/gate.ts';
import type { ApprovalRequirement } from '../approvals/rule.ts';
import { GatewayError } from '../core/errors.ts';
import type { DecisionRecord, ExchangeContext } from '../proxy/context.ts';

/**
 * `respond: require_approval` on the data path (docs/alerts.md#automatic-response-suspension-or-approval): after the guard allowed a
 * request, an identity an alert rule responded to waits for a just-in-time approval through the approvals gate
 * (same service, approver groups, no self-approval, digest-bound retry, webhooks, API/CLI/console) — whichever key
 * or token it presents, since the requirement is keyed by the identity. It applies whatever the policy says (also
 * with no policy, or one in observe mode): it is the security team's response, not a policy decision. The gate
 * works on a copy of the decision so a policy approval the request already went through stays on the record; the
 * alert's approval is recorded beside it as `alertApproval`.
 */
export function alertApprovalStep(o: { gate: ApprovalGate; approvalFor(subject: string): ApprovalRequirement | undefined }) {
  return async (ctx: ExchangeContext): Promise<void> => {
    const requirement = o.approvalFor(ctx.principal.subject);
    if (!requirement) return;
    const recorded = ctx.decision;
    if (!recorded) throw new GatewayError('evaluation_error', 'The request could not be checked for the approval an alert rule requires; it was not forwarded.');
    const decision: DecisionRecord = { ...recorded, approval: requirement };
    try {
      await o.gate.check(ctx, decision);
    } finally {
      if (typeof decision.approvalId === 'string') {
        recorded.alertApproval = { id: decision.approvalId, outcome: typeof decision.approvalOutcome === 'string' ? decision.approvalOutcome : null, rule: requirement.ruleId };
      }
    }
  };
}

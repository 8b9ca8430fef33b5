import { Ajv } from 'ajv';
import { GatewayError } from '../core/errors.ts';
import type { PolicyRule } from '../policy/document.ts';
import type { PolicyEngine } from '../policy/engine.ts';
import type { DecisionRecord, ExchangeContext } from '../proxy/context.ts';
import type { ApprovalGate } from './gate.ts';
import { approvalRuleSchema, compileApprovalRule, type ApprovalRequirement, type ApprovalRuleSpec } from './rule.ts';

const validate = new Ajv({ useDefaults: true, allErrors: true, strict: false }).compile(approvalRuleSchema);

/** The requirement of every `require_approval` rule of a policy version, or the reason it has none. */
export function approvalRequirements(engine: { document: { rules: readonly Pick<PolicyRule, 'id' | 'effect' | 'approval'>[] } }): Map<string, ApprovalRequirement | string> {
  const out = new Map<string, ApprovalRequirement | string>();
  for (const rule of engine.document.rules) {
    if (rule.effect !== 'require_approval') continue;
    const spec: unknown = structuredClone(rule.approval);
    if (spec === undefined) out.set(rule.id, 'the rule has no `approval` options (approver_groups at least)');
    else if (!validate(spec)) out.set(rule.id, (validate.errors ?? []).map((e) => `approval${e.instancePath} ${e.message ?? 'is invalid'}`).join('; '));
    else out.set(rule.id, compileApprovalRule(rule.id, spec as ApprovalRuleSpec));
  }
  return out;
}

/**
 * The approvals step as a policy hook (src/governance/policy-decider.ts `PolicyHookFactory`): built once per
 * compiled version; per exchange, an enforced `require_approval` decision goes through the gate, which returns
 * once approved (the refusal is then lifted) or throws the caller's error. Observe mode never holds anyone.
 */
export function approvalPolicyHook(gate: ApprovalGate) {
  return (engine: Pick<PolicyEngine, 'document'>) => {
    const requirements = approvalRequirements(engine);
    if (requirements.size === 0) return undefined;
    return async (h: { ctx: ExchangeContext; decision: DecisionRecord & { error?: GatewayError } }): Promise<void> => {
      const { decision } = h;
      if (decision.effect !== 'require_approval' || !decision.enforced) return;
      // The first deciding approval rule (reasons are in rule order) sets the terms.
      const ruleId = decision.matchedRuleIds.find((id) => requirements.has(id));
      const req = ruleId === undefined ? undefined : requirements.get(ruleId);
      if (req === undefined || typeof req === 'string') {
        throw new GatewayError('evaluation_error', `Rule "${ruleId ?? '?'}" requires approval but its approval options are invalid; the request was refused.`);
      }
      decision.approval = req;
      await gate.check(h.ctx, decision);
      decision.error = undefined;
    };
  };
}
